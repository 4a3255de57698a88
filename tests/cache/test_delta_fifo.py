"""DeltaFIFO: client-go's queue of per-key changes between the reflector and the informer."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from pycontroller.cache.delta_fifo import Delta, DeltaFIFO, Deltas, DeltaType
from pycontroller.cache.keys import DeletedFinalStateUnknown
from pycontroller.cache.store import Indexer
from pycontroller.errors import InvalidObjectError, ShutDownError

ADDED, UPDATED, DELETED, REPLACED, SYNC = (
    DeltaType.ADDED,
    DeltaType.UPDATED,
    DeltaType.DELETED,
    DeltaType.REPLACED,
    DeltaType.SYNC,
)


def obj(name: str, rv: str = "1", ns: str = "ns") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns, "resourceVersion": rv}}


def types(deltas: Deltas | None) -> list[DeltaType]:
    assert deltas is not None
    return [d.type for d in deltas]


async def pop_all(fifo: DeltaFIFO) -> list[tuple[Deltas, bool]]:
    popped: list[tuple[Deltas, bool]] = []
    while len(fifo):
        await fifo.pop(lambda deltas, initial: popped.append((deltas, initial)))
    return popped


def apply(cache: Indexer, deltas: Deltas) -> None:
    for delta in deltas:
        if delta.type is DELETED:
            cache.delete(delta.object)
        else:
            cache.update(delta.object)


async def test_changes_to_one_key_accumulate_in_order_and_the_key_is_queued_once() -> None:
    fifo = DeltaFIFO()
    fifo.add(obj("a"))
    fifo.add(obj("b"))
    fifo.update(obj("a", "2"))
    assert fifo.list_keys() == ["ns/a", "ns/b"]
    assert types(fifo.get_by_key("ns/a")) == [ADDED, UPDATED]
    popped = await pop_all(fifo)
    assert [types(d) for d, _ in popped] == [[ADDED, UPDATED], [ADDED]]
    assert popped[0][0][-1].object["metadata"]["resourceVersion"] == "2"


async def test_two_consecutive_deletes_merge_keeping_the_older_one() -> None:
    fifo = DeltaFIFO()
    fifo.add(obj("a"))
    first, second = obj("a", "2"), obj("a", "3")
    fifo.delete(first)
    fifo.delete(second)
    deltas = fifo.get_by_key("ns/a")
    assert types(deltas) == [ADDED, DELETED]
    assert deltas is not None and deltas[-1].object is first


async def test_a_real_delete_replaces_a_tombstone_but_not_the_other_way_round() -> None:
    cache = Indexer()
    cache.add(obj("a"))
    fifo = DeltaFIFO(known_objects=cache)
    fifo.replace([], "5")
    assert isinstance(fifo.get_by_key("ns/a")[-1].object, DeletedFinalStateUnknown)  # type: ignore[index]
    final = obj("a", "4")
    fifo.delete(final)
    assert fifo.get_by_key("ns/a") == [Delta(DELETED, final)]
    fifo.replace([], "6")
    assert fifo.get_by_key("ns/a") == [Delta(DELETED, final)]


async def test_non_delete_deltas_never_merge() -> None:
    fifo = DeltaFIFO()
    fifo.update(obj("a"))
    fifo.update(obj("a"))
    fifo.delete(obj("a"))
    fifo.add(obj("a"))
    fifo.delete(obj("a"))
    assert types(fifo.get_by_key("ns/a")) == [UPDATED, UPDATED, DELETED, ADDED, DELETED]


def test_deleting_a_key_neither_queued_nor_known_is_ignored() -> None:
    fifo = DeltaFIFO(known_objects=Indexer())
    fifo.delete(obj("ghost"))
    assert len(fifo) == 0
    known = Indexer()
    known.add(obj("a"))
    fifo = DeltaFIFO(known_objects=known)
    fifo.delete(obj("a"))
    assert types(fifo.get_by_key("ns/a")) == [DELETED]


async def test_replace_emits_replaced_and_tombstones_for_vanished_keys() -> None:
    known = Indexer()
    cached_b = obj("b", "3")
    known.add(cached_b)
    fifo = DeltaFIFO(known_objects=known)
    fifo.add(obj("q", "9"))  # queued but not listed any more
    fifo.replace([obj("a", "10")], "10")
    assert types(fifo.get_by_key("ns/a")) == [REPLACED]
    assert fifo.get_by_key("ns/b") == [Delta(DELETED, DeletedFinalStateUnknown("ns/b", cached_b))]
    q = fifo.get_by_key("ns/q")
    assert q is not None and types(q) == [ADDED, DELETED]
    assert q[-1].object == DeletedFinalStateUnknown("ns/q", obj("q", "9"))
    assert fifo.resource_version == "10"


async def test_replace_with_an_unnamed_object_raises_and_queues_nothing() -> None:
    fifo = DeltaFIFO()
    with pytest.raises(InvalidObjectError):
        fifo.replace([obj("a"), {"metadata": {}}], "1")
    assert len(fifo) == 0 and not fifo.has_synced()


async def test_has_synced_once_the_first_replace_batch_is_popped() -> None:
    known = Indexer()
    known.add(obj("gone"))
    fifo = DeltaFIFO(known_objects=known)
    assert not fifo.has_synced()
    fifo.replace([obj("a"), obj("b")], "1")
    fifo.add(obj("c"))
    initial_flags = []
    for _ in range(3):
        assert not fifo.has_synced()
        await fifo.pop(lambda d, initial: initial_flags.append(initial))
    assert fifo.has_synced()
    await fifo.pop(lambda d, initial: initial_flags.append(initial))
    assert initial_flags == [True, True, True, False]


def test_a_first_write_that_is_not_a_replace_counts_as_synced() -> None:
    fifo = DeltaFIFO()
    fifo.add(obj("a"))
    assert fifo.has_synced()


async def test_resync_queues_sync_for_known_keys_with_nothing_queued() -> None:
    known = Indexer()
    a, b = obj("a"), obj("b")
    known.add(a)
    known.add(b)
    fifo = DeltaFIFO(known_objects=known)
    fifo.update(obj("b", "2"))
    fifo.resync()
    assert fifo.get_by_key("ns/a") == [Delta(SYNC, a)]
    assert types(fifo.get_by_key("ns/b")) == [UPDATED]
    DeltaFIFO().resync()  # no known objects: nothing to do


async def test_the_transformer_applies_to_new_objects_but_not_to_syncs_or_tombstones() -> None:
    seen: list[Any] = []

    def transform(o: dict[str, Any]) -> dict[str, Any]:
        seen.append(o)
        return {**o, "transformed": True}

    known = Indexer()
    cached = obj("k")
    known.add(cached)
    fifo = DeltaFIFO(known_objects=known, transformer=transform)
    fifo.add(obj("a"))
    fifo.resync()
    assert fifo.get_by_key("ns/a")[0].object["transformed"]  # type: ignore[index]
    assert fifo.get_by_key("ns/k")[0].object is cached  # type: ignore[index]
    fifo.replace([], "2")
    assert len(seen) == 1


async def test_pop_waits_for_an_item() -> None:
    fifo = DeltaFIFO()
    got: list[Deltas] = []
    task = asyncio.create_task(fifo.pop(lambda d, initial: got.append(d)))
    await asyncio.sleep(0)
    assert not task.done()
    fifo.add(obj("a"))
    deltas = await asyncio.wait_for(task, 5)
    assert got == [deltas] and types(deltas) == [ADDED]


async def test_an_async_process_function_is_awaited() -> None:
    fifo = DeltaFIFO()
    fifo.add(obj("a"))
    done: list[str] = []

    async def process(deltas: Deltas, initial: bool) -> None:
        await asyncio.sleep(0)
        done.append(deltas[0].object["metadata"]["name"])

    await fifo.pop(process)
    assert done == ["a"]


async def test_a_failing_process_puts_the_deltas_back_at_the_end_before_newer_ones() -> None:
    fifo = DeltaFIFO()
    fifo.add(obj("a"))
    fifo.add(obj("b"))

    async def failing(deltas: Deltas, initial: bool) -> None:
        fifo.update(obj("a", "2"))  # arrives while processing
        raise RuntimeError("handler broke")

    with pytest.raises(RuntimeError, match="handler broke"):
        await fifo.pop(failing)
    assert fifo.list_keys() == ["ns/b", "ns/a"]
    assert types(fifo.get_by_key("ns/a")) == [ADDED, UPDATED]


async def test_a_failing_initial_item_keeps_the_fifo_unsynced() -> None:
    fifo = DeltaFIFO()
    fifo.replace([obj("a")], "1")

    def failing(deltas: Deltas, initial: bool) -> None:
        raise ValueError("x")

    with pytest.raises(ValueError):
        await fifo.pop(failing)
    assert not fifo.has_synced()
    await fifo.pop(lambda d, i: None)
    assert fifo.has_synced()


async def test_close_drains_what_is_queued_then_pop_raises_shut_down() -> None:
    fifo = DeltaFIFO()
    waiter = asyncio.create_task(fifo.pop(lambda d, i: None))
    await asyncio.sleep(0)
    fifo.close()
    with pytest.raises(ShutDownError):
        await asyncio.wait_for(waiter, 5)
    fifo.add(obj("late"))
    assert fifo.is_closed
    assert types(await fifo.pop(lambda d, i: None)) == [ADDED]
    with pytest.raises(ShutDownError):
        await fifo.pop(lambda d, i: None)


def test_list_returns_the_newest_object_of_each_queued_key() -> None:
    fifo = DeltaFIFO()
    fifo.add(obj("a", "1"))
    fifo.update(obj("a", "2"))
    fifo.add(obj("b", "1"))
    assert [o["metadata"]["resourceVersion"] for o in fifo.list()] == ["2", "1"]
    assert fifo.get(obj("b")) is not None
    fifo.update_resource_version("77")
    assert fifo.resource_version == "77"


NAMES = st.sampled_from(["a", "b", "c", "d", "e"])


class FifoMachine(RuleBasedStateMachine):
    """Producers write any sequence; a consumer popping into a cache converges to the truth.

    The model is the producer's truth (the server). After draining, the cache equals it; at every
    step, the FIFO's structure holds (each key queued once, no empty lists, no adjacent deletes),
    and each popped story is consistent with the cache it is applied to.
    """

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.cache = Indexer()
        self.fifo = DeltaFIFO(known_objects=self.cache)
        self.truth: dict[str, dict[str, Any]] = {}
        self.rv = 0

    def teardown(self) -> None:
        self.loop.close()

    def next_obj(self, name: str) -> dict[str, Any]:
        self.rv += 1
        return obj(name, str(self.rv))

    @rule(name=NAMES)
    def add_or_update(self, name: str) -> None:
        o = self.next_obj(name)
        if f"ns/{name}" in self.truth:
            self.fifo.update(o)
        else:
            self.fifo.add(o)
        self.truth[f"ns/{name}"] = o

    @rule(name=NAMES)
    def delete(self, name: str) -> None:
        o = self.truth.pop(f"ns/{name}", None) or obj(name, "0")
        self.fifo.delete(o)

    @rule(names=st.sets(NAMES))
    def relist(self, names: set[str]) -> None:
        listed = {f"ns/{n}": self.truth.get(f"ns/{n}") or self.next_obj(n) for n in sorted(names)}
        self.truth = dict(listed)
        self.fifo.replace(list(listed.values()), str(self.rv))

    @rule()
    def resync(self) -> None:
        self.fifo.resync()

    def process(self, deltas: Deltas, initial: bool) -> None:
        for delta in deltas:
            if delta.type is SYNC:
                assert self.cache.get(delta.object) is delta.object
            if delta.type is DELETED and isinstance(delta.object, DeletedFinalStateUnknown):
                assert self.cache.get_by_key(delta.object.key) is not None or delta.object.obj is not None
        apply(self.cache, deltas)

    @precondition(lambda self: len(self.fifo) > 0)
    @rule()
    def pop(self) -> None:
        self.loop.run_until_complete(self.fifo.pop(self.process))

    @precondition(lambda self: len(self.fifo) > 0)
    @rule()
    def pop_failing(self) -> None:
        before = {k: self.fifo.get_by_key(k) for k in self.fifo.list_keys()}
        head = self.fifo.list_keys()[0]

        def broken(deltas: Deltas, initial: bool) -> None:
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            self.loop.run_until_complete(self.fifo.pop(broken))
        assert {k: self.fifo.get_by_key(k) for k in self.fifo.list_keys()} == before
        assert self.fifo.list_keys()[-1] == head

    @rule()
    def drain(self) -> None:
        while len(self.fifo):
            self.loop.run_until_complete(self.fifo.pop(self.process))
        assert {k: o for k, o in zip(self.cache.list_keys(), self.cache.list(), strict=True)} == self.truth
        assert self.fifo.has_synced() or not self.fifo._populated

    @invariant()
    def structure_holds(self) -> None:
        keys = self.fifo.list_keys()
        assert len(keys) == len(set(keys)) == len(self.fifo._items)
        for key in keys:
            deltas = self.fifo.get_by_key(key)
            assert deltas
            for older, newer in itertools.pairwise(deltas):
                assert not (older.type is DELETED and newer.type is DELETED)


TestFifoMachine = FifoMachine.TestCase
TestFifoMachine.settings = settings(max_examples=80, stateful_step_count=40, deadline=None)


def test_an_empty_first_list_reports_the_sync_through_on_synced() -> None:
    calls: list[str] = []
    fifo = DeltaFIFO()
    fifo.on_synced = lambda: calls.append("synced")
    fifo.replace([], "1")
    assert fifo.has_synced() and calls == ["synced"]
    fifo.replace([], "2")
    assert calls == ["synced"]


def test_a_non_empty_first_list_leaves_the_sync_to_the_consumer() -> None:
    calls: list[str] = []
    fifo = DeltaFIFO()
    fifo.on_synced = lambda: calls.append("synced")
    fifo.replace([obj("a")], "1")
    assert calls == [] and not fifo.has_synced()


def test_an_unnamed_object_is_refused_without_changing_anything() -> None:
    fifo = DeltaFIFO()
    for write in (fifo.add, fifo.update, fifo.delete):
        with pytest.raises(InvalidObjectError):
            write({"metadata": {"namespace": "ns"}})
    assert len(fifo) == 0 and not fifo.has_synced()


# -- client-go's KeyOf and Replace order --------------------------------------------------------


def test_key_of_takes_a_deltas_list_keyed_by_its_newest_object_and_a_tombstone() -> None:
    fifo = DeltaFIFO()
    deltas = [Delta(ADDED, obj("old", ns="x")), Delta(UPDATED, obj("a"))]
    assert fifo.key_of(deltas) == "ns/a"
    assert fifo.key_of([Delta(DELETED, DeletedFinalStateUnknown("ns/gone", None))]) == "ns/gone"
    assert fifo.key_of(DeletedFinalStateUnknown("ns/t", obj("t"))) == "ns/t"
    with pytest.raises(InvalidObjectError, match="empty Deltas"):
        fifo.key_of([])


def test_replace_queues_tombstones_in_the_known_stores_list_keys_order() -> None:
    class Known:
        """A known-objects store whose list_keys() order is chosen by the test."""

        def __init__(self, keys: list[str]) -> None:
            self.keys = keys

        def list_keys(self) -> list[str]:
            return list(self.keys)

        def get_by_key(self, key: str) -> Any:
            ns, name = key.split("/")
            return obj(name, ns=ns)

    order = [f"ns/k{i}" for i in (7, 3, 9, 1, 5, 0, 8, 2, 6, 4)]
    fifo = DeltaFIFO(known_objects=Known([*order, "ns/kept"]))
    fifo.replace([obj("kept")], "5")
    assert fifo.list_keys() == ["ns/kept", *order], "not set order: the known store's order"
    for key in order:
        (delta,) = fifo.get_by_key(key) or []
        assert delta.type is DELETED and delta.object == DeletedFinalStateUnknown(
            key, fifo._known.get_by_key(key)
        )  # type: ignore[union-attr]
