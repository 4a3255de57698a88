"""Hypothesis state machines: Queue and DelayingQueue against a simple model, with worker tasks.

They check, after every step, that each worker holds exactly what the model says (so nothing is
lost, nothing duplicated, FIFO order and first-come-first-served getters), that no item is held by
two workers at once (stinginess), and, at teardown, that everything added came out.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule

from pycontroller.testing import FakeClock
from pycontroller.workqueue import DelayingQueue, Queue

from ._model import ITEMS, QueueMachine

SETTINGS = settings(max_examples=60, stateful_step_count=30, deadline=None)


class DelayingQueueMachine(QueueMachine):
    clock: FakeClock

    def make_queue(self) -> Queue[int]:
        self.clock = FakeClock()
        self.pending: dict[int, tuple[float, int]] = {}
        self.seq = 0
        return DelayingQueue(clock=self.clock)

    @rule(item=ITEMS, delay=st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.0, 3.0]))
    def add_after(self, item: int, delay: float) -> None:
        assert isinstance(self.queue, DelayingQueue)
        self.queue.add_after(item, delay)
        if not self.model.shut:
            if delay <= 0:
                self.model.add(item)
            else:
                ready = self.clock.now() + delay
                old = self.pending.get(item)
                if old is None or ready < old[0]:
                    self.seq += 1
                    self.pending[item] = (ready, self.seq)
        self.settle()

    @rule(dt=st.sampled_from([0.5, 1.0, 2.0]))
    def advance(self, dt: float) -> None:
        self.clock.advance(dt)
        now = self.clock.now()
        due = sorted((ready, seq, item) for item, (ready, seq) in self.pending.items() if ready <= now)
        for _, _, item in due:
            del self.pending[item]
            self.model.add(item)
        self.settle()

    @rule()
    def shut_down(self) -> None:
        if self.model.shut:
            return
        super().shut_down()
        self.pending.clear()

    @invariant()
    def pending_matches_the_model(self) -> None:
        assert isinstance(self.queue, DelayingQueue)
        assert self.queue.pending() == len(self.pending)
        # one timer at most, however many items wait
        assert self.clock.pending() <= 1


TestQueueAgainstModel = QueueMachine.TestCase
TestQueueAgainstModel.settings = SETTINGS
TestDelayingQueueAgainstModel = DelayingQueueMachine.TestCase
TestDelayingQueueAgainstModel.settings = SETTINGS
