"""Helpers shared by the conformance tests: resources, object builders, watches with deadlines.

Every test here runs against both servers through the ``api_server`` fixture (in-memory fake and
the real kube-apiserver of envtest). The real server is shared by the whole session, so tests use a
fresh ``namespace`` and unique names for cluster-scoped objects (CRDs get a unique group).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import orjson

from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.errors import NotFoundError

CONFIGMAPS = GroupVersionResource("", "v1", "configmaps")
SECRETS = GroupVersionResource("", "v1", "secrets")
PODS = GroupVersionResource("", "v1", "pods")
SERVICES = GroupVersionResource("", "v1", "services")
NAMESPACES = GroupVersionResource("", "v1", "namespaces")
EVENTS = GroupVersionResource("", "v1", "events")
NEW_EVENTS = GroupVersionResource("events.k8s.io", "v1", "events")
DEPLOYMENTS = GroupVersionResource("apps", "v1", "deployments")
LEASES = GroupVersionResource("coordination.k8s.io", "v1", "leases")
CRDS = GroupVersionResource("apiextensions.k8s.io", "v1", "customresourcedefinitions")

DEADLINE = 15.0  # seconds any single wait may take before the test fails (never hangs)


def unique(prefix: str = "obj") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def configmap(
    name: str, namespace: str, *, labels: dict[str, str] | None = None, data: dict[str, str] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data or {}}


def deployment(name: str, namespace: str, *, replicas: int = 1, image: str = "nginx:1.19") -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }


def rv(obj: dict[str, Any]) -> int:
    return int(obj["metadata"]["resourceVersion"])


def names(listing: dict[str, Any]) -> list[str]:
    return sorted(item["metadata"]["name"] for item in listing["items"])


async def wait_for(check: Callable[[], Awaitable[Any]], *, timeout: float = DEADLINE, what: str = "") -> Any:
    """Poll ``check`` until it returns a truthy value; fail after ``timeout`` seconds."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                result = await check()
                if result:
                    return result
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what or check}") from None


async def compact(api_server: Any) -> None:
    """Forget all history before the current revision, on either server.

    Both offer ``compact()``: the fake forgets its history; EnvTest compacts etcd (what
    kube-apiserver does every 5 minutes).
    """
    result = api_server.compact()
    if inspect.isawaitable(result):
        await result


class Watch:
    """A watch stream read in the background; events are decoded dicts, ``None`` marks the end."""

    def __init__(self, client: RestClient, path: str, **query: Any) -> None:
        self._client = client
        self._path = path
        self._query = {"watch": "true", **query}
        self._events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._stack = contextlib.AsyncExitStack()
        self.ended = False

    async def __aenter__(self) -> Watch:
        resp = await self._stack.enter_async_context(self._client.stream(self._path, query=self._query))
        self.response = resp
        self._task = asyncio.create_task(self._read(resp))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
                await self._task
        await self._stack.aclose()

    async def _read(self, resp: aiohttp.ClientResponse) -> None:
        try:
            async for line in resp.content:
                if line.strip():
                    await self._events.put(orjson.loads(line))
        finally:
            await self._events.put(None)

    async def next(self, timeout: float = DEADLINE) -> dict[str, Any] | None:
        """The next event, or None when the server ended the stream. Fails after ``timeout``."""
        if self.ended:
            return None
        try:
            async with asyncio.timeout(timeout):
                event = await self._events.get()
        except TimeoutError:
            raise AssertionError(f"no watch event within {timeout:g} s") from None
        if event is None:
            self.ended = True
        return event

    async def take(
        self, count: int, *, skip_bookmarks: bool = True, timeout: float = DEADLINE
    ) -> list[dict[str, Any]]:
        """The next ``count`` events (bookmarks skipped by default); fails if the stream ends first."""
        events: list[dict[str, Any]] = []
        async with asyncio.timeout(timeout):
            while len(events) < count:
                event = await self.next(timeout)
                assert event is not None, f"stream ended after {events}"
                if skip_bookmarks and event["type"] == "BOOKMARK":
                    continue
                events.append(event)
        return events

    async def rest(self, timeout: float = DEADLINE) -> list[dict[str, Any]]:
        """Every event until the server ends the stream (fails if it does not end in ``timeout``)."""
        events: list[dict[str, Any]] = []
        async with asyncio.timeout(timeout):
            while (event := await self.next(timeout)) is not None:
                events.append(event)
        return events


def summary(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(type, name) pairs of events, for readable assertions."""
    return [(e["type"], e["object"].get("metadata", {}).get("name", "")) for e in events]


def crd_manifest(
    group: str,
    kind: str,
    *,
    scope: str = "Namespaced",
    status: bool = True,
    short_names: list[str] | None = None,
    versions: tuple[str, ...] = ("v1",),
) -> dict[str, Any]:
    plural = kind.lower() + "s"
    version_list = []
    for i, version in enumerate(versions):
        entry: dict[str, Any] = {
            "name": version,
            "served": True,
            "storage": i == 0,
            "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
        }
        if status:
            entry["subresources"] = {"status": {}}
        version_list.append(entry)
    names_: dict[str, Any] = {
        "plural": plural,
        "singular": kind.lower(),
        "kind": kind,
        "listKind": f"{kind}List",
    }
    if short_names:
        names_["shortNames"] = short_names
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {"group": group, "scope": scope, "names": names_, "versions": version_list},
    }


async def create_crd(client: RestClient, manifest: dict[str, Any]) -> GroupVersionResource:
    """Create a CRD and wait until every version is served and listed in discovery.

    kube-apiserver serves a new resource and publishes its discovery asynchronously (a few ms
    apart), like a client would, wait for both. Returns the first version's GVR.
    """
    await client.create(CRDS, manifest)
    spec = manifest["spec"]
    plural = spec["names"]["plural"]
    group = spec["group"]
    versions = [v["name"] for v in spec["versions"]]

    async def ready() -> bool:
        try:
            groups = await client.request("GET", "/apis")
            listed = next((g for g in groups["groups"] if g["name"] == group), None)
            if listed is None or {v["version"] for v in listed["versions"]} != set(versions):
                return False
            for version in versions:
                resources = await client.request("GET", f"/apis/{group}/{version}")
                if plural not in {r["name"] for r in resources["resources"]}:
                    return False
                await client.list(GroupVersionResource(group, version, plural))
        except NotFoundError:
            return False
        return True

    await wait_for(ready, what=f"{plural}.{group} to be served")
    return GroupVersionResource(group, versions[0], plural)


async def delete_crd(client: RestClient, manifest: dict[str, Any]) -> None:
    with contextlib.suppress(NotFoundError):
        await client.delete(CRDS, manifest["metadata"]["name"])


@contextlib.asynccontextmanager
async def temporary_crd(client: RestClient, manifest: dict[str, Any]) -> AsyncIterator[GroupVersionResource]:
    gvr = await create_crd(client, manifest)
    try:
        yield gvr
    finally:
        await delete_crd(client, manifest)
