from __future__ import annotations

import asyncio

import pytest

from pycontroller.clock import Clock, LoopClock
from pycontroller.testing import FakeClock


def test_both_clocks_satisfy_the_clock_protocol() -> None:
    assert isinstance(FakeClock(), Clock)
    assert isinstance(LoopClock(), Clock)


def test_timers_fire_in_time_order_as_time_passes_them() -> None:
    clock = FakeClock(start=0.0)
    fired: list[tuple[str, float]] = []
    clock.call_at(5, lambda: fired.append(("b", clock.now())))
    clock.call_at(2, lambda: fired.append(("a", clock.now())))
    cancelled = clock.call_at(3, lambda: fired.append(("cancelled", clock.now())))
    cancelled.cancel()
    clock.advance(4)
    assert fired == [("a", 2.0)]
    assert clock.now() == 4.0
    clock.advance(1)
    assert fired == [("a", 2.0), ("b", 5.0)]
    assert clock.pending() == 0


def test_the_fake_clock_refuses_to_go_backwards() -> None:
    with pytest.raises(ValueError):
        FakeClock().advance(-1)


async def test_a_sleeper_wakes_only_when_its_time_is_reached() -> None:
    clock = FakeClock()
    task = asyncio.create_task(clock.sleep(10))
    await clock.step(9.9)
    assert not task.done()
    await clock.step(0.1)
    assert task.done()


async def test_the_wall_clock_moves_with_the_monotonic_one() -> None:
    clock = FakeClock(start=0.0, wall_start=1000.0)
    await clock.step(2.5)
    assert clock.wall() == 1002.5


async def test_the_loop_clock_reads_the_running_loop() -> None:
    clock = LoopClock()
    loop = asyncio.get_running_loop()
    assert abs(clock.now() - loop.time()) < 1.0
    fired = asyncio.Event()
    clock.call_at(loop.time(), fired.set)
    await asyncio.wait_for(fired.wait(), 5)
