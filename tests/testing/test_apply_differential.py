"""Random sequences of applies, patches and updates give the same objects and managedFields on both servers.

Each case replays one seeded sequence of writes by several managers (applies with and without force,
merge patches, full updates) against the fake and the real kube-apiserver, and compares every
answer: the status code and message of refusals, the object's data and labels, and its
managedFields (without their times). Needs ``KUBEBUILDER_ASSETS``.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

import orjson
import pytest

from pycontroller.client import RestClient
from pycontroller.errors import ApiError
from tests.conformance._support import create_crd, delete_crd
from tests.conformance.test_managed_fields import widget_crd

pytestmark = pytest.mark.asyncio

KEYS = ("x", "y", "z")
VALUES = ("1", "2")


def _operations(seed: int) -> list[tuple[str, str, dict[str, Any], bool]]:
    rng = random.Random(seed)
    ops: list[tuple[str, str, dict[str, Any], bool]] = []
    for _ in range(12):
        kind = rng.choice(["apply", "apply", "apply", "patch", "update"])
        manager = rng.choice(["alpha", "beta"]) if kind == "apply" else rng.choice(["editor", "other"])
        data = {k: rng.choice(VALUES) for k in KEYS if rng.random() < 0.5}
        labels = {k: rng.choice(VALUES) for k in ("l1", "l2") if rng.random() < 0.3}
        ops.append((kind, manager, {"data": data, "labels": labels}, rng.random() < 0.3))
    return ops


def _error(exc: ApiError) -> tuple[Any, ...]:
    """What a failed step is compared by: status, message and the causes, sorted (with conflicts
    from several managers the real server lists causes in Go map order)."""
    causes = sorted(orjson.dumps(c) for c in (exc.body.get("details") or {}).get("causes", []))
    message = exc.body.get("message")
    if causes and isinstance(message, str) and " is invalid: " in message:
        # The real server lists several errors of one 422 in an order that varies between runs;
        # the sorted causes compare every error, so keep only the message's head.
        message = message.split(" is invalid: ", 1)[0] + " is invalid: <causes>"
    return ("error", exc.status, message, causes)


async def _replay(client: RestClient, namespace: str, seed: int) -> list[Any]:
    path = f"/api/v1/namespaces/{namespace}/configmaps/c"
    seen: list[Any] = []
    for kind, manager, change, force in _operations(seed):
        try:
            if kind == "apply":
                body = {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "c"},
                    "data": change["data"],
                }
                if change["labels"]:
                    body["metadata"]["labels"] = change["labels"]
                query = {"fieldManager": manager, **({"force": "true"} if force else {})}
                await client.request(
                    "PATCH",
                    path,
                    body=orjson.dumps(body),
                    content_type="application/apply-patch+yaml",
                    query=query,
                )
            elif kind == "patch":
                patch = {"data": change["data"]}
                await client.request(
                    "PATCH",
                    path,
                    body=patch,
                    content_type="application/merge-patch+json",
                    query={"fieldManager": manager},
                )
            else:
                current = await client.request("GET", path)
                current["data"] = {**(current.get("data") or {}), **change["data"]}
                current["metadata"].pop("managedFields", None)
                await client.request("PUT", path, body=current, query={"fieldManager": manager})
            obj = await client.request("GET", path)
            # entries are ordered by their time (seconds): compare them by manager and operation
            entries = sorted(
                obj["metadata"].get("managedFields", []), key=lambda e: (e["manager"], e["operation"])
            )
            fields = [{k: v for k, v in e.items() if k != "time"} for e in entries]
            seen.append(("ok", obj.get("data"), obj["metadata"].get("labels"), fields))
        except ApiError as exc:
            seen.append(_error(exc))
    return seen


@pytest.mark.parametrize("seed", range(12))
async def test_both_servers_agree(fake_api_server: Any, envtest_server: Any, seed: int) -> None:
    results = []
    for server in (fake_api_server, envtest_server):
        client = RestClient(server.new_client(), owns_api_client=True)
        namespace = f"diff-{uuid.uuid4().hex[:10]}"
        try:
            await client.request("POST", "/api/v1/namespaces", body={"metadata": {"name": namespace}})
            results.append(await _replay(client, namespace, seed))
        finally:
            await client.close()
    fake, real = results
    for step, (mine, theirs) in enumerate(zip(fake, real, strict=True)):
        assert mine == theirs, f"step {step} of {_operations(seed)}"


def _deployment_operations(seed: int) -> list[tuple[str, str, dict[str, Any], bool]]:
    rng = random.Random(1000 + seed)
    ops: list[tuple[str, str, dict[str, Any], bool]] = []
    for _ in range(8):
        kind = rng.choice(["apply", "apply", "apply", "patch", "status"])
        manager = rng.choice(["alpha", "beta"]) if kind == "apply" else rng.choice(["editor", "other"])
        containers = []
        for name in ("web", "side"):
            if rng.random() < 0.6:
                container: dict[str, Any] = {"name": name}
                if rng.random() < 0.7:
                    container["image"] = rng.choice(["nginx:1", "nginx:2"])
                if rng.random() < 0.4:
                    container["env"] = [
                        {"name": e, "value": rng.choice(VALUES)} for e in ("A", "B") if rng.random() < 0.6
                    ]
                if rng.random() < 0.3:
                    container["ports"] = [{"containerPort": rng.choice([80, 443])}]
                containers.append(container)
        spec: dict[str, Any] = {}
        if rng.random() < 0.5:
            spec["replicas"] = rng.choice([1, 2, 3])
        if containers:
            spec["template"] = {"spec": {"containers": containers}}
        ops.append((kind, manager, spec, rng.random() < 0.3))
    return ops


async def _replay_deployment(client: RestClient, namespace: str, seed: int) -> list[Any]:
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/d"
    labels = {"app": "d"}
    base = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": "nginx:1"}]},
            },
        },
    }
    await client.request(
        "PATCH",
        path,
        body=orjson.dumps(base),
        content_type="application/apply-patch+yaml",
        query={"fieldManager": "base"},
    )
    seen: list[Any] = []
    for kind, manager, spec, force in _deployment_operations(seed):
        try:
            if kind == "apply":
                body = {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": "d"},
                    "spec": spec,
                }
                query = {"fieldManager": manager, **({"force": "true"} if force else {})}
                await client.request(
                    "PATCH",
                    path,
                    body=orjson.dumps(body),
                    content_type="application/apply-patch+yaml",
                    query=query,
                )
            elif kind == "patch":
                await client.request(
                    "PATCH",
                    path,
                    body={"spec": spec},
                    content_type="application/strategic-merge-patch+json",
                    query={"fieldManager": manager},
                )
            else:
                current = await client.request("GET", path)
                current["status"] = {"replicas": spec.get("replicas", 1), "observedGeneration": 1}
                await client.request("PUT", path + "/status", body=current, query={"fieldManager": manager})
            obj = await client.request("GET", path)
            entries = sorted(
                obj["metadata"].get("managedFields", []), key=lambda e: (e["manager"], e["operation"])
            )
            fields = [{k: v for k, v in e.items() if k != "time"} for e in entries]
            seen.append(("ok", obj["spec"], obj.get("status"), fields))
        except ApiError as exc:
            seen.append(_error(exc))
    return seen


@pytest.mark.parametrize("seed", range(12))
async def test_both_servers_agree_on_deployments(
    fake_api_server: Any, envtest_server: Any, seed: int
) -> None:
    results = []
    for server in (fake_api_server, envtest_server):
        client = RestClient(server.new_client(), owns_api_client=True)
        namespace = f"diff-{uuid.uuid4().hex[:10]}"
        try:
            await client.request("POST", "/api/v1/namespaces", body={"metadata": {"name": namespace}})
            results.append(await _replay_deployment(client, namespace, seed))
        finally:
            await client.close()
    fake, real = results
    for step, (mine, theirs) in enumerate(zip(fake, real, strict=True)):
        assert mine == theirs, f"step {step} of {_deployment_operations(seed)}"


def _widget_operations(seed: int) -> list[tuple[str, str, dict[str, Any], bool]]:
    rng = random.Random(2000 + seed)
    ops: list[tuple[str, str, dict[str, Any], bool]] = []
    for _ in range(8):
        kind = rng.choice(["apply", "apply", "apply", "patch", "status"])
        manager = rng.choice(["alpha", "beta"]) if kind == "apply" else rng.choice(["editor", "other"])
        spec: dict[str, Any] = {}
        if rng.random() < 0.5:
            spec["image"] = rng.choice(["a", "b"])
        if rng.random() < 0.5:
            spec["ports"] = [
                {"name": n, "port": rng.choice([80, 81])} for n in ("http", "grpc") if rng.random() < 0.6
            ]
        if rng.random() < 0.4:
            spec["tags"] = [t for t in ("t1", "t2", "t3") if rng.random() < 0.5]
        if rng.random() < 0.3:
            spec["args"] = [rng.choice(["--a", "--b"])]
        if rng.random() < 0.4:
            spec["config"] = {k: rng.choice(VALUES) for k in ("k1", "k2") if rng.random() < 0.6}
        ops.append((kind, manager, spec, rng.random() < 0.3))
    return ops


async def _replay_widget(client: RestClient, namespace: str, group: str, seed: int) -> list[Any]:
    path = f"/apis/{group}/v1/namespaces/{namespace}/widgets/w"
    seen: list[Any] = []
    for kind, manager, spec, force in _widget_operations(seed):
        try:
            if kind == "apply":
                body = {
                    "apiVersion": f"{group}/v1",
                    "kind": "Widget",
                    "metadata": {"name": "w"},
                    "spec": spec,
                }
                query = {"fieldManager": manager, **({"force": "true"} if force else {})}
                await client.request(
                    "PATCH",
                    path,
                    body=orjson.dumps(body),
                    content_type="application/apply-patch+yaml",
                    query=query,
                )
            elif kind == "patch":
                await client.request(
                    "PATCH",
                    path,
                    body={"spec": spec},
                    content_type="application/merge-patch+json",
                    query={"fieldManager": manager},
                )
            else:
                current = await client.request("GET", path)
                current["status"] = {"ready": bool(spec)}
                await client.request("PUT", path + "/status", body=current, query={"fieldManager": manager})
            obj = await client.request("GET", path)
            entries = sorted(
                obj["metadata"].get("managedFields", []), key=lambda e: (e["manager"], e["operation"])
            )
            fields = [{k: v for k, v in e.items() if k not in ("time", "apiVersion")} for e in entries]
            seen.append(("ok", obj.get("spec"), obj.get("status"), fields))
        except ApiError as exc:
            seen.append(_error(exc))
    return seen


@pytest.mark.parametrize("seed", range(12))
async def test_both_servers_agree_on_custom_resources(
    fake_api_server: Any, envtest_server: Any, seed: int
) -> None:
    results = []
    group = f"d{uuid.uuid4().hex[:8]}.example.com"
    manifest = widget_crd(group)
    for server in (fake_api_server, envtest_server):
        client = RestClient(server.new_client(), owns_api_client=True)
        namespace = f"diff-{uuid.uuid4().hex[:10]}"
        try:
            await client.request("POST", "/api/v1/namespaces", body={"metadata": {"name": namespace}})
            await create_crd(client, manifest)
            results.append(await _replay_widget(client, namespace, group, seed))
        finally:
            await delete_crd(client, manifest)
            await client.close()
    fake, real = results
    for step, (mine, theirs) in enumerate(zip(fake, real, strict=True)):
        assert mine == theirs, f"step {step} of {_widget_operations(seed)}"
