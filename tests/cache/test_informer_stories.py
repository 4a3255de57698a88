"""Property: whatever the reflector feeds the informer, every handler hears a consistent story.

A state machine writes random adds, updates, deletes, relists (which may miss deletes) and resyncs
into the informer's DeltaFIFO, adds a late handler and removes nothing; whenever everything has
been delivered, the cache equals the producer's truth and each handler's own reconstruction of
the world (from its adds, updates and deletes) equals the cache. Along the way each handler sees an
add before any update or delete of a key, updates whose ``old`` is what it last saw, and nothing
after a delete but a new add.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from pycontroller.cache.informer import SharedIndexInformer
from pycontroller.cache.keys import DeletedFinalStateUnknown
from pycontroller.client import GroupVersionResource
from pycontroller.testing import FakeClock
from tests.cache.informer_support import ReflectorSlot

NAMES = st.sampled_from(["a", "b", "c", "d"])


def rv_of(obj: Any) -> str:
    return str(obj["metadata"]["resourceVersion"])


class StoryHandler:
    """Rebuilds the world from notifications, asserting the story is consistent."""

    def __init__(self) -> None:
        self.view: dict[str, str] = {}  # key -> resourceVersion
        self.problems: list[str] = []

    @staticmethod
    def key(obj: Any) -> str:
        return f"ns/{obj['metadata']['name']}"

    def on_add(self, obj: Any, is_in_initial_list: bool) -> None:
        key = self.key(obj)
        if key in self.view:
            self.problems.append(f"add of {key} that was already there")
        self.view[key] = rv_of(obj)

    def on_update(self, old: Any, new: Any) -> None:
        key = self.key(new)
        if key not in self.view:
            self.problems.append(f"update of unknown {key}")
        elif self.view[key] != rv_of(old):
            self.problems.append(f"update of {key} from {rv_of(old)} but the handler had {self.view[key]}")
        self.view[key] = rv_of(new)

    def on_delete(self, obj: Any) -> None:
        key = obj.key if isinstance(obj, DeletedFinalStateUnknown) else self.key(obj)
        if key not in self.view:
            self.problems.append(f"delete of unknown {key}")
        self.view.pop(key, None)


class InformerStories(RuleBasedStateMachine):
    in_order = True

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock()
        self.slot = ReflectorSlot()
        self.informer = SharedIndexInformer(
            None,
            GroupVersionResource("", "v1", "configmaps"),
            reflector_factory=self.slot,
            clock=self.clock,
            in_order=self.in_order,
        )
        self.handlers = [StoryHandler(), StoryHandler()]
        self.informer.add_event_handler(self.handlers[0])
        self.informer.add_event_handler(self.handlers[1], resync_period=1)
        self.late_added = False
        self.truth: dict[str, dict[str, Any]] = {}
        self.rv = 0

        async def start() -> None:
            self.informer.start()
            for _ in range(10):
                await asyncio.sleep(0)

        self.loop.run_until_complete(start())
        assert self.slot.reflector is not None

    def teardown(self) -> None:
        self.loop.run_until_complete(self.informer.stop())
        self.loop.close()

    @property
    def fifo(self) -> Any:
        return self.slot.store

    def new_version(self, name: str) -> dict[str, Any]:
        self.rv += 1
        return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": str(self.rv)}}

    @rule(name=NAMES)
    def create_or_update(self, name: str) -> None:
        key = f"ns/{name}"
        obj = self.new_version(name)
        (self.fifo.update if key in self.truth else self.fifo.add)(obj)
        self.truth[key] = obj

    @rule(name=NAMES)
    def delete(self, name: str) -> None:
        obj = self.truth.pop(f"ns/{name}", None)
        # A delete of something already gone (a duplicate DELETED event) must change nothing.
        self.fifo.delete(obj if obj is not None else self.new_version(name))

    @rule(names=st.sets(NAMES), changed=st.sets(NAMES))
    def relist(self, names: set[str], changed: set[str]) -> None:
        listed = {}
        for name in sorted(names):
            key = f"ns/{name}"
            current = self.truth.get(key)
            if current is None or name in changed:
                listed[key] = self.new_version(name)
            else:  # unchanged, but a freshly decoded dict, as a real relist gives
                listed[key] = {"metadata": dict(current["metadata"])}
        self.truth = listed
        self.fifo.replace(list(listed.values()), str(self.rv))

    @rule()
    def tick(self) -> None:
        self.loop.run_until_complete(self.clock.step(1.0, settle=2))

    @rule()
    def run_a_little(self) -> None:
        self.loop.run_until_complete(self.clock.step(0, settle=3))

    @precondition(lambda self: not self.late_added)
    @rule()
    def add_late_handler(self) -> None:
        self.late_added = True
        handler = StoryHandler()
        self.handlers.append(handler)
        self.informer.add_event_handler(handler)

    @rule()
    def settle(self) -> None:
        async def drain() -> None:
            for _ in range(10_000):
                if not len(self.fifo) and not self.informer.backlog():
                    return
                await asyncio.sleep(0)
            raise AssertionError("the informer did not settle")

        self.loop.run_until_complete(drain())
        cache = {
            k: rv_of(o)
            for k, o in zip(self.informer.indexer.list_keys(), self.informer.indexer.list(), strict=True)
        }
        assert cache == {k: rv_of(o) for k, o in self.truth.items()}
        for handler in self.handlers:
            assert handler.view == cache

    @invariant()
    def stories_are_consistent(self) -> None:
        for handler in self.handlers:
            assert handler.problems == []


class DeltaFIFOInformerStories(InformerStories):
    in_order = False


TestInformerStories = InformerStories.TestCase
TestInformerStories.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestDeltaFIFOInformerStories = DeltaFIFOInformerStories.TestCase
TestDeltaFIFOInformerStories.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
