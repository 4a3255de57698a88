"""A plain, obviously-correct model of the work queue, and a state machine driving the real one.

The model follows client-go's rules literally (dirty set, processing set, FIFO list) plus this
package's hand-off rule: an item is given straight to the longest-waiting worker.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from pycontroller.workqueue import Queue

ITEMS = st.integers(min_value=0, max_value=5)
WORKERS = 3


class Model:
    def __init__(self) -> None:
        self.queue: list[int] = []
        self.dirty: set[int] = set()
        self.processing: set[int] = set()
        self.waiting: deque[int] = deque()  # workers blocked in get(), oldest first
        self.holding: dict[int, int | None] = dict.fromkeys(range(WORKERS))
        self.exited: set[int] = set()
        self.shut = False

    def add(self, item: int) -> None:
        if self.shut or item in self.dirty:
            return
        self.dirty.add(item)
        if item in self.processing:
            return
        self.queue.append(item)
        self.dispatch()

    def dispatch(self) -> None:
        while self.queue and self.waiting:
            self.take(self.waiting.popleft())

    def take(self, worker: int) -> None:
        item = self.queue.pop(0)
        self.dirty.remove(item)
        self.processing.add(item)
        self.holding[worker] = item

    def ask(self, worker: int) -> None:
        """``worker`` calls get()."""
        if self.queue:
            self.take(worker)
        elif self.shut:
            self.exited.add(worker)
        else:
            self.waiting.append(worker)

    def finish(self, worker: int) -> None:
        item = self.holding[worker]
        assert item is not None
        self.holding[worker] = None
        self.processing.remove(item)
        if item in self.dirty:
            self.queue.append(item)
            self.dispatch()
        self.ask(worker)

    def shut_down(self) -> None:
        self.shut = True
        while self.waiting:
            self.exited.add(self.waiting.popleft())


class QueueMachine(RuleBasedStateMachine):
    """Several worker tasks on a real queue, checked against :class:`Model` after every step."""

    def make_queue(self) -> Queue[int]:
        return Queue()

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.model = Model()
        self.queue = self.loop.run_until_complete(self._make())
        self.holding: dict[int, int | None] = dict.fromkeys(range(WORKERS))
        self.release: dict[int, asyncio.Event] = {}
        self.tasks: dict[int, asyncio.Task[Any]] = {}
        for w in range(WORKERS):
            self.start_worker(w)
            self.model.ask(w)
        self.settle()

    async def _make(self) -> Queue[int]:
        return self.make_queue()

    def start_worker(self, w: int) -> None:
        self.release[w] = asyncio.Event()
        self.tasks[w] = self.loop.create_task(self.worker(w))

    async def worker(self, w: int) -> None:
        while True:
            item, shutdown = await self.queue.get()
            if shutdown:
                return
            assert item not in self.holding.values(), "one item handed to two workers"
            self.holding[w] = item
            await self.release[w].wait()
            self.release[w].clear()
            self.holding[w] = None
            self.queue.done(item)

    def settle(self) -> None:
        async def spin() -> None:
            for _ in range(10):
                await asyncio.sleep(0)

        self.loop.run_until_complete(spin())

    @rule(item=ITEMS)
    def add(self, item: int) -> None:
        self.queue.add(item)
        self.model.add(item)
        self.settle()

    @rule(w=st.integers(0, WORKERS - 1))
    def finish(self, w: int) -> None:
        if self.model.holding[w] is None:
            return
        self.release[w].set()
        self.model.finish(w)
        self.settle()

    @rule(items=st.lists(ITEMS, min_size=1, max_size=3), w=st.integers(0, WORKERS - 1))
    def add_then_cancel_a_waiting_worker(self, items: list[int], w: int) -> None:
        """Cancel a getter in the same step items may be handed to it: nothing may be lost."""
        if w not in self.model.waiting:
            return
        for item in items:
            self.queue.add(item)
        self.tasks[w].cancel()
        self.settle()
        for item in items:
            self.model.add(item)
        handed = self.model.holding[w]
        if handed is not None:  # handed to w, then given back to the front of the queue
            self.model.holding[w] = None
            self.model.processing.remove(handed)
            self.model.dirty.add(handed)
            self.model.queue.insert(0, handed)
            self.model.dispatch()
        else:
            self.model.waiting.remove(w)
        self.start_worker(w)
        self.model.ask(w)
        self.settle()

    @precondition(lambda self: not self.model.shut)
    @rule()
    def shut_down(self) -> None:
        self.queue.shut_down()
        self.model.shut_down()
        self.settle()

    @invariant()
    def matches_the_model(self) -> None:
        assert self.holding == self.model.holding
        assert len(self.queue) == len(self.model.queue)
        for w in range(WORKERS):
            assert self.tasks[w].done() == (w in self.model.exited)
        assert self.queue.shutting_down() == self.model.shut

    def teardown(self) -> None:
        # Finish everything: every item added must come out, each once per dirty period.
        self.queue.shut_down()
        self.model.shut_down()
        self.settle()
        for _ in range(50):
            busy = [w for w in range(WORKERS) if self.model.holding[w] is not None]
            if not busy:
                break
            for w in busy:
                self.release[w].set()
                self.model.finish(w)
                self.settle()
                assert self.holding == self.model.holding
        assert not self.model.dirty and not self.model.queue
        assert all(t.done() for t in self.tasks.values())
        self.loop.close()
