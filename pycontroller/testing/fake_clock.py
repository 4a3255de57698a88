"""A clock that only moves when a test moves it.

``FakeClock`` implements :class:`pycontroller.clock.Clock`. Time starts at ``start`` (monotonic) and
``wall_start`` (epoch) and advances only through :meth:`FakeClock.advance` or
:meth:`FakeClock.step`. Timers from ``call_at`` and sleepers from ``sleep`` fire in time order as time
passes them; their callbacks run synchronously inside ``advance`` (sleepers are resumed on the loop).

Typical use::

    clock = FakeClock()
    queue = DelayingQueue(clock=clock)
    queue.add_after("a", 5)
    await clock.step(5)        # advance and let woken tasks run
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable

__all__ = ["FakeClock", "FakeTimer"]


class FakeTimer:
    """A pending callback of a :class:`FakeClock`; ``cancel()`` is idempotent."""

    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], object]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """Deterministic time for tests. Not thread-safe: use it from the test's event loop."""

    def __init__(self, start: float = 1000.0, wall_start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._wall_offset = wall_start - start
        self._timers: list[tuple[float, int, FakeTimer]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now + self._wall_offset

    def call_at(self, when: float, callback: Callable[[], object]) -> FakeTimer:
        timer = FakeTimer(when, callback)
        heapq.heappush(self._timers, (when, next(self._seq), timer))
        return timer

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not fut.done():
                fut.set_result(None)

        timer = self.call_at(self._now + seconds, wake)
        try:
            await fut
        finally:
            timer.cancel()

    def pending(self) -> int:
        """How many timers (and sleepers) wait to fire."""
        return sum(1 for _, _, t in self._timers if not t.cancelled)

    def next_deadline(self) -> float | None:
        """The earliest time a pending timer fires, or None."""
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, firing every timer due on the way, in order.

        Never suspends; tasks woken by it run at the caller's next await (see :meth:`step`).
        """
        if seconds < 0:
            raise ValueError("a FakeClock cannot go backwards")
        target = self._now + seconds
        while self._timers and self._timers[0][0] <= target:
            when, _, timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self._now = max(self._now, when)
            timer.callback()
        self._now = target

    async def step(self, seconds: float = 0.0, *, settle: int = 20) -> None:
        """Let ready tasks run, advance by ``seconds``, then let the woken tasks run.

        Yields to the loop ``settle`` times before advancing (so tasks just created get to register
        their timers) and ``settle`` times after.
        """
        for _ in range(settle):
            await asyncio.sleep(0)
        self.advance(seconds)
        for _ in range(settle):
            await asyncio.sleep(0)
