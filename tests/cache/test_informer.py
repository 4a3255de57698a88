"""SharedIndexInformer: cache maintenance and handler delivery, driven through its DeltaFIFO."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pycontroller.cache.handlers import FilteringResourceEventHandler, ResourceEventHandlerFuncs
from pycontroller.cache.informer import SharedIndexInformer, drop_managed_fields
from pycontroller.cache.keys import NAMESPACE_INDEX
from pycontroller.cache.mutation import CacheMutationDetector, MutationError
from pycontroller.client import GroupVersionResource
from pycontroller.errors import ShutDownError
from pycontroller.testing import FakeClock
from tests.cache.informer_support import Recorder, ReflectorSlot, cm, eventually

GVR = GroupVersionResource("", "v1", "configmaps")


@pytest.fixture
def slot() -> ReflectorSlot:
    return ReflectorSlot()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def informer(slot: ReflectorSlot, clock: FakeClock) -> AsyncIterator[SharedIndexInformer]:
    informer = SharedIndexInformer(None, GVR, reflector_factory=slot, clock=clock)
    yield informer
    await informer.stop()


async def started(informer: SharedIndexInformer, slot: ReflectorSlot) -> None:
    informer.start()
    await eventually(lambda: slot.reflector is not None and slot.reflector.running)


async def test_the_initial_list_fills_the_cache_and_reaches_handlers_as_initial_adds(
    informer: SharedIndexInformer, slot: ReflectorSlot
) -> None:
    recorder = Recorder()
    registration = informer.add_event_handler(recorder)
    await started(informer, slot)
    assert not informer.has_synced() and not registration.has_synced()
    slot.store.replace([cm("a"), cm("b")], "10")
    assert await informer.wait_for_sync(timeout=5)
    await eventually(registration.has_synced)
    assert sorted(recorder.events) == [("add", "a", "1", True), ("add", "b", "1", True)]
    assert sorted(informer.indexer.list_keys()) == ["ns/a", "ns/b"]
    assert informer.last_sync_resource_version() == "10"


async def test_watch_events_become_adds_updates_and_deletes(
    informer: SharedIndexInformer, slot: ReflectorSlot
) -> None:
    recorder = Recorder()
    informer.add_event_handler(recorder)
    await started(informer, slot)
    slot.store.replace([], "1")
    slot.store.add(cm("a", "2"))
    slot.store.update(cm("a", "3"))
    slot.store.delete(cm("a", "4"))
    await eventually(lambda: len(recorder.events) == 3)
    assert recorder.events == [("add", "a", "2", False), ("update", "a", "2", "3"), ("delete", "a")]
    assert informer.indexer.list() == []


async def test_a_relist_missing_an_object_delivers_a_tombstone(
    informer: SharedIndexInformer, slot: ReflectorSlot
) -> None:
    recorder = Recorder()
    informer.add_event_handler(recorder)
    await started(informer, slot)
    slot.store.replace([cm("a"), cm("b")], "1")
    await eventually(lambda: len(recorder.events) == 2)
    slot.store.replace([cm("a")], "5")
    await eventually(lambda: len(recorder.events) == 3)
    assert recorder.events[-1] == ("delete", "tombstone:ns/b")
    assert informer.indexer.list_keys() == ["ns/a"]


async def test_a_relist_delivers_changed_objects_as_updates_and_unchanged_ones_to_nobody(
    informer: SharedIndexInformer, slot: ReflectorSlot
) -> None:
    recorder = Recorder()
    informer.add_event_handler(recorder)
    await started(informer, slot)
    slot.store.replace([cm("a", "1"), cm("b", "1")], "1")
    slot.store.replace([cm("a", "1"), cm("b", "2")], "2")
    await eventually(lambda: len(recorder.events) == 3)
    await asyncio.sleep(0)
    assert recorder.events[2:] == [("update", "b", "1", "2")]


async def test_a_slow_handler_never_blocks_the_cache_or_other_handlers(
    informer: SharedIndexInformer, slot: ReflectorSlot
) -> None:
    gate = asyncio.Event()
    slow_seen: list[str] = []

    async def slow_add(obj: Any) -> None:
        await gate.wait()
        slow_seen.append(obj["metadata"]["name"])

    slow = informer.add_event_handler(ResourceEventHandlerFuncs(on_add=slow_add))
    fast = Recorder()
    informer.add_event_handler(fast)
    await started(informer, slot)
    slot.store.replace([], "1")
    for i in range(100):
        slot.store.add(cm(f"o{i}"))
    await eventually(lambda: len(fast.events) == 100)
    assert len(informer.indexer.list()) == 100
    assert slow.backlog == 99 and slow_seen == []
    assert informer.backlog() == 99
    gate.set()
    await eventually(lambda: len(slow_seen) == 100)
    assert slow_seen == [f"o{i}" for i in range(100)] and slow.backlog == 0


async def test_a_handler_added_late_gets_the_cache_replayed_as_initial_adds(
    informer: SharedIndexInformer, slot: ReflectorSlot
) -> None:
    await started(informer, slot)
    slot.store.replace([cm("a"), cm("b")], "1")
    assert await informer.wait_for_sync(timeout=5)
    gate = asyncio.Event()
    late_events: list[tuple[str, bool]] = []

    async def on_add(obj: Any, initial: bool) -> None:
        await gate.wait()
        late_events.append((obj["metadata"]["name"], initial))

    late = informer.add_event_handler(ResourceEventHandlerFuncs(on_add=on_add))
    await asyncio.sleep(0)
    assert not late.has_synced()
    gate.set()
    await eventually(late.has_synced)
    assert sorted(late_events) == [("a", True), ("b", True)]
    slot.store.add(cm("c"))
    await eventually(lambda: len(late_events) == 3)
    assert late_events[-1] == ("c", False)


async def test_a_removed_handler_hears_nothing_more(
    informer: SharedIndexInformer, slot: ReflectorSlot
) -> None:
    recorder, other = Recorder(), Recorder()
    registration = informer.add_event_handler(recorder)
    informer.add_event_handler(other)
    await started(informer, slot)
    slot.store.replace([cm("a")], "1")
    await eventually(lambda: len(recorder.events) == 1)
    informer.remove_event_handler(registration)
    informer.remove_event_handler(registration)  # idempotent
    slot.store.add(cm("b"))
    await eventually(lambda: len(other.events) == 2)
    assert len(recorder.events) == 1 and registration.is_removed
    assert informer.registrations == [r for r in informer.registrations if r is not registration]


async def test_resync_reaches_only_handlers_whose_period_is_due_with_a_one_second_floor(
    informer: SharedIndexInformer, slot: ReflectorSlot, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    fast, slow, never = Recorder(), Recorder(), Recorder()
    with caplog.at_level(logging.WARNING):
        fast_reg = informer.add_event_handler(fast, resync_period=0.2)
    assert fast_reg.resync_period == 1.0 and "too small" in caplog.text
    informer.add_event_handler(slow, resync_period=5)
    informer.add_event_handler(never)
    await started(informer, slot)
    slot.store.replace([cm("a", "7")], "7")
    await eventually(lambda: len(never.events) == 1 and len(slow.events) == 1 and len(fast.events) == 1)

    await clock.step(0.9)
    assert len(fast.events) == 1
    await clock.step(0.1)
    await eventually(lambda: len(fast.events) == 2)
    assert fast.events[-1] == ("update", "a", "7", "7")
    for expected in (3, 4, 5):
        await clock.step(1.0)
        await eventually(lambda expected=expected: len(fast.events) == expected)  # type: ignore[misc]
    assert len(slow.events) == 1
    await clock.step(1.0)
    await eventually(lambda: len(slow.events) == 2 and len(fast.events) == 6)
    assert slow.events[-1] == ("update", "a", "7", "7")
    assert never.events == [("add", "a", "7", True)]


async def test_handlers_may_be_async_and_a_raising_handler_keeps_receiving(
    informer: SharedIndexInformer, slot: ReflectorSlot, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    async def on_add(obj: Any) -> None:
        await asyncio.sleep(0)
        if obj["metadata"]["name"] == "bad":
            raise RuntimeError("handler bug")
        seen.append(obj["metadata"]["name"])

    registration = informer.add_event_handler(ResourceEventHandlerFuncs(on_add=on_add), name="picky")
    await started(informer, slot)
    slot.store.replace([], "1")
    slot.store.add(cm("bad"))
    slot.store.add(cm("good"))
    await eventually(lambda: seen == ["good"])
    assert registration.errors == 1 and registration.delivered == 2
    assert "event handler picky failed" in caplog.text


async def test_the_transform_applies_before_caching_and_cannot_change_after_start(
    informer: SharedIndexInformer, slot: ReflectorSlot
) -> None:
    informer.set_transform(drop_managed_fields)
    await started(informer, slot)
    with pytest.raises(RuntimeError, match="already started"):
        informer.set_transform(None)
    raw = cm("a")
    raw["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    slot.store.replace([raw], "1")
    assert await informer.wait_for_sync(timeout=5)
    assert "managedFields" not in informer.indexer.get_by_key("ns/a")["metadata"]


async def test_a_filtering_handler_turns_updates_into_adds_and_deletes_as_objects_cross_the_filter(
    informer: SharedIndexInformer, slot: ReflectorSlot
) -> None:
    recorder = Recorder()

    def wanted(obj: Any) -> bool:
        return isinstance(obj, dict) and obj.get("data", {}).get("keep") == "yes"

    informer.add_event_handler(FilteringResourceEventHandler(wanted, recorder))
    await started(informer, slot)
    slot.store.replace([cm("a", "1", data={"keep": "no"})], "1")
    slot.store.update(cm("a", "2", data={"keep": "yes"}))
    slot.store.update(cm("a", "3", data={"keep": "yes"}))
    slot.store.update(cm("a", "4", data={"keep": "no"}))
    slot.store.update(cm("a", "5", data={"keep": "no"}))
    slot.store.delete(cm("a", "6", data={"keep": "no"}))
    await eventually(lambda: informer.indexer.list() == [])
    await eventually(lambda: len(recorder.events) == 3)
    assert recorder.events == [("add", "a", "2", False), ("update", "a", "2", "3"), ("delete", "a")]


async def test_a_stopped_informer_refuses_new_handlers_and_stops_its_tasks(
    informer: SharedIndexInformer, slot: ReflectorSlot
) -> None:
    registration = informer.add_event_handler(Recorder())
    await started(informer, slot)
    await informer.stop()
    assert slot.reflector is not None and slot.reflector.cancelled
    assert registration.is_removed and informer.is_stopped
    with pytest.raises(ShutDownError):
        informer.add_event_handler(Recorder())
    with pytest.raises(ShutDownError):
        informer.start()
    assert not await informer.wait_for_sync(timeout=1)


async def test_wait_for_sync_times_out_on_the_informer_clock(
    informer: SharedIndexInformer, slot: ReflectorSlot, clock: FakeClock
) -> None:
    await started(informer, slot)
    waiter = asyncio.create_task(informer.wait_for_sync(timeout=10))
    await clock.step(5)
    assert not waiter.done()
    await clock.step(5)
    assert await asyncio.wait_for(waiter, 5) is False


async def test_extra_indexers_are_kept_beside_the_namespace_index(slot: ReflectorSlot) -> None:
    informer = SharedIndexInformer(
        None, GVR, reflector_factory=slot, indexers={"app": lambda o: [o["metadata"].get("app", "")]}
    )
    assert set(informer.indexer.get_indexers()) == {NAMESPACE_INDEX, "app"}
    informer.add_indexers({"x": lambda o: []})
    with pytest.raises(ValueError, match="conflict"):
        informer.add_indexers({"x": lambda o: []})
    assert informer.lister().resource == "configmaps"


def test_a_handler_without_the_three_methods_is_refused(informer: SharedIndexInformer) -> None:
    with pytest.raises(TypeError, match="no on_add"):
        informer.add_event_handler(object())  # type: ignore[arg-type]


def test_handler_funcs_accept_one_or_two_argument_add_functions() -> None:
    got: list[Any] = []
    ResourceEventHandlerFuncs(on_add=lambda obj: got.append(obj)).on_add("x", True)
    ResourceEventHandlerFuncs(on_add=lambda obj, initial: got.append((obj, initial))).on_add("y", False)
    ResourceEventHandlerFuncs().on_add("z", True)  # nothing registered: ignored
    assert got == ["x", ("y", False)]
    with pytest.raises(TypeError):
        ResourceEventHandlerFuncs(on_update=3)  # type: ignore[arg-type]


async def test_an_empty_initial_list_counts_as_synced_at_once(
    informer: SharedIndexInformer, slot: ReflectorSlot
) -> None:
    registration = informer.add_event_handler(Recorder())
    await started(informer, slot)
    waiter = asyncio.create_task(informer.wait_for_sync())
    await asyncio.sleep(0)
    slot.store.replace([], "3")
    assert await asyncio.wait_for(waiter, 5) is True
    assert registration.has_synced()


async def test_the_mutation_detector_reports_a_handler_that_changes_a_cached_object(
    slot: ReflectorSlot, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    informer = SharedIndexInformer(None, GVR, reflector_factory=slot, clock=clock, detect_mutations=True)

    def careless(obj: Any) -> None:
        if obj["metadata"]["name"] == "victim":
            obj["metadata"]["labels"] = {"oops": "x"}

    informer.add_event_handler(ResourceEventHandlerFuncs(on_add=careless))
    try:
        await started(informer, slot)
        slot.store.replace([cm("victim"), cm("fine")], "1")
        await eventually(lambda: informer.backlog() == 0 and informer.has_synced())
        await eventually(lambda: "labels" in informer.indexer.get_by_key("ns/victim")["metadata"])
        await clock.step(10)
        assert informer.mutation_detector is not None and informer.mutation_detector.mutations == 1
        assert "ns/victim was mutated in place" in caplog.text
        informer.indexer.get_by_key("ns/fine")["data"] = {}
        with pytest.raises(MutationError, match="ns/fine"):
            informer.check_mutations(raise_on_mutation=True)
    finally:
        await informer.stop()


def test_the_mutation_detector_is_off_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYCONTROLLER_CACHE_MUTATION_DETECTOR", raising=False)
    assert SharedIndexInformer(None, GVR, reflector_factory=ReflectorSlot()).mutation_detector is None
    monkeypatch.setenv("PYCONTROLLER_CACHE_MUTATION_DETECTOR", "true")
    informer = SharedIndexInformer(None, GVR, reflector_factory=ReflectorSlot())
    assert informer.mutation_detector is not None and informer.check_mutations() == 0


def test_the_mutation_detector_forgets_objects_after_the_retention() -> None:
    detector = CacheMutationDetector("t", retain=5)
    detector.add_object("k", {"a": 1}, now=0)
    assert detector.check(now=1) == 0 and len(detector) == 1
    assert detector.check(now=6) == 0 and len(detector) == 0


async def test_listers_in_worker_threads_read_while_the_informer_writes(
    informer: SharedIndexInformer, slot: ReflectorSlot
) -> None:
    import threading

    await started(informer, slot)
    slot.store.replace([], "1")
    lister = informer.lister()
    stop = threading.Event()
    problems: list[str] = []
    reads = [0]

    def worker() -> None:
        while not stop.is_set():
            for obj in lister.namespace("ns").list("tier=web"):
                if obj["metadata"]["labels"]["tier"] != "web":
                    problems.append("selector let a wrong object through")
            try:
                lister.namespace("ns").get("o1")
            except Exception as exc:  # NotFound is fine; anything else is not
                if type(exc).__name__ != "NotFoundError":
                    problems.append(repr(exc))
            reads[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for i in range(2000):
            obj = cm(f"o{i % 40}", str(i + 2))
            obj["metadata"]["labels"] = {"tier": "web" if i % 3 else "db"}
            (slot.store.delete if i % 17 == 0 else slot.store.update)(obj)
            if i % 50 == 0:
                await eventually(lambda: len(slot.store) == 0)
        await eventually(lambda: len(slot.store) == 0)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert problems == [] and reads[0] > 0


async def test_waiting_for_sync_ends_when_the_informer_stops(
    informer: SharedIndexInformer, slot: ReflectorSlot
) -> None:
    await started(informer, slot)
    waiter = asyncio.create_task(informer.wait_for_sync())
    await asyncio.sleep(0)
    await informer.stop()
    assert await asyncio.wait_for(waiter, 5) is False


async def test_removing_a_handler_returns_at_once_and_lets_its_running_call_finish(
    informer: SharedIndexInformer, slot: ReflectorSlot
) -> None:
    release = asyncio.Event()
    calls: list[str] = []

    async def slow_add(obj: Any) -> None:
        calls.append(f"start {obj['metadata']['name']}")
        await release.wait()
        calls.append(f"end {obj['metadata']['name']}")

    registration = informer.add_event_handler(ResourceEventHandlerFuncs(on_add=slow_add))
    await started(informer, slot)
    slot.store.replace([cm("a"), cm("b")], "1")
    await eventually(lambda: calls == ["start a"])
    informer.remove_event_handler(registration)  # never suspends
    assert registration.is_removed and registration not in informer.registrations
    release.set()
    await eventually(lambda: calls == ["start a", "end a"])
    for _ in range(20):
        await asyncio.sleep(0)
    assert calls == ["start a", "end a"], "the running call finished; the buffered add of b was dropped"


async def test_shut_down_event_handler_removes_and_waits_for_the_running_call(
    informer: SharedIndexInformer, slot: ReflectorSlot
) -> None:
    release = asyncio.Event()
    calls: list[str] = []

    async def slow_add(obj: Any) -> None:
        calls.append("start")
        await release.wait()
        calls.append("end")

    registration = informer.add_event_handler(ResourceEventHandlerFuncs(on_add=slow_add))
    await started(informer, slot)
    slot.store.replace([cm("a")], "1")
    await eventually(lambda: calls == ["start"])
    shutting = asyncio.create_task(informer.shut_down_event_handler(registration))
    for _ in range(10):
        await asyncio.sleep(0)
    assert not shutting.done(), "waits for the call in progress"
    release.set()
    await asyncio.wait_for(shutting, 5)
    assert calls == ["start", "end"]


async def test_removing_a_registration_of_another_informer_does_nothing(
    informer: SharedIndexInformer, slot: ReflectorSlot, clock: FakeClock
) -> None:
    other_slot = ReflectorSlot()
    other = SharedIndexInformer(None, GVR, reflector_factory=other_slot, clock=clock)
    recorder = Recorder()
    foreign = other.add_event_handler(recorder)
    try:
        await started(other, other_slot)
        informer.remove_event_handler(foreign)
        await informer.shut_down_event_handler(foreign)
        assert not foreign.is_removed and foreign in other.registrations
        other_slot.store.replace([cm("a")], "1")
        await eventually(lambda: len(recorder.events) == 1)
    finally:
        await other.stop()
