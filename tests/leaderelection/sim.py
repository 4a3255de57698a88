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


class SimClock(FakeClock):
    """A FakeClock that knows how many tasks are parked in sleep(), so a driver can move fake time
    only once every elector finished its real HTTP round trip and is waiting on the clock."""

    def __init__(self) -> None:
        super().__init__()
        self.parked = 0

    async def sleep(self, seconds: float) -> None:
        self.parked += 1
        try:
            await super().sleep(seconds)
        finally:
            self.parked -= 1


async def drive(
    clock: SimClock,
    seconds: float,
    parked: Callable[[], int],
    stop: Callable[[], bool] | None = None,
    real_timeout: float = 20.0,
) -> None:
    """Advance fake time by ``seconds``, one timer at a time, each time after ``parked()`` tasks
    are asleep on the clock (their requests answered). ``stop()`` ends early."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + real_timeout
    t_end = clock.now() + seconds
    while True:
        while clock.parked < parked():
            if loop.time() > give_up:
                raise AssertionError(f"only {clock.parked} of {parked()} tasks parked on the clock")
            await asyncio.sleep(0.002)
        await settle()
        if stop is not None and stop():
            return
        if clock.now() >= t_end:
            return
        nxt = clock.next_deadline()
        target = t_end if nxt is None or nxt > t_end else nxt
        clock.advance(max(0.0, target - clock.now()))
        await settle()
