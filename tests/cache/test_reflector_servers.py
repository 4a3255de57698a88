"""Reflector against the API servers: the in-memory fake and, where it makes sense, the real one.

Tests that need a fault the real server cannot be told to make are ``fake_only``. The reflector's
clock is a FakeClock: backoffs and the inactivity timeout move only when a test advances it; the
tests wait on conditions with a deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from pycontroller.backoff import Backoff
from pycontroller.cache.reflector import Reflector
from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.testing import FakeClock
from pycontroller.testing.envtest import EnvTest

CONFIGMAPS = GroupVersionResource("", "v1", "configmaps")


class Store:
    """Latest object per key, the calls made, and the RV the reflector reported."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.rv = ""

    @staticmethod
    def key(obj: dict[str, Any]) -> str:
        return f"{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"

    def add(self, obj: dict[str, Any]) -> None:
        self.items[self.key(obj)] = obj
        self.calls.append("add")

    def update(self, obj: dict[str, Any]) -> None:
        self.items[self.key(obj)] = obj
        self.calls.append("update")

    def delete(self, obj: dict[str, Any]) -> None:
        self.items.pop(self.key(obj), None)
        self.calls.append("delete")

    def replace(self, objs: list[dict[str, Any]], resource_version: str) -> None:
        self.items = {self.key(o): o for o in objs}
        self.calls.append("replace")

    def resync(self) -> None:
        self.calls.append("resync")

    def update_resource_version(self, rv: str) -> None:
        self.rv = rv

    def names(self) -> set[str]:
        return {k.split("/", 1)[1] for k in self.items}


async def until(
    predicate: Callable[[], bool], clock: FakeClock, *, advance: float = 0.0, timeout: float = 10.0
) -> None:
    """Poll ``predicate`` (advancing the fake clock by ``advance`` each round) until a real deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached before the deadline")
        await clock.step(advance, settle=5)
        await asyncio.sleep(0.002)  # the poll interval of an HTTP round trip, not a settle


class Harness:
    def __init__(self, client: RestClient, namespace: str, **kwargs: Any) -> None:
        self.clock = FakeClock()
        self.store = Store()
        self.errors: list[BaseException] = []
        self.reflector = Reflector(
            client,
            CONFIGMAPS,
            self.store,
            namespace=namespace,
            clock=self.clock,
            backoff=Backoff(1.0, 8.0, jitter=0.0, clock=self.clock),
            **kwargs,
        )
        self.reflector.set_watch_error_handler(lambda r, exc: self.errors.append(exc))
        self.task: asyncio.Task[None] | None = None

    def start(self) -> Harness:
        self.task = asyncio.create_task(self.reflector.run())
        return self

    async def until(self, predicate: Callable[[], bool], *, advance: float = 0.0) -> None:
        await until(predicate, self.clock, advance=advance)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


@pytest.fixture
async def harness(rest_client: RestClient, namespace: str) -> AsyncIterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(**kwargs: Any) -> Harness:
        h = Harness(rest_client, namespace, **kwargs)
        made.append(h)
        return h

    yield make
    for h in made:
        await h.stop()


async def server_names(rc: RestClient, namespace: str) -> set[str]:
    listed = await rc.list(CONFIGMAPS, namespace)
    return {o["metadata"]["name"] for o in listed["items"]}


async def create(rc: RestClient, namespace: str, name: str, value: str = "1") -> dict[str, Any]:
    return await rc.create(CONFIGMAPS, {"metadata": {"name": name}, "data": {"v": value}}, namespace)


async def test_the_store_gets_every_listed_page_and_then_every_watched_change(
    rest_client: RestClient, namespace: str, harness: Callable[..., Harness]
) -> None:
    for i in range(7):
        await create(rest_client, namespace, f"cm-{i}")
    h = harness(page_size=2).start()
    await h.until(lambda: len(h.store.items) == 7)
    assert h.store.calls[0] == "replace"
    await create(rest_client, namespace, "late")
    await rest_client.patch(CONFIGMAPS, "cm-0", {"data": {"v": "2"}}, namespace)
    await rest_client.delete(CONFIGMAPS, "cm-1", namespace)
    expected = await server_names(rest_client, namespace)
    await h.until(lambda: h.store.names() == expected and "delete" in h.store.calls)
    assert h.store.items[f"{namespace}/cm-0"]["data"] == {"v": "2"}
    latest = await rest_client.get(CONFIGMAPS, "cm-0", namespace)
    assert (
        h.store.items[f"{namespace}/cm-0"]["metadata"]["resourceVersion"]
        == latest["metadata"]["resourceVersion"]
    )
    assert h.reflector.stats.relists == 0 and h.errors == []


async def test_a_streaming_list_is_used_where_served_and_list_watch_otherwise(
    api_server: Any, rest_client: RestClient, namespace: str, harness: Callable[..., Harness]
) -> None:
    for i in range(3):
        await create(rest_client, namespace, f"cm-{i}")
    h = harness(use_streaming_list=True).start()
    await h.until(lambda: len(h.store.items) == 3)
    await create(rest_client, namespace, "after")
    await h.until(lambda: "add" in h.store.calls)
    is_fake = not isinstance(api_server, EnvTest)
    # kube-apiserver 1.20 refuses resourceVersionMatch on a watch; the fake serves streaming lists.
    assert h.reflector._streaming_refused is not is_fake
    assert h.store.names() == {"cm-0", "cm-1", "cm-2", "after"}


@pytest.mark.fake_only(reason="needs bookmarks every few milliseconds")
async def test_bookmarks_move_the_resource_version_without_touching_the_store(
    api_server: Any, rest_client: RestClient, namespace: str, harness: Callable[..., Harness]
) -> None:
    api_server.bookmark_interval = 0.02
    h = harness().start()
    await h.until(lambda: h.reflector.stats.watches == 1)
    other = await rest_client.create(CONFIGMAPS, {"metadata": {"name": "elsewhere"}}, "default")
    newer = int(other["metadata"]["resourceVersion"])
    await h.until(lambda: h.store.rv != "" and int(h.store.rv) >= newer)
    assert h.reflector.stats.bookmarks >= 1 and h.store.calls == ["replace"]
    assert h.reflector.last_sync_resource_version() == h.store.rv


@pytest.mark.fake_only(reason="compaction on demand")
async def test_a_compacted_watch_relists_and_drops_what_was_deleted_meanwhile(
    api_server: Any, rest_client: RestClient, namespace: str, harness: Callable[..., Harness]
) -> None:
    await create(rest_client, namespace, "doomed")
    await create(rest_client, namespace, "kept")
    h = harness().start()
    await h.until(lambda: h.reflector.stats.watches == 1 and len(h.store.items) == 2)
    api_server.stall_watches()
    await rest_client.delete(CONFIGMAPS, "doomed", namespace)
    api_server.compact()
    api_server.drop_watches(abrupt=True)
    api_server.resume_watches()
    await h.until(lambda: h.reflector.stats.relists == 1, advance=0.5)
    await h.until(lambda: h.store.names() == {"kept"})
    assert any(getattr(e, "status", None) == 410 for e in h.errors)


@pytest.mark.fake_only(reason="429 on demand")
async def test_429_on_a_watch_waits_retry_after_and_watches_again_without_relisting(
    api_server: Any, rest_client: RestClient, namespace: str, harness: Callable[..., Harness]
) -> None:
    h = harness().start()
    await h.until(lambda: h.reflector.stats.watches == 1)
    await h.clock.step(2.0)  # a watch closed in under a second without events relists (client-go)
    api_server.fail_next(1, 429, verb="watch", retry_after=5)
    api_server.drop_watches()
    await h.until(lambda: len(h.errors) == 1)
    await h.clock.step(4.9)
    await create(rest_client, namespace, "a")
    assert h.reflector.stats.watches == 1
    await h.until(lambda: "add" in h.store.calls, advance=0.1)
    assert h.reflector.stats.lists == 1 and getattr(h.errors[0], "status", None) == 429


@pytest.mark.fake_only(reason="500 on demand")
async def test_500_on_list_backs_off_and_lists_again(
    api_server: Any, rest_client: RestClient, namespace: str, harness: Callable[..., Harness]
) -> None:
    await create(rest_client, namespace, "a")
    api_server.fail_next(2, 500, verb="list", resource="configmaps")
    h = harness().start()
    await h.until(lambda: len(h.errors) == 1)
    assert h.store.calls == []
    await h.until(lambda: h.store.names() == {"a"}, advance=0.5)
    assert h.reflector.stats.list_errors == 2


@pytest.mark.fake_only(reason="stalls on demand")
async def test_a_stalled_watch_is_replaced_after_the_inactivity_timeout(
    api_server: Any, rest_client: RestClient, namespace: str, harness: Callable[..., Harness]
) -> None:
    h = harness(watch_inactivity_timeout=10.0).start()
    await h.until(lambda: h.reflector.stats.watches == 1)
    api_server.stall_watches()
    await create(rest_client, namespace, "during-stall")
    await h.clock.step(9.0)
    assert h.reflector.stats.stalls == 0
    await h.until(lambda: h.reflector.stats.stalls == 1, advance=0.5)
    api_server.resume_watches()
    await h.until(lambda: h.store.names() == {"during-stall"})
    assert h.reflector.stats.relists == 0
