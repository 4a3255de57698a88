"""Admission and conversion webhooks called by the API server (both servers call our HTTPS server).

The real kube-apiserver reaches the test's :class:`WebhookServer` at https://127.0.0.1:PORT, trusting
the generated CA through the configurations' caBundle. Configurations are cluster-wide, and the real
server is shared by the session, so each test's webhooks only match its own namespace (a label on
the namespace and a namespaceSelector) and are deleted afterwards. The real server picks new
configurations up asynchronously: :func:`installed` waits until a probe request reaches the webhook.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import aiohttp.web
import orjson
import pytest
import pytest_asyncio

from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.errors import ApiError, BadRequestError, ForbiddenError, InvalidError, NotFoundError
from pycontroller.webhook import (
    AdmissionRequest,
    AdmissionResponse,
    WebhookServer,
    allowed,
    conversion_stanza,
    denied,
    webhook_configurations,
)
from pycontroller.webhook.metrics import webhook_metrics

from ._support import CONFIGMAPS, NAMESPACES, configmap, crd_manifest, temporary_crd, unique, wait_for

ADMISSION = "/apis/admissionregistration.k8s.io/v1"
PLURALS = {
    "ValidatingWebhookConfiguration": "validatingwebhookconfigurations",
    "MutatingWebhookConfiguration": "mutatingwebhookconfigurations",
}


@pytest_asyncio.fixture
async def webhook_server() -> AsyncIterator[WebhookServer]:
    server = WebhookServer(host="127.0.0.1", port=0, self_signed=True)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest_asyncio.fixture
async def labelled(rest_client: RestClient, namespace: str) -> str:
    """The test namespace, labelled so that only this test's webhooks match it."""
    await rest_client.patch(NAMESPACES, namespace, {"metadata": {"labels": {"webhook-test": namespace}}})
    return namespace


@contextlib.asynccontextmanager
async def installed(
    client: RestClient,
    server: WebhookServer,
    namespace: str,
    probe: Callable[[], Awaitable[Any]],
    *,
    url: str | None = None,
    **options: Any,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Create the server's webhook configurations for ``namespace``; wait until ``probe`` reaches one."""
    name = unique("wh")
    configs = webhook_configurations(
        server,
        name=name,
        url=url or server.url,
        namespace_selector={"matchLabels": {"webhook-test": namespace}},
        **options,
    )
    paths = [reg.path for reg in server.registrations]
    for config in configs:
        await client.request("POST", f"{ADMISSION}/{PLURALS[config['kind']]}", body=config)
    try:
        if url is None:
            counts = {p: webhook_metrics(p)._count for p in paths}

            async def reached() -> bool:
                with contextlib.suppress(ApiError):
                    await probe()
                return any(webhook_metrics(p)._count > counts[p] for p in paths)

            await wait_for(reached, what="the webhook configuration to take effect")
        yield configs
    finally:
        for config in configs:
            with contextlib.suppress(NotFoundError):
                await client.request("DELETE", f"{ADMISSION}/{PLURALS[config['kind']]}/{name}")


def probe_configmap(client: RestClient, namespace: str) -> Callable[[], Awaitable[Any]]:
    async def probe() -> Any:
        return await client.request(
            "POST",
            CONFIGMAPS.path(namespace),
            query={"dryRun": "All"},
            body=configmap(unique("probe"), namespace),
        )

    return probe


async def create_with_headers(
    client: RestClient, gvr: GroupVersionResource, obj: dict[str, Any], namespace: str
) -> tuple[int, dict[str, Any], list[str]]:
    """POST ``obj`` and return (status, body, Warning headers)."""
    headers = await client.headers("application/json")
    async with client._http.post(
        client.url(gvr.path(namespace)),
        data=orjson.dumps(obj),
        **client._kwargs(headers, aiohttp.ClientTimeout(total=30)),
    ) as resp:
        body = orjson.loads(await resp.read())
        return resp.status, body, resp.headers.getall("Warning", [])


async def test_a_validating_webhook_denies_with_its_message_and_code_and_warns(
    rest_client: RestClient, labelled: str, webhook_server: WebhookServer
) -> None:
    ns = labelled

    def validate(request: AdmissionRequest) -> AdmissionResponse | None:
        data = (request.object or {}).get("data") or {}
        if "forbidden" in data:
            return denied("forbidden data", warnings=["denied: see the docs"])
        if "code" in data:
            return denied("unprocessable", code=int(data["code"]), reason="Invalid")
        if "nocode" in data:
            return AdmissionResponse(False, "no code given")
        if "warn" in data:
            return allowed(warnings=["careful: warn is deprecated", "second"])
        return None

    webhook_server.add_validator("v1", "ConfigMap", validate)
    async with installed(rest_client, webhook_server, ns, probe_configmap(rest_client, ns)):
        name = 'admission webhook "vconfigmap-v1.core.pycontroller.io" denied the request'
        with pytest.raises(ForbiddenError) as forbidden:
            await rest_client.create(CONFIGMAPS, configmap("a", ns, data={"forbidden": "1"}))
        assert forbidden.value.message == f"{name}: forbidden data"
        assert forbidden.value.body["code"] == 403
        with pytest.raises(InvalidError) as invalid:
            await rest_client.create(CONFIGMAPS, configmap("a", ns, data={"code": "422"}))
        assert invalid.value.message == f"{name}: unprocessable"
        assert invalid.value.reason == "Invalid"
        with pytest.raises(BadRequestError) as bad:
            await rest_client.create(CONFIGMAPS, configmap("a", ns, data={"nocode": "1"}))
        assert bad.value.message == f"{name}: no code given"
        with pytest.raises(NotFoundError):
            await rest_client.get(CONFIGMAPS, "a", ns)  # nothing was stored

        status, body, warnings = await create_with_headers(
            rest_client, CONFIGMAPS, configmap("b", ns, data={"warn": "1"}), ns
        )
        assert status == 201 and body["metadata"]["name"] == "b"
        assert warnings == ['299 - "careful: warn is deprecated"', '299 - "second"']
        status, body, warnings = await create_with_headers(
            rest_client, CONFIGMAPS, configmap("c", ns, data={"forbidden": "1"}), ns
        )
        assert status == 403 and warnings == ['299 - "denied: see the docs"']


async def test_a_mutating_webhook_patch_is_stored_and_validators_see_the_mutated_object(
    rest_client: RestClient, labelled: str, webhook_server: WebhookServer
) -> None:
    ns = labelled
    validated: list[tuple[str, dict[str, Any]]] = []

    def mutate(request: AdmissionRequest) -> dict[str, Any]:
        obj = request.object
        assert obj is not None
        obj["metadata"].setdefault("labels", {})["mutated-by"] = "webhook"
        obj.setdefault("data", {})["op"] = request.operation.lower()
        return obj

    def validate(request: AdmissionRequest) -> None:
        assert request.object is not None
        validated.append((request.operation, request.object))

    webhook_server.add_mutator("v1", "ConfigMap", mutate)
    webhook_server.add_validator("v1", "ConfigMap", validate)
    async with installed(rest_client, webhook_server, ns, probe_configmap(rest_client, ns)):
        validated.clear()
        created = await rest_client.create(CONFIGMAPS, configmap("m", ns, data={"a": "1"}))
        assert created["metadata"]["labels"] == {"mutated-by": "webhook"}
        assert created["data"] == {"a": "1", "op": "create"}
        stored = await rest_client.get(CONFIGMAPS, "m", ns)
        assert stored["data"] == {"a": "1", "op": "create"}
        op, seen = validated[-1]
        assert op == "CREATE" and seen["data"]["op"] == "create"
        assert seen["metadata"]["labels"] == {"mutated-by": "webhook"}
        updated = await rest_client.patch(CONFIGMAPS, "m", {"data": {"b": "2"}}, ns)
        assert updated["data"] == {"a": "1", "b": "2", "op": "update"}
        assert validated[-1][0] == "UPDATE" and validated[-1][1]["data"]["op"] == "update"


async def test_delete_is_reviewed_with_the_old_object_and_a_denial_keeps_it(
    rest_client: RestClient, labelled: str, webhook_server: WebhookServer
) -> None:
    ns = labelled
    seen: list[AdmissionRequest] = []

    def validate(request: AdmissionRequest) -> AdmissionResponse | None:
        seen.append(request)
        if request.operation == "DELETE" and (request.old_object or {}).get("data", {}).get("keep"):
            return denied("this one is kept")
        return None

    webhook_server.add_validator("v1", "ConfigMap", validate, operations=("CREATE", "DELETE"))
    async with installed(rest_client, webhook_server, ns, probe_configmap(rest_client, ns)):
        await rest_client.create(CONFIGMAPS, configmap("keep", ns, data={"keep": "yes"}))
        with pytest.raises(ForbiddenError, match="this one is kept"):
            await rest_client.delete(CONFIGMAPS, "keep", ns)
        assert (await rest_client.get(CONFIGMAPS, "keep", ns))["data"] == {"keep": "yes"}
        request = seen[-1]
        assert request.operation == "DELETE" and request.object is None
        assert request.name == "keep" and request.namespace == ns
        assert request.old_object is not None and request.old_object["metadata"]["name"] == "keep"
        await rest_client.create(CONFIGMAPS, configmap("go", ns))
        await rest_client.delete(CONFIGMAPS, "go", ns)
        with pytest.raises(NotFoundError):
            await rest_client.get(CONFIGMAPS, "go", ns)


async def test_an_unreachable_webhook_fails_the_request_or_is_ignored_by_failure_policy(
    rest_client: RestClient, labelled: str
) -> None:
    ns = labelled
    gone = WebhookServer(host="127.0.0.1", port=0, self_signed=True)
    gone.add_validator("v1", "ConfigMap", lambda r: None)
    await gone.start()
    url = gone.url
    await gone.stop()  # nothing listens there any more
    probe = probe_configmap(rest_client, ns)

    async with installed(rest_client, gone, ns, probe, url=url, failure_policy="Fail"):

        async def refused() -> bool:
            try:
                await probe()
            except ApiError as exc:
                return exc.status == 500
            return False

        await wait_for(refused, what="the failing webhook configuration to take effect")
        with pytest.raises(ApiError) as failed:
            await rest_client.create(CONFIGMAPS, configmap("x", ns))
        assert failed.value.status == 500 and failed.value.reason == "InternalError"
        assert 'failed calling webhook "vconfigmap-v1.core.pycontroller.io"' in failed.value.message
    async with installed(rest_client, gone, ns, probe, url=url, failure_policy="Ignore"):

        async def accepted() -> bool:
            try:
                await probe()
            except ApiError:
                return False
            return True

        await wait_for(accepted, what="the ignored webhook configuration to take effect")
        created = await rest_client.create(CONFIGMAPS, configmap("y", ns))
        assert created["metadata"]["name"] == "y"


async def test_a_webhook_slower_than_timeout_seconds_fails_or_is_ignored(
    rest_client: RestClient, labelled: str, webhook_server: WebhookServer
) -> None:
    ns = labelled
    release = asyncio.Event()

    async def slow(request: AdmissionRequest) -> None:
        if (request.object or {}).get("data", {}).get("slow"):
            await release.wait()

    webhook_server.add_validator("v1", "ConfigMap", slow)
    probe = probe_configmap(rest_client, ns)
    try:
        async with installed(rest_client, webhook_server, ns, probe, timeout_seconds=1):
            with pytest.raises(ApiError) as failed:
                await rest_client.create(CONFIGMAPS, configmap("s", ns, data={"slow": "1"}))
            assert failed.value.status == 500
            assert 'failed calling webhook "vconfigmap-v1.core.pycontroller.io"' in failed.value.message
        async with installed(
            rest_client, webhook_server, ns, probe, timeout_seconds=1, failure_policy="Ignore"
        ):
            created = await rest_client.create(CONFIGMAPS, configmap("t", ns, data={"slow": "1"}))
            assert created["metadata"]["name"] == "t"
    finally:
        release.set()


async def test_v1beta1_admission_reviews_are_sent_when_only_v1beta1_is_listed(
    rest_client: RestClient, labelled: str, webhook_server: WebhookServer
) -> None:
    ns = labelled
    versions: list[str] = []

    def validate(request: AdmissionRequest) -> None:
        versions.append(str(request.raw.get("_review_api_version", "")))

    class Recording:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def review(self, body: bytes) -> bytes:
            versions.append(orjson.loads(body)["apiVersion"])
            result: bytes = await self.inner.review(body)
            return result

    path = webhook_server.add_validator("v1", "ConfigMap", lambda r: None)
    route = webhook_server._routes[path]
    route.reviewer = Recording(route.reviewer)
    probe = probe_configmap(rest_client, ns)
    async with installed(rest_client, webhook_server, ns, probe, admission_review_versions=("v1beta1",)):
        versions.clear()
        await rest_client.create(CONFIGMAPS, configmap("b1", ns))
    assert versions == ["admission.k8s.io/v1beta1"]
    async with installed(rest_client, webhook_server, ns, probe, admission_review_versions=("v1", "v1beta1")):
        versions.clear()
        await rest_client.create(CONFIGMAPS, configmap("v1", ns))
    assert versions == ["admission.k8s.io/v1"]


# -- conversion ---------------------------------------------------------------------------------------


def to_hub(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.setdefault("spec", {})
    if spec.get("replicas") == 13:
        raise ValueError("13 replicas cannot be converted")
    spec["scale"] = {"replicas": spec.pop("replicas", 1)}
    return obj


def from_hub(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.setdefault("spec", {})
    spec["replicas"] = (spec.pop("scale", None) or {}).get("replicas", 1)
    return obj


@pytest.mark.parametrize("review_versions", [("v1", "v1beta1"), ("v1beta1",)])
async def test_a_crd_with_a_conversion_webhook_serves_each_version_converted_through_it(
    rest_client: RestClient, namespace: str, webhook_server: WebhookServer, review_versions: tuple[str, ...]
) -> None:
    group = f"{unique('conv')}.example.com"
    webhook_server.add_conversion(group, "Foo", "v1", {"v1alpha1": (to_hub, from_hub)})
    seen: list[str] = []
    route = webhook_server._routes["/convert"]
    inner = route.reviewer

    class Recording:
        async def review(self, body: bytes) -> bytes:
            seen.append(orjson.loads(body)["apiVersion"])
            result: bytes = await inner.review(body)
            return result

    route.reviewer = Recording()
    manifest = crd_manifest(group, "Foo", versions=("v1", "v1alpha1"))
    manifest["spec"]["conversion"] = conversion_stanza(
        url=webhook_server.url, ca_bundle=webhook_server.ca_bundle, conversion_review_versions=review_versions
    )
    async with temporary_crd(rest_client, manifest):
        v1 = GroupVersionResource(group, "v1", "foos")
        alpha = GroupVersionResource(group, "v1alpha1", "foos")
        body = {
            "apiVersion": f"{group}/v1alpha1",
            "kind": "Foo",
            "metadata": {"name": "f"},
            "spec": {"replicas": 3},
        }
        created = await rest_client.create(alpha, body, ns := namespace)
        assert created["apiVersion"] == f"{group}/v1alpha1" and created["spec"] == {"replicas": 3}
        stored = await rest_client.get(v1, "f", ns)
        assert stored["apiVersion"] == f"{group}/v1" and stored["spec"] == {"scale": {"replicas": 3}}
        listing = await rest_client.list(alpha, ns)
        assert [i["spec"] for i in listing["items"]] == [{"replicas": 3}]
        assert set(seen) == {f"apiextensions.k8s.io/{review_versions[0]}"}
        patched = await rest_client.patch(alpha, "f", {"spec": {"replicas": 5}}, ns)
        assert patched["spec"] == {"replicas": 5}
        assert (await rest_client.get(v1, "f", ns))["spec"] == {"scale": {"replicas": 5}}

        with pytest.raises(ApiError) as failed:
            await rest_client.create(alpha, {**body, "metadata": {"name": "g"}, "spec": {"replicas": 13}}, ns)
        assert failed.value.status == 500
        assert "13 replicas cannot be converted" in failed.value.message
        with pytest.raises(NotFoundError):
            await rest_client.get(v1, "g", ns)


async def test_watches_and_lists_at_another_version_are_converted_by_the_webhook(
    rest_client: RestClient, namespace: str, webhook_server: WebhookServer
) -> None:
    from ._support import Watch

    group = f"{unique('convw')}.example.com"
    webhook_server.add_conversion(group, "Foo", "v1", {"v1alpha1": (to_hub, from_hub)})
    manifest = crd_manifest(group, "Foo", versions=("v1", "v1alpha1"))
    manifest["spec"]["conversion"] = conversion_stanza(
        url=webhook_server.url, ca_bundle=webhook_server.ca_bundle
    )
    async with temporary_crd(rest_client, manifest):
        v1 = GroupVersionResource(group, "v1", "foos")
        alpha = GroupVersionResource(group, "v1alpha1", "foos")
        first = {
            "apiVersion": f"{group}/v1",
            "kind": "Foo",
            "metadata": {"name": "a"},
            "spec": {"scale": {"replicas": 2}},
        }
        created = await rest_client.create(v1, first, namespace)
        async with Watch(
            rest_client, alpha.path(namespace), resourceVersion=created["metadata"]["resourceVersion"]
        ) as watch:
            await rest_client.patch(v1, "a", {"spec": {"scale": {"replicas": 7}}}, namespace)
            event = await watch.next()
            assert event["type"] == "MODIFIED"
            assert event["object"]["apiVersion"] == f"{group}/v1alpha1"
            assert event["object"]["spec"] == {"replicas": 7}
        listing = await rest_client.list(alpha, namespace)
        assert [(i["apiVersion"], i["spec"]) for i in listing["items"]] == [
            (f"{group}/v1alpha1", {"replicas": 7})
        ]


async def test_an_object_selector_limits_which_objects_are_sent(
    rest_client: RestClient, labelled: str, webhook_server: WebhookServer
) -> None:
    ns = labelled
    names: list[str] = []

    def validate(request: AdmissionRequest) -> None:
        names.append(request.name)

    webhook_server.add_validator("v1", "ConfigMap", validate)

    async def probe() -> Any:
        cm = configmap(unique("probe"), ns, labels={"checked": "yes"})
        return await rest_client.request("POST", CONFIGMAPS.path(ns), query={"dryRun": "All"}, body=cm)

    name = unique("wh")
    (config,) = webhook_configurations(
        webhook_server,
        name=name,
        url=webhook_server.url,
        namespace_selector={"matchLabels": {"webhook-test": ns}},
    )
    config["webhooks"][0]["objectSelector"] = {"matchLabels": {"checked": "yes"}}
    await rest_client.request("POST", f"{ADMISSION}/validatingwebhookconfigurations", body=config)
    try:
        await wait_for(lambda: _probe_reached(probe, names), what="the configuration to take effect")
        names.clear()
        await rest_client.create(CONFIGMAPS, configmap("unchecked", ns))
        await rest_client.create(CONFIGMAPS, configmap("checked", ns, labels={"checked": "yes"}))
        assert names == ["checked"]
    finally:
        await rest_client.request("DELETE", f"{ADMISSION}/validatingwebhookconfigurations/{name}")


async def _probe_reached(probe: Callable[[], Awaitable[Any]], seen: list[Any]) -> bool:
    before = len(seen)
    await probe()
    return len(seen) > before


@pytest.mark.fake_only(
    reason="the fake maps service references to local URLs; the real server dials the Service"
)
async def test_a_service_reference_is_called_through_the_mapped_local_url(
    rest_client: RestClient, api_server: Any, labelled: str, webhook_server: WebhookServer
) -> None:
    ns = labelled
    webhook_server.add_validator("v1", "ConfigMap", lambda r: denied("through the service"))
    api_server.webhook_services[("webhooks", "foo-webhook")] = webhook_server.url
    configs = webhook_configurations(
        webhook_server,
        name=unique("wh"),
        service=("webhooks", "foo-webhook"),
        namespace_selector={"matchLabels": {"webhook-test": ns}},
    )
    await rest_client.request("POST", f"{ADMISSION}/validatingwebhookconfigurations", body=configs[0])
    with pytest.raises(ForbiddenError, match="through the service"):
        await rest_client.create(CONFIGMAPS, configmap("x", ns))
    del api_server.webhook_services[("webhooks", "foo-webhook")]
    with pytest.raises(ApiError, match="is not mapped to a local URL") as failed:
        await rest_client.create(CONFIGMAPS, configmap("x", ns))
    assert failed.value.status == 500


async def test_a_webhook_answering_another_uid_fails_the_request(
    rest_client: RestClient, labelled: str, webhook_server: WebhookServer
) -> None:
    ns = labelled
    path = webhook_server.add_validator("v1", "ConfigMap", lambda r: None)
    route = webhook_server._routes[path]
    honest = route.reviewer
    lying = {"on": False}

    class WrongUid:
        async def review(self, body: bytes) -> bytes:
            answer: bytes = await honest.review(body)
            if not lying["on"]:
                return answer
            review = orjson.loads(answer)
            review["response"]["uid"] = "not-the-request-uid"
            return orjson.dumps(review)

    route.reviewer = WrongUid()
    async with installed(rest_client, webhook_server, ns, probe_configmap(rest_client, ns)):
        lying["on"] = True
        with pytest.raises(ApiError) as failed:
            await rest_client.create(CONFIGMAPS, configmap("u", ns))
        assert failed.value.status == 500
        assert 'failed calling webhook "vconfigmap-v1.core.pycontroller.io"' in failed.value.message
        with pytest.raises(NotFoundError):
            await rest_client.get(CONFIGMAPS, "u", ns)


async def test_dry_run_writes_are_reviewed_as_dry_run_and_replace_is_mutated(
    rest_client: RestClient, labelled: str, webhook_server: WebhookServer
) -> None:
    ns = labelled
    seen: list[AdmissionRequest] = []

    def mutate(request: AdmissionRequest) -> dict[str, Any]:
        seen.append(request)
        obj = request.object
        assert obj is not None
        obj.setdefault("data", {})["stamp"] = request.operation.lower()
        return obj

    webhook_server.add_mutator("v1", "ConfigMap", mutate)
    async with installed(rest_client, webhook_server, ns, probe_configmap(rest_client, ns)):
        answer = await rest_client.request(
            "POST", CONFIGMAPS.path(ns), query={"dryRun": "All"}, body=configmap("d", ns)
        )
        assert answer["data"] == {"stamp": "create"} and seen[-1].dry_run is True
        with pytest.raises(NotFoundError):
            await rest_client.get(CONFIGMAPS, "d", ns)
        created = await rest_client.create(CONFIGMAPS, configmap("d", ns))
        assert seen[-1].dry_run is False
        replaced = await rest_client.replace(CONFIGMAPS, {**created, "data": {"k": "v"}})
        assert replaced["data"] == {"k": "v", "stamp": "update"}
        assert seen[-1].old_object is not None and seen[-1].old_object["data"] == {"stamp": "create"}


async def test_generate_name_is_stored_under_the_name_validating_webhooks_saw(
    rest_client: RestClient, labelled: str, webhook_server: WebhookServer
) -> None:
    ns = labelled
    names: list[str] = []

    def validate(request: AdmissionRequest) -> None:
        assert request.object is not None
        names.append(request.object["metadata"]["name"])

    webhook_server.add_validator("v1", "ConfigMap", validate)
    async with installed(rest_client, webhook_server, ns, probe_configmap(rest_client, ns)):
        names.clear()
        body = configmap("", ns)
        body["metadata"] = {"generateName": "gen-", "namespace": ns}
        created = await rest_client.create(CONFIGMAPS, body)
    assert created["metadata"]["name"].startswith("gen-")
    assert names == [created["metadata"]["name"]]


async def test_delete_collection_validates_each_object_in_order_and_stops_at_a_denial(
    rest_client: RestClient, labelled: str, webhook_server: WebhookServer
) -> None:
    ns = labelled
    deleting: list[str] = []

    def validate(request: AdmissionRequest) -> AdmissionResponse | None:
        if request.operation != "DELETE":
            return None
        assert request.name == ""  # each object is reviewed with the collection's (empty) name
        old = request.old_object or {}
        deleting.append(old["metadata"]["name"])
        if (old.get("data") or {}).get("keep"):
            return denied(f"{old['metadata']['name']} is kept")
        return None

    webhook_server.add_validator("v1", "ConfigMap", validate, operations=("CREATE", "DELETE"))
    async with installed(rest_client, webhook_server, ns, probe_configmap(rest_client, ns)):
        for name, data in (("a", {"keep": "1"}), ("b", {}), ("c", {})):
            await rest_client.create(CONFIGMAPS, configmap(name, ns, labels={"batch": "1"}, data=data))
        deleting.clear()
        with pytest.raises(ForbiddenError, match="a is kept"):
            await rest_client.request("DELETE", CONFIGMAPS.path(ns), query={"labelSelector": "batch=1"})
        # one deletion worker: objects go in key order and the first denial ends the request
        assert deleting == ["a"]
        left = await rest_client.list(CONFIGMAPS, ns, labelSelector="batch=1")
        assert [i["metadata"]["name"] for i in left["items"]] == ["a", "b", "c"]
        await rest_client.patch(CONFIGMAPS, "a", {"data": None}, ns)
        deleting.clear()
        await rest_client.request("DELETE", CONFIGMAPS.path(ns), query={"labelSelector": "batch=1"})
        assert deleting == ["a", "b", "c"]
        assert (await rest_client.list(CONFIGMAPS, ns, labelSelector="batch=1"))["items"] == []


async def test_the_review_names_kind_resource_options_and_the_request_version(
    rest_client: RestClient, labelled: str, webhook_server: WebhookServer
) -> None:
    ns = labelled
    seen: list[AdmissionRequest] = []
    webhook_server.add_validator("v1", "ConfigMap", seen.append, operations=("CREATE", "UPDATE", "DELETE"))
    async with installed(rest_client, webhook_server, ns, probe_configmap(rest_client, ns)):
        seen.clear()
        created = await rest_client.create(CONFIGMAPS, configmap("r", ns))
        await rest_client.replace(CONFIGMAPS, {**created, "data": {"a": "b"}})
        await rest_client.delete(CONFIGMAPS, "r", ns)
    create, update, delete = (r.raw for r in seen)
    for raw in (create, update, delete):
        assert raw["kind"] == raw["requestKind"] == {"group": "", "version": "v1", "kind": "ConfigMap"}
        assert (
            raw["resource"]
            == raw["requestResource"]
            == {"group": "", "version": "v1", "resource": "configmaps"}
        )
        assert raw["namespace"] == ns and raw["name"] == "r" and raw["dryRun"] is False
        assert "subResource" not in raw
    assert [r["operation"] for r in (create, update, delete)] == ["CREATE", "UPDATE", "DELETE"]
    assert [r["options"]["kind"] for r in (create, update, delete)] == [
        "CreateOptions",
        "UpdateOptions",
        "DeleteOptions",
    ]
    assert all(r["options"]["apiVersion"] == "meta.k8s.io/v1" for r in (create, update, delete))
    assert create.get("oldObject") is None
    assert (update["oldObject"].get("data") or {}) == {} and update["object"]["data"] == {"a": "b"}
    assert delete.get("object") is None and delete["oldObject"]["metadata"]["name"] == "r"


@pytest.mark.parametrize("match_policy", ["Equivalent", "Exact"])
async def test_match_policy_decides_whether_another_version_of_the_resource_is_reviewed(
    rest_client: RestClient, labelled: str, webhook_server: WebhookServer, match_policy: str
) -> None:
    ns = labelled
    group = f"{unique('mp')}.example.com"
    seen: list[AdmissionRequest] = []
    webhook_server.add_validator(f"{group}/v1", "Widget", seen.append)

    def widget(version: str, name: str) -> dict[str, Any]:
        return {
            "apiVersion": f"{group}/{version}",
            "kind": "Widget",
            "metadata": {"name": name},
            "spec": {"n": 1},
        }

    v1 = GroupVersionResource(group, "v1", "widgets")
    v2 = GroupVersionResource(group, "v2", "widgets")

    async def probe() -> Any:
        body = widget("v1", unique("probe"))
        return await rest_client.request("POST", v1.path(ns), query={"dryRun": "All"}, body=body)

    async with temporary_crd(rest_client, crd_manifest(group, "Widget", versions=("v1", "v2"))):
        configs = webhook_configurations(
            webhook_server,
            name=unique("wh"),
            url=webhook_server.url,
            namespace_selector={"matchLabels": {"webhook-test": ns}},
        )
        configs[0]["webhooks"][0]["matchPolicy"] = match_policy
        await rest_client.request("POST", f"{ADMISSION}/validatingwebhookconfigurations", body=configs[0])
        try:
            await wait_for(lambda: _probe_reached(probe, seen), what="the configuration to take effect")
            seen.clear()
            await rest_client.create(v2, widget("v2", "w"), ns)
        finally:
            await rest_client.request(
                "DELETE", f"{ADMISSION}/validatingwebhookconfigurations/{configs[0]['metadata']['name']}"
            )
    if match_policy == "Exact":
        assert seen == []
        return
    (request,) = seen
    assert request.kind == {"group": group, "version": "v1", "kind": "Widget"}
    assert request.raw["requestKind"] == {"group": group, "version": "v2", "kind": "Widget"}
    assert request.object is not None and request.object["apiVersion"] == f"{group}/v1"


async def test_admission_calls_carry_the_timeout_in_the_url(rest_client: RestClient, labelled: str) -> None:
    ns = labelled
    server = WebhookServer(host="127.0.0.1", port=0, self_signed=True)
    server.add_validator("v1", "ConfigMap", lambda r: None)
    timeouts: list[str | None] = []
    handle = server._handle

    async def spy(request: aiohttp.web.Request) -> aiohttp.web.Response:
        timeouts.append(request.query.get("timeout"))
        return await handle(request)

    server._handle = spy  # type: ignore[method-assign]
    await server.start()
    try:
        async with installed(rest_client, server, ns, probe_configmap(rest_client, ns), timeout_seconds=7):
            timeouts.clear()
            await rest_client.create(CONFIGMAPS, configmap("t", ns))
    finally:
        await server.stop()
    assert timeouts == ["7s"]


async def test_reads_at_another_version_fail_while_the_conversion_webhook_is_down(
    rest_client: RestClient, namespace: str
) -> None:
    server = WebhookServer(host="127.0.0.1", port=0, self_signed=True)
    group = f"{unique('down')}.example.com"
    server.add_conversion(group, "Foo", "v1", {"v1alpha1": (to_hub, from_hub)})
    await server.start()
    manifest = crd_manifest(group, "Foo", versions=("v1", "v1alpha1"))
    manifest["spec"]["conversion"] = conversion_stanza(url=server.url, ca_bundle=server.ca_bundle)
    try:
        async with temporary_crd(rest_client, manifest):
            v1 = GroupVersionResource(group, "v1", "foos")
            alpha = GroupVersionResource(group, "v1alpha1", "foos")
            body = {
                "apiVersion": f"{group}/v1",
                "kind": "Foo",
                "metadata": {"name": "f"},
                "spec": {"scale": {"replicas": 2}},
            }
            await rest_client.create(v1, body, namespace)
            assert (await rest_client.get(alpha, "f", namespace))["spec"] == {"replicas": 2}
            await server.stop()
            with pytest.raises(ApiError) as failed:
                await rest_client.get(alpha, "f", namespace)
            assert failed.value.status == 500
            assert failed.value.message.startswith(
                f"conversion webhook for {group}/v1, Kind=Foo failed: Post "
            )
            with pytest.raises(ApiError):
                await rest_client.list(alpha, namespace)
            assert (await rest_client.get(v1, "f", namespace))["spec"] == {"scale": {"replicas": 2}}
    finally:
        await server.stop()
