"""Shared test helpers for the samples: waiting on conditions, running a Manager, reading Events."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.errors import NotFoundError

EVENTS = GroupVersionResource("", "v1", "events")
DEADLINE = 15.0


async def eventually(
    check: Callable[[], Awaitable[Any]], *, timeout: float = DEADLINE, what: str = ""
) -> Any:
    """Await ``check()`` until it returns something truthy (and return it); fail after ``timeout``.

    ``check`` may raise NotFoundError/AssertionError while the condition does not hold yet. Polls the
    API server every 20 ms: it waits on a condition with a deadline, never sleeps to let things settle.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: BaseException | None = None
    while True:
        try:
            result = await check()
            if result:
                return result
        except (NotFoundError, AssertionError, KeyError) as exc:
            last = exc
        if loop.time() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what or check}: last error {last!r}"
            )
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running(mgr: Any) -> AsyncIterator[asyncio.Task[Any]]:
    """Run ``mgr`` in a task for the duration of the block; shut it down (and re-raise its failure)."""
    task = asyncio.create_task(mgr.run(), name="manager-under-test")
    try:
        yield task
    finally:
        if not task.done():
            mgr.request_shutdown()
        try:
            await asyncio.wait_for(task, 20)
        except TimeoutError:
            task.cancel()
            raise


async def events_about(rest: RestClient, namespace: str, name: str) -> list[dict[str, Any]]:
    """The core/v1 Events in ``namespace`` whose involvedObject is named ``name``."""
    events = await rest.list(EVENTS, namespace)
    return [e for e in events.get("items") or () if (e.get("involvedObject") or {}).get("name") == name]


def reasons(events: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(e.get("type", ""), e.get("reason", ""), e.get("message", "")) for e in events}


NAMESPACES = GroupVersionResource("", "v1", "namespaces")
CRDS_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


async def create_namespace(rest: RestClient, prefix: str = "t") -> str:
    """A fresh namespace with a unique name (the caller deletes it)."""
    import uuid

    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    await rest.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def read_yaml(path: Any) -> Any:
    """One YAML document from a small local file."""
    import yaml

    return yaml.safe_load(Path(path).read_text())


async def install_crd_file(rest: RestClient, path: Any, plural_path: str) -> None:
    """Create the CRD in ``path`` (YAML) unless it exists, then wait until ``plural_path`` is served."""
    from pycontroller.errors import AlreadyExistsError

    crd = read_yaml(path)
    with contextlib.suppress(AlreadyExistsError):
        await rest.request("POST", CRDS_PATH, body=crd)

    async def served() -> bool:
        await rest.request("GET", plural_path, query={"limit": 1})
        return True

    await eventually(served, what=f"{plural_path} to be served")


async def modify(
    rest: RestClient,
    gvr: GroupVersionResource,
    name: str,
    namespace: str | None,
    change: Callable[[Any], None],
) -> dict[str, Any]:
    """Read, ``change`` and write an object, again on a Conflict (controllers write it too)."""
    from pycontroller.errors import ConflictError

    for _ in range(50):
        obj = await rest.get(gvr, name, namespace)
        change(obj)
        try:
            return await rest.replace(gvr, obj)
        except ConflictError:
            continue
    raise AssertionError(f"{gvr} {namespace}/{name}: still conflicting after 50 attempts")
