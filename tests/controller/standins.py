"""Small local stand-ins for pieces built by other issues, used only until the real ones land.

``make_queue`` returns the real ``pycontroller.workqueue.RateLimitingQueue`` (with an exponential
limiter) when it exists, else a minimal queue with client-go's dirty/processing semantics.
``FakeInformer`` is an informer with ``add_event_handler`` and hand-fed events.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any


class _StandInQueue:
    def __init__(self, clock: Any, base: float, cap: float) -> None:
        self._clock = clock
        self._queue: collections.deque[Any] = collections.deque()
        self._dirty: set[Any] = set()
        self._processing: set[Any] = set()
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._shutdown = False
        self._failures: dict[Any, int] = {}
        self._base, self._cap = base, cap
        self._pending: dict[Any, float] = {}

    def __len__(self) -> int:
        return len(self._queue)

    def _wake(self) -> None:
        while self._waiters:
            w = self._waiters.popleft()
            if not w.done():
                w.set_result(None)
                return

    def add(self, item: Any) -> None:
        if self._shutdown or item in self._dirty:
            return
        self._dirty.add(item)
        if item in self._processing:
            return
        self._queue.append(item)
        self._wake()

    async def get(self) -> tuple[Any, bool]:
        while not self._queue and not self._shutdown:
            fut = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            await fut
        if not self._queue:
            return None, True
        item = self._queue.popleft()
        self._processing.add(item)
        self._dirty.discard(item)
        return item, False

    def done(self, item: Any) -> None:
        self._processing.discard(item)
        if item in self._dirty:
            self._queue.append(item)
            self._wake()

    def shut_down(self) -> None:
        self._shutdown = True
        for w in self._waiters:
            if not w.done():
                w.set_result(None)

    def add_after(self, item: Any, seconds: float) -> None:
        if seconds <= 0:
            self.add(item)
            return
        when = self._clock.now() + seconds
        if item in self._pending and self._pending[item] <= when:
            return
        self._pending[item] = when

        def fire() -> None:
            if self._pending.get(item) == when:
                del self._pending[item]
                self.add(item)

        self._clock.call_at(when, fire)

    def when(self, item: Any) -> float:
        n = self._failures.get(item, 0)
        self._failures[item] = n + 1
        return min(self._base * 2**n, self._cap)

    def add_rate_limited(self, item: Any) -> None:
        self.add_after(item, self.when(item))

    def forget(self, item: Any) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: Any) -> int:
        return self._failures.get(item, 0)


def make_queue(clock: Any, name: str | None = None, base: float = 0.005, cap: float = 1000.0) -> Any:
    try:
        from pycontroller.workqueue import ItemExponentialFailureRateLimiter, RateLimitingQueue
    except ImportError:
        return _StandInQueue(clock, base, cap)
    return RateLimitingQueue(ItemExponentialFailureRateLimiter(base, cap), name=name, clock=clock)


class FakeInformer:
    """Hand-fed informer: ``add``/``update``/``delete`` call every registered handler synchronously."""

    def __init__(self, synced: bool = True) -> None:
        self.handlers: list[Any] = []
        self.synced = synced

    def add_event_handler(self, handler: Any, resync_period: float | None = None) -> Any:
        self.handlers.append(handler)
        informer = self

        class Registration:
            def has_synced(self) -> bool:
                return informer.synced

        return Registration()

    def has_synced(self) -> bool:
        return self.synced

    def add(self, obj: Any, initial: bool = False) -> None:
        for h in self.handlers:
            h.on_add(obj, initial)

    def update(self, old: Any, new: Any) -> None:
        for h in self.handlers:
            h.on_update(old, new)

    def delete(self, obj: Any) -> None:
        for h in self.handlers:
            h.on_delete(obj)
