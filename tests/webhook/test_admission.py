"""Validators and mutators behind the HTTPS server: verdicts, warnings, JSONPatch, exceptions, metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import generate_latest

from pycontroller.metrics import registry
from pycontroller.webhook import AdmissionRequest, WebhookServer, allowed, denied, patched
from pycontroller.webhook.jsonpatch import apply

from .helpers import admission_review, patch_of, post, serving

CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "default"}}


async def test_a_validator_sees_the_request_and_its_verdict_comes_back_with_the_uid() -> None:
    seen: list[AdmissionRequest] = []

    def validate(request: AdmissionRequest) -> Any:
        seen.append(request)
        if (request.object or {}).get("data", {}).get("bad"):
            return denied("bad is not allowed", warnings=["think twice"])
        return allowed(warnings=["fine, but deprecated"])

    server = WebhookServer(host="127.0.0.1", port=0, self_signed=True)
    path = server.add_validator("v1", "ConfigMap", validate)
    assert path == "/validate--v1-configmap"
    async with serving(server):
        review = admission_review("UPDATE", {**CM, "data": {"bad": "1"}}, CM, uid="u-1")
        status, body = await post(server, path, review)
        assert status == 200
        assert body["apiVersion"] == "admission.k8s.io/v1" and body["kind"] == "AdmissionReview"
        assert body["response"] == {
            "uid": "u-1",
            "allowed": False,
            "status": {"code": 403, "message": "bad is not allowed", "reason": "Forbidden"},
            "warnings": ["think twice"],
        }
        status, body = await post(server, path, admission_review("CREATE", CM))
        assert body["response"]["allowed"] is True
        assert body["response"]["warnings"] == ["fine, but deprecated"]
    first = seen[0]
    assert (first.uid, first.operation, first.namespace, first.name) == ("u-1", "UPDATE", "default", "cm")
    assert first.old_object == CM and first.kind["kind"] == "ConfigMap"
    assert first.resource["resource"] == "configmaps" and first.user_info["username"] == "alice"
    assert first.dry_run is False and first.sub_resource == ""


async def test_async_validators_and_bare_booleans_are_verdicts() -> None:
    async def validate(request: AdmissionRequest) -> bool:
        await asyncio.sleep(0)
        return request.operation != "DELETE"

    server = WebhookServer(host="127.0.0.1", port=0, self_signed=True)
    path = server.add_validator("v1", "ConfigMap", validate, operations=("CREATE", "DELETE"))
    async with serving(server):
        assert (await post(server, path, admission_review("CREATE", CM)))[1]["response"]["allowed"]
        _, body = await post(server, path, admission_review("DELETE", None, CM))
        assert body["response"]["allowed"] is False and body["response"]["status"]["code"] == 403


async def test_a_mutator_returning_the_modified_object_answers_the_rfc6902_patch() -> None:
    def add_label(request: AdmissionRequest) -> dict[str, Any]:
        obj = request.object
        assert obj is not None
        obj["metadata"].setdefault("labels", {})["team"] = "a/b"
        obj["data"] = {"k": "v"}
        return obj

    server = WebhookServer(host="127.0.0.1", port=0, self_signed=True)
    path = server.add_mutator("v1", "ConfigMap", add_label)
    assert path == "/mutate--v1-configmap"
    async with serving(server):
        _, body = await post(server, path, admission_review("CREATE", CM))
    response = body["response"]
    assert response["allowed"] is True
    assert apply(CM, patch_of(response)) == {
        **CM,
        "metadata": {**CM["metadata"], "labels": {"team": "a/b"}},
        "data": {"k": "v"},
    }


async def test_a_mutator_changing_the_object_in_place_or_via_patched_gets_a_patch_and_no_change_none() -> (
    None
):
    calls = {"n": 0}

    def mutate(request: AdmissionRequest) -> Any:
        calls["n"] += 1
        assert request.object is not None
        if calls["n"] == 1:
            request.object["data"] = {"x": "1"}  # in place, returns None
            return None
        if calls["n"] == 2:
            return patched({**request.object, "data": {"y": "2"}}, warnings=["defaulted y"])
        return None  # unchanged

    server = WebhookServer(host="127.0.0.1", port=0, self_signed=True)
    path = server.add_mutator("v1", "ConfigMap", mutate)
    async with serving(server):
        r1 = (await post(server, path, admission_review("CREATE", CM)))[1]["response"]
        r2 = (await post(server, path, admission_review("CREATE", CM)))[1]["response"]
        r3 = (await post(server, path, admission_review("CREATE", CM)))[1]["response"]
    assert apply(CM, patch_of(r1))["data"] == {"x": "1"}
    assert apply(CM, patch_of(r2))["data"] == {"y": "2"} and r2["warnings"] == ["defaulted y"]
    assert r3["allowed"] is True and "patch" not in r3


async def test_an_exception_denies_with_code_500_and_its_message() -> None:
    def broken(request: AdmissionRequest) -> None:
        raise RuntimeError("database unreachable")

    server = WebhookServer(host="127.0.0.1", port=0, self_signed=True)
    path = server.add_validator("v1", "ConfigMap", broken)
    bad_return = server.add_validator("v1", "Secret", lambda r: 42)  # type: ignore[arg-type,return-value]
    async with serving(server):
        status, body = await post(server, path, admission_review("CREATE", CM))
        assert status == 200
        assert body["response"]["allowed"] is False
        assert body["response"]["status"]["code"] == 500
        assert body["response"]["status"]["message"] == "database unreachable"
        _, body = await post(server, bad_return, admission_review("CREATE", CM))
        assert body["response"]["status"]["code"] == 500
        assert "must return None, a bool, an AdmissionResponse" in body["response"]["status"]["message"]


async def test_a_v1beta1_review_is_answered_as_v1beta1() -> None:
    server = WebhookServer(host="127.0.0.1", port=0, self_signed=True)
    path = server.add_validator("v1", "ConfigMap", lambda r: None)
    async with serving(server):
        review = admission_review("CREATE", CM, api_version="admission.k8s.io/v1beta1", uid="b1")
        _, body = await post(server, path, review)
    assert body["apiVersion"] == "admission.k8s.io/v1beta1"
    assert body["response"]["uid"] == "b1" and body["response"]["allowed"] is True


async def test_requests_latency_and_in_flight_use_controller_runtime_metric_names() -> None:
    gate = asyncio.Event()
    entered = asyncio.Event()

    async def slow(request: AdmissionRequest) -> None:
        entered.set()
        await gate.wait()

    server = WebhookServer(host="127.0.0.1", port=0, self_signed=True)
    path = server.add_validator("metrics.example.com/v1", "Gauge", slow)
    async with serving(server):
        call = asyncio.create_task(post(server, path, admission_review("CREATE", CM)))
        await asyncio.wait_for(entered.wait(), 10)
        text = generate_latest(registry).decode()
        assert f'controller_runtime_webhook_requests_in_flight{{webhook="{path}"}} 1.0' in text
        gate.set()
        await call
        await post(server, path, b"not json")
        text = generate_latest(registry).decode()
    assert f'controller_runtime_webhook_requests_total{{code="200",webhook="{path}"}} 1.0' in text
    assert f'controller_runtime_webhook_requests_total{{code="400",webhook="{path}"}} 1.0' in text
    assert f'controller_runtime_webhook_latency_seconds_count{{webhook="{path}"}} 2.0' in text
    assert f'controller_runtime_webhook_requests_in_flight{{webhook="{path}"}} 0.0' in text
