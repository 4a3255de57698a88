"""A relist reuses what the cache already holds: an item whose resourceVersion the cache has is
replaced by the cached object as soon as it is decoded (no second copy of an unchanged cache while
a 410's relist runs, no second transform), for one namespace and for several, with both FIFOs."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from pycontroller.cache.factory import SharedInformerFactory
from pycontroller.cache.informer import SharedIndexInformer
from pycontroller.client import RestClient
from pycontroller.testing import FakeClock
from tests.cache.informer_support import Recorder
from tests.cache.test_transform_once import CONFIGMAPS, CountingTransform, create, transformed

pytestmark = pytest.mark.fake_only(reason="a 410 on demand: the fake compacts and drops watches at once")


async def until(check: Any, clock: FakeClock, what: str, timeout: float = 30.0) -> None:
    """Wait for ``check()`` with a deadline, stepping the fake clock past reflector backoffs."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await clock.step(0.5, settle=5)
        await asyncio.sleep(0.002)  # a poll interval for the HTTP round trip, not a settle


async def relist_with_a_change(
    api_server: Any, rest_client: RestClient, informer: Any, clock: FakeClock, key: str, relists: int
) -> None:
    """Patch ``key``'s object while no watch delivers it, then compact and end every watch: the
    reflectors' next watch gets 410 Expired and they relist. Returns once ``relists`` relists
    happened and the cache holds the patched object."""
    namespace, name = key.split("/")
    api_server.stall_watches()
    await rest_client.patch(CONFIGMAPS, name, {"data": {"k": "changed"}}, namespace)
    api_server.compact()
    api_server.drop_watches(abrupt=True)
    api_server.resume_watches()
    await until(
        lambda: (
            informer.reflector_stats.relists == relists
            and informer.indexer.get_by_key(key)["data"] == {"k": "changed"}
        ),
        clock,
        f"{relists} relist(s) after the 410",
    )


@pytest.mark.parametrize(
    ("in_order", "streaming"),
    [(True, False), (False, False), (True, True)],
    ids=["RealFIFO", "DeltaFIFO", "streaming-list"],
)
async def test_a_relist_keeps_the_cached_object_of_every_unchanged_item_and_transforms_only_changes(
    api_server: Any, rest_client: RestClient, namespace: str, in_order: bool, streaming: bool
) -> None:
    for i in range(5):
        await create(rest_client, namespace, f"cm-{i}")
    clock = FakeClock()
    transform = CountingTransform()
    informer = SharedIndexInformer(
        rest_client,
        CONFIGMAPS,
        namespace=namespace,
        in_order=in_order,
        clock=clock,
        reflector_options={"use_streaming_list": streaming},
    )
    informer.set_transform(transform)
    recorder = Recorder()
    informer.add_event_handler(recorder)
    informer.start()
    try:
        await until(informer.has_synced, clock, "the first list")
        before = {obj["metadata"]["name"]: obj for obj in informer.indexer.list()}
        await relist_with_a_change(api_server, rest_client, informer, clock, f"{namespace}/cm-1", 1)
    finally:
        await informer.stop()
    after = {obj["metadata"]["name"]: obj for obj in informer.indexer.list()}
    assert set(after) == set(before)
    for name in ("cm-0", "cm-2", "cm-3", "cm-4"):
        assert after[name] is before[name], f"{name} did not change but the cache holds a new copy"
    assert after["cm-1"] is not before["cm-1"] and transformed(after["cm-1"])
    assert informer.reflector_stats.relist_reused == 4
    if streaming:  # both lists were watches with initial events, ended by their bookmark
        assert informer.reflector_stats.bookmarks >= 2
    # Transformed once when first listed; only the changed one again on the relist.
    assert transform.calls == Counter({"cm-0": 1, "cm-1": 2, "cm-2": 1, "cm-3": 1, "cm-4": 1})
    # Handlers hear of the change (old -> new version); the unchanged ones are not news.
    old_rv = before["cm-1"]["metadata"]["resourceVersion"]
    new_rv = after["cm-1"]["metadata"]["resourceVersion"]
    updates = [e for e in recorder.events if e[0] == "update"]
    assert updates == [("update", "cm-1", old_rv, new_rv)]


async def test_a_multi_namespace_informer_transforms_at_decode_and_reuses_on_a_scoped_relist(
    api_server: Any, rest_client: RestClient, namespace: str
) -> None:
    other = f"{namespace}-b"
    await rest_client.request("POST", "/api/v1/namespaces", body={"metadata": {"name": other}})
    for ns in (namespace, other):
        for i in range(3):
            await create(rest_client, ns, f"cm-{i}")
    clock = FakeClock()
    transform = CountingTransform()
    factory = SharedInformerFactory(rest_client, clock=clock)
    informer = factory.informer_for(CONFIGMAPS, namespaces=[namespace, other], transform=transform)
    factory.start()
    try:
        await until(informer.has_synced, clock, "both namespaces listed")
        # Every object was transformed once, by its namespace's reflector (the queue between
        # the reflectors and the cache does not transform again: CountingTransform would fail).
        assert sum(transform.calls.values()) == 6
        assert all(transformed(obj) for obj in informer.indexer.list())
        before = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in informer.indexer.list()}
        await relist_with_a_change(api_server, rest_client, informer, clock, f"{other}/cm-0", 2)
    finally:
        await factory.shutdown()
    after = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in informer.indexer.list()}
    assert set(after) == set(before)
    changed = (other, "cm-0")
    assert all(after[k] is before[k] for k in before if k != changed)
    assert after[changed] is not before[changed] and transformed(after[changed])
    assert informer.reflector_stats.relist_reused == 5
    assert sum(transform.calls.values()) == 7
