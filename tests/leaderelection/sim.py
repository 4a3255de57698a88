"""Drive a FakeClock like a discrete-event simulation: jump to each timer, let woken tasks run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pycontroller.testing import FakeClock


async def settle(rounds: int = 30) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


async def run_until(clock: FakeClock, t_end: float, stop: Callable[[], bool] | None = None) -> None:
    """Advance ``clock`` to ``t_end`` one timer at a time (or until ``stop()`` is true)."""
    await settle()
    while clock.now() < t_end:
        if stop is not None and stop():
            return
        nxt = clock.next_deadline()
        target = t_end if nxt is None or nxt > t_end else nxt
        clock.advance(max(0.0, target - clock.now()))
        await settle()


async def run_for(clock: FakeClock, seconds: float, stop: Callable[[], bool] | None = None) -> None:
    await run_until(clock, clock.now() + seconds, stop)
