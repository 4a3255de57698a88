"""The delaying queue: a :class:`Queue` whose items can be added after a delay.

Pending items live in one min-heap ordered by ready time, with one timer (the injected clock's
``call_at``) armed for the earliest of them. When the timer fires, every item whose time has come
is passed to :meth:`Queue.add` and the timer is re-armed for the next one. No task, callback or
poll per item; adding an item later than the current earliest never touches the timer.

A re-add of a pending item keeps the EARLIER of the two ready times (client-go). Superseded heap
entries are left in place and skipped when popped; the heap is rebuilt if they pile up. The heap
holds bare float times (items sharing a time share an entry), which keeps pushes and pops cheap.
"""

from __future__ import annotations

import asyncio
import math
from heapq import heapify, heappop, heappush
from typing import Any

from pycontroller.clock import Clock, TimerHandle
from pycontroller.workqueue.metrics import MetricsProvider
from pycontroller.workqueue.queue import Queue, T, unhashable

__all__ = ["DelayingQueue"]

_INF = math.inf


class DelayingQueue(Queue[T]):
    """A :class:`Queue` with :meth:`add_after`. Same loop and thread rules as :class:`Queue`."""

    __slots__ = ("_due", "_heap", "_timer", "_timer_when", "_waiting")

    def __init__(
        self,
        *,
        name: str | None = None,
        clock: Clock | None = None,
        metrics: MetricsProvider | None = None,
    ) -> None:
        super().__init__(name=name, clock=clock, metrics=metrics)
        # Invariants:
        # _waiting maps each pending item to its ready time (the earliest asked for);
        # _heap is a min-heap of ready times, holding every key of _due (times popped
        #   from _due may linger in _heap; they are skipped);
        # _due maps a ready time to the item (or, if several, a list of items) given that time;
        #   an entry whose item is no longer waiting at that time is superseded and skipped;
        # every pending item is in _due under its _waiting time;
        # _timer is armed for _timer_when, which is <= every pending ready time (inf: no timer);
        # after shutdown _waiting, _due and _heap are empty and no timer is armed.
        # (Floats in the heap compare far faster than (time, seq, item) tuples.)
        self._heap: list[float] = []
        self._due: dict[float, Any] = {}
        self._waiting: dict[T, float] = {}
        self._timer: TimerHandle | None = None
        self._timer_when = _INF

    def add_after(self, item: T, seconds: float) -> None:
        """Add ``item`` once ``seconds`` have passed; never suspends.

        ``seconds <= 0`` adds at once. If ``item`` is already pending, the earlier ready time wins.
        ``inf`` waits until a sooner re-add. NaN raises ``ValueError``; an unhashable item raises
        ``TypeError``. Ignored after shutdown. Counts a retry in ``workqueue_retries_total``.
        """
        if self._shutting_down:
            return
        metrics = self._metrics
        if metrics is not None:
            metrics.retries += 1
        if not seconds > 0:
            if seconds != seconds:
                raise ValueError("add_after: the delay is NaN")
            self.add(item)
            return
        when = self._now() + seconds
        waiting = self._waiting
        try:
            old = waiting.get(item)
        except TypeError:
            raise unhashable(item) from None
        if old is not None:
            if old <= when:
                return
            if len(self._heap) > 2 * len(waiting) + 64:
                self._compact()
        waiting[item] = when
        due = self._due
        others = due.setdefault(when, item)  # one float hash for the common, collision-free case
        if others is item:
            # A new time (or, rarely, a superseded entry of this very item: the duplicate heap
            # time that this pushes is harmless, _fire skips times already popped).
            heappush(self._heap, when)
            if when < self._timer_when:
                self._arm(when)
        elif type(others) is list:
            others.append(item)
        else:
            due[when] = [others, item]

    def pending(self) -> int:
        """How many items wait for their ready time (not yet in the queue)."""
        return len(self._waiting)

    def _arm(self, when: float) -> None:
        if when == _INF:
            return
        timer = self._timer
        if timer is not None:
            timer.cancel()
        if self._loop is None:
            # Arming a timer on the running loop binds the queue to it.
            try:
                loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
            if loop is not None:
                self._bind_loop(loop)
        self._timer_when = when
        self._timer = self._clock.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_when = _INF
        now = self._now()
        heap = self._heap
        due = self._due
        waiting = self._waiting
        add = self.add
        while heap and heap[0] <= now:
            when = heappop(heap)
            items = due.pop(when, None)
            if items is None:
                continue
            if type(items) is not list:
                ready = waiting.pop(items, None)
                if ready == when:
                    add(items)
                elif ready is not None:  # superseded entry: the item waits for another time
                    waiting[items] = ready
                continue
            for item in items:
                if waiting.get(item) == when:
                    del waiting[item]
                    add(item)
        if heap:
            self._arm(heap[0])

    def _compact(self) -> None:
        """Drop superseded entries: rebuild _due and _heap from _waiting."""
        due: dict[float, Any] = {}
        for item, when in self._waiting.items():
            others = due.get(when)
            if others is None:
                due[when] = item
            elif type(others) is list:
                others.append(item)
            else:
                due[when] = [others, item]
        heap = list(due)
        heapify(heap)
        self._due = due
        self._heap = heap

    def _close(self) -> None:
        super()._close()
        timer = self._timer
        if timer is not None:
            timer.cancel()
        self._timer = None
        self._timer_when = _INF
        self._heap = []
        self._due = {}
        self._waiting.clear()

    def add_after_threadsafe(self, item: T, seconds: float) -> None:
        """:meth:`add_after` from any thread: scheduled on the queue's loop; returns at once."""
        self._check_hashable(item)
        if seconds != seconds:
            raise ValueError("add_after: the delay is NaN")
        self._require_loop().call_soon_threadsafe(self.add_after, item, seconds)
