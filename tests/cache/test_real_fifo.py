"""RealFIFO and in-order informers: every change in the order it happened, relists and resyncs
as atomic steps, batched processing (client-go 1.36's default informer queue)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pycontroller.cache.delta_fifo import Delta, DeltaType
from pycontroller.cache.informer import SharedIndexInformer
from pycontroller.cache.keys import DeletedFinalStateUnknown
from pycontroller.cache.real_fifo import RealFIFO, ReplacedAllInfo, SyncAllInfo
from pycontroller.client import GroupVersionResource
from pycontroller.errors import InvalidObjectError, ShutDownError
from pycontroller.testing import FakeClock
from tests.cache.informer_support import Recorder, ReflectorSlot, cm, eventually

GVR = GroupVersionResource("", "v1", "configmaps")
ADDED, UPDATED, DELETED = DeltaType.ADDED, DeltaType.UPDATED, DeltaType.DELETED


def kinds(deltas: list[Delta]) -> list[tuple[str, str]]:
    out = []
    for d in deltas:
        if d.type in (DeltaType.REPLACED_ALL, DeltaType.SYNC_ALL):
            out.append((d.type.value, ""))
        else:
            out.append((d.type.value, d.object["metadata"]["name"]))
    return out


async def test_every_change_is_queued_in_order_and_never_merged() -> None:
    fifo = RealFIFO()
    fifo.add(cm("a", "1"))
    fifo.add(cm("b", "2"))
    fifo.update(cm("a", "3"))
    fifo.delete(cm("b", "4"))
    fifo.delete(cm("b", "4"))
    assert kinds(fifo.deltas()) == [
        ("Added", "a"),
        ("Added", "b"),
        ("Updated", "a"),
        ("Deleted", "b"),
        ("Deleted", "b"),
    ]
    popped = []
    while len(fifo):
        popped += await fifo.pop(lambda deltas, initial: None)
    assert kinds(popped) == [
        ("Added", "a"),
        ("Added", "b"),
        ("Updated", "a"),
        ("Deleted", "b"),
        ("Deleted", "b"),
    ]


async def test_a_replace_is_one_atomic_delta_and_sync_follows_it_being_popped() -> None:
    fifo = RealFIFO(transformer=lambda o: {**o, "slim": True})
    fifo.replace([cm("a"), cm("b")], "7")
    assert len(fifo) == 1 and not fifo.has_synced()
    (delta,) = fifo.deltas()
    assert delta.type is DeltaType.REPLACED_ALL
    assert isinstance(delta.object, ReplacedAllInfo) and delta.object.resource_version == "7"
    assert all(o["slim"] for o in delta.object.objects)
    seen: list[bool] = []
    await fifo.pop_batch(lambda deltas, initial: seen.append(initial))
    assert seen == [True] and fifo.has_synced()
    fifo.add(cm("c"))
    await fifo.pop_batch(lambda deltas, initial: seen.append(initial))
    assert seen == [True, False]
    fifo.resync()
    assert fifo.deltas() == [Delta(DeltaType.SYNC_ALL, SyncAllInfo())]


async def test_a_replace_keys_every_object_first_and_queues_nothing_on_a_bad_one() -> None:
    fifo = RealFIFO()
    with pytest.raises(InvalidObjectError):
        fifo.replace([cm("a"), {"metadata": {}}], "1")
    assert len(fifo) == 0 and not fifo.has_synced()


def test_key_of_takes_objects_deltas_and_tombstones_but_not_atomic_infos() -> None:
    fifo = RealFIFO()
    assert fifo.key_of([Delta(ADDED, cm("x")), Delta(UPDATED, cm("a"))]) == "ns/a"
    assert fifo.key_of(Delta(DELETED, DeletedFinalStateUnknown("ns/t", None))) == "ns/t"
    with pytest.raises(InvalidObjectError):
        fifo.key_of([])
    with pytest.raises(InvalidObjectError):
        fifo.key_of(ReplacedAllInfo("1", []))


async def test_a_batch_holds_distinct_keys_in_order_and_atomic_deltas_go_alone() -> None:
    fifo = RealFIFO(batch_size=3)
    fifo.replace([], "1")
    for name in "abcd":
        fifo.add(cm(name))
    fifo.update(cm("e"))
    fifo.update(cm("e", "2"))  # a second change of e: the next batch
    fifo.resync()
    batches: list[list[tuple[str, str]]] = []
    while len(fifo):
        await fifo.pop_batch(lambda deltas, initial: batches.append(kinds(deltas)))
    assert batches == [
        [("ReplacedAll", "")],
        [("Added", "a"), ("Added", "b"), ("Added", "c")],  # batch_size 3
        [("Added", "d"), ("Updated", "e")],
        [("Updated", "e")],
        [("SyncAll", "")],
    ]


async def test_a_closed_fifo_drains_then_refuses() -> None:
    fifo = RealFIFO()
    fifo.add(cm("a"))
    fifo.close()
    await fifo.pop(lambda deltas, initial: None)
    with pytest.raises(ShutDownError):
        await fifo.pop(lambda deltas, initial: None)


def test_a_bad_batch_size_is_refused() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        RealFIFO(batch_size=0)


# -- the in-order informer -------------------------------------------------------------------------


@pytest.fixture
def slot() -> ReflectorSlot:
    return ReflectorSlot()


@pytest.fixture
async def informer(slot: ReflectorSlot) -> AsyncIterator[SharedIndexInformer]:
    informer = SharedIndexInformer(None, GVR, reflector_factory=slot, clock=FakeClock(), in_order=True)
    yield informer
    await informer.stop()


async def started(informer: SharedIndexInformer, slot: ReflectorSlot) -> None:
    informer.start()
    await eventually(lambda: slot.reflector is not None and slot.reflector.running)


async def test_handlers_hear_changes_across_keys_in_the_order_they_happened(
    slot: ReflectorSlot,
) -> None:
    recorders = {}
    for in_order in (True, False):
        slot = ReflectorSlot()
        informer = SharedIndexInformer(None, GVR, reflector_factory=slot, in_order=in_order)
        recorders[in_order] = recorder = Recorder()
        informer.add_event_handler(recorder)
        await started(informer, slot)
        slot.store.replace([], "1")
        slot.store.add(cm("a", "2"))
        slot.store.add(cm("b", "3"))
        slot.store.update(cm("a", "4"))
        await eventually(lambda r=recorder: len(r.events) == 3)  # type: ignore[misc]
        await informer.stop()
    assert recorders[True].events == [
        ("add", "a", "2", False),
        ("add", "b", "3", False),
        ("update", "a", "2", "4"),
    ]
    # DeltaFIFO queues a key once and delivers its whole story together: a, a, then b.
    assert recorders[False].events == [
        ("add", "a", "2", False),
        ("update", "a", "2", "4"),
        ("add", "b", "3", False),
    ]


async def test_a_relist_is_applied_at_once_then_told_as_tombstones_adds_and_updates(
    informer: SharedIndexInformer, slot: ReflectorSlot
) -> None:
    recorder = Recorder()
    registration = informer.add_event_handler(recorder)
    await started(informer, slot)
    slot.store.replace([cm("a", "1"), cm("b", "1")], "1")
    await eventually(registration.has_synced)
    assert sorted(recorder.events) == [("add", "a", "1", True), ("add", "b", "1", True)]
    slot.store.replace([cm("a", "5"), cm("c", "5")], "5")
    await eventually(lambda: len(recorder.events) == 5)
    assert recorder.events[2:] == [
        ("delete", "tombstone:ns/b"),
        ("update", "a", "1", "5"),
        ("add", "c", "5", False),
    ]
    assert sorted(informer.indexer.list_keys()) == ["ns/a", "ns/c"]
    assert informer.indexer.last_store_sync_resource_version() == "5"


async def test_a_relist_with_an_object_the_indexes_refuse_changes_nothing_and_tells_nobody(
    slot: ReflectorSlot,
) -> None:
    def picky(obj: Any) -> list[str]:
        if obj["metadata"]["name"] == "poison":
            raise ValueError("cannot index poison")
        return []

    informer = SharedIndexInformer(
        None, GVR, reflector_factory=slot, indexers={"picky": picky}, in_order=True
    )
    recorder = Recorder()
    informer.add_event_handler(recorder)
    try:
        await started(informer, slot)
        slot.store.replace([cm("a", "1")], "1")
        await eventually(lambda: len(recorder.events) == 1)
        slot.store.replace([cm("b", "2"), cm("poison", "2")], "2")
        slot.store.add(cm("d", "3"))
        await eventually(lambda: len(recorder.events) == 2)
        assert informer.process_errors == 1
        assert sorted(informer.indexer.list_keys()) == ["ns/a", "ns/d"], "the relist was not half applied"
        assert recorder.events[1] == ("add", "d", "3", False)
    finally:
        await informer.stop()


async def test_a_resync_is_one_step_reaching_only_handlers_whose_period_is_due(slot: ReflectorSlot) -> None:
    clock = FakeClock()
    informer = SharedIndexInformer(None, GVR, reflector_factory=slot, clock=clock, in_order=True)
    due, never = Recorder(), Recorder()
    informer.add_event_handler(due, resync_period=5)
    informer.add_event_handler(never)
    try:
        await started(informer, slot)
        slot.store.replace([cm("a", "1"), cm("b", "1")], "1")
        await eventually(lambda: len(due.events) == 2 and len(never.events) == 2)
        await clock.step(5)
        await eventually(lambda: len(due.events) == 4)
        assert sorted(due.events[2:]) == [("update", "a", "1", "1"), ("update", "b", "1", "1")]
        for _ in range(10):
            await asyncio.sleep(0)
        assert len(never.events) == 2
    finally:
        await informer.stop()


async def test_a_custom_key_function_keys_the_cache_and_tombstones_keep_theirs(slot: ReflectorSlot) -> None:
    def by_uid(obj: Any) -> str:
        return str(obj["metadata"]["uid"])

    for in_order in (True, False):
        slot = ReflectorSlot()
        informer = SharedIndexInformer(None, GVR, reflector_factory=slot, key_func=by_uid, in_order=in_order)
        recorder = Recorder()
        informer.add_event_handler(recorder)
        try:
            await started(informer, slot)
            with_uid = {"metadata": {"name": "a", "namespace": "ns", "resourceVersion": "1", "uid": "u-1"}}
            slot.store.replace([with_uid], "1")
            await eventually(lambda r=recorder: len(r.events) == 1)  # type: ignore[misc]
            assert informer.indexer.list_keys() == ["u-1"]
            slot.store.replace([], "2")
            await eventually(lambda r=recorder: len(r.events) == 2)  # type: ignore[misc]
            assert recorder.events[-1] == ("delete", "tombstone:u-1") and len(informer.indexer) == 0
        finally:
            await informer.stop()


async def test_new_informer_is_a_plain_informer_with_one_handler_a_key_function_and_a_transform() -> None:
    from pycontroller.cache.informer import new_informer

    slot = ReflectorSlot()
    recorder = Recorder()
    store, informer = new_informer(
        None,
        GVR,
        recorder,
        key_func=lambda obj: f"by-name:{obj['metadata']['name']}",
        transform=lambda obj: {**obj, "slim": True},
        reflector_factory=slot,
        clock=FakeClock(),
    )
    try:
        assert store is informer.indexer and informer.in_order
        assert [r.handler for r in informer.registrations] == [recorder]
        await started(informer, slot)
        slot.store.replace([cm("a", "1"), cm("b", "1")], "1")
        await eventually(informer.has_synced)
        await eventually(lambda: len(recorder.events) == 2)
        assert sorted(store.list_keys()) == ["by-name:a", "by-name:b"]
        assert all(o["slim"] for o in store.list())
    finally:
        await informer.stop()


def test_list_keys_and_get_by_key_give_the_delta_fifo_view_of_what_is_queued() -> None:
    fifo = RealFIFO()
    fifo.replace([cm("a", "1"), cm("b", "1")], "1")
    fifo.update(cm("a", "2"))
    fifo.delete(cm("c", "3"))
    assert fifo.list_keys() == ["ns/a", "ns/b", "ns/c"]
    assert [(d.type, d.object["metadata"]["resourceVersion"]) for d in fifo.get_by_key("ns/a") or []] == [
        (DeltaType.REPLACED, "1"),
        (DeltaType.UPDATED, "2"),
    ]
    assert fifo.get_by_key("ns/zzz") is None
