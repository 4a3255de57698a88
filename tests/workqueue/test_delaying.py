"""DelayingQueue: add_after with a fake clock; one heap, one timer; earlier ready time wins."""

from __future__ import annotations

import asyncio
import math
import threading

import pytest

from pycontroller.testing import FakeClock
from pycontroller.workqueue import DelayingQueue


async def drain_now(q: DelayingQueue[str]) -> list[str]:
    out = []
    for _ in range(len(q)):
        item, _ = await q.get()
        q.done(item)
        out.append(item)
    return out


async def test_an_item_added_after_a_delay_appears_only_when_the_delay_has_passed() -> None:
    clock = FakeClock()
    q: DelayingQueue[str] = DelayingQueue(clock=clock)
    q.add_after("a", 5)
    clock.advance(4.999)
    assert len(q) == 0 and q.pending() == 1
    clock.advance(0.001)
    assert len(q) == 1 and q.pending() == 0
    assert await q.get() == ("a", False)


async def test_items_become_ready_in_ready_time_order() -> None:
    clock = FakeClock()
    q: DelayingQueue[str] = DelayingQueue(clock=clock)
    q.add_after("late", 3)
    q.add_after("early", 1)
    q.add_after("middle", 2)
    clock.advance(10)
    assert await drain_now(q) == ["early", "middle", "late"]


async def test_re_adding_sooner_keeps_the_earlier_deadline() -> None:
    clock = FakeClock()
    q: DelayingQueue[str] = DelayingQueue(clock=clock)
    q.add_after("a", 10)
    q.add_after("a", 2)
    clock.advance(2)
    assert await drain_now(q) == ["a"]
    clock.advance(20)
    assert len(q) == 0  # the superseded 10 s entry does not add it again


async def test_re_adding_later_keeps_the_earlier_deadline() -> None:
    clock = FakeClock()
    q: DelayingQueue[str] = DelayingQueue(clock=clock)
    q.add_after("a", 2)
    q.add_after("a", 10)
    clock.advance(2)
    assert await drain_now(q) == ["a"]
    clock.advance(20)
    assert len(q) == 0


@pytest.mark.parametrize("delay", [0, 0.0, -1, -math.inf])
async def test_a_delay_of_zero_or_less_adds_at_once(delay: float) -> None:
    clock = FakeClock()
    q: DelayingQueue[str] = DelayingQueue(clock=clock)
    q.add_after("a", delay)
    assert len(q) == 1 and q.pending() == 0
    assert clock.pending() == 0


async def test_a_nan_delay_is_rejected() -> None:
    q: DelayingQueue[str] = DelayingQueue(clock=FakeClock())
    with pytest.raises(ValueError, match="NaN"):
        q.add_after("a", math.nan)
    with pytest.raises(ValueError, match="NaN"):
        q.add_after_threadsafe("a", math.nan)


async def test_an_infinite_delay_waits_until_a_sooner_re_add() -> None:
    clock = FakeClock()
    q: DelayingQueue[str] = DelayingQueue(clock=clock)
    q.add_after("a", math.inf)
    clock.advance(1e9)
    assert len(q) == 0 and q.pending() == 1
    q.add_after("a", 1)
    clock.advance(1)
    assert len(q) == 1


async def test_an_unhashable_delayed_item_raises_type_error_naming_the_type() -> None:
    q: DelayingQueue[object] = DelayingQueue(clock=FakeClock())
    with pytest.raises(TypeError, match="'list'"):
        q.add_after([], 1)


async def test_many_pending_items_share_one_timer() -> None:
    clock = FakeClock()
    q: DelayingQueue[int] = DelayingQueue(clock=clock)
    for i in range(1000):
        q.add_after(i, 1 + (i * 7919 % 1000) / 100)
    assert clock.pending() == 1
    clock.advance(100)
    assert len(q) == 1000 and clock.pending() == 0


async def test_a_pending_item_that_is_already_queued_is_not_queued_twice() -> None:
    clock = FakeClock()
    q: DelayingQueue[str] = DelayingQueue(clock=clock)
    q.add("a")
    q.add_after("a", 1)
    clock.advance(1)
    assert await drain_now(q) == ["a"]


async def test_shut_down_drops_pending_items_and_cancels_the_timer() -> None:
    clock = FakeClock()
    q: DelayingQueue[str] = DelayingQueue(clock=clock)
    q.add_after("a", 1)
    q.shut_down()
    assert clock.pending() == 0 and q.pending() == 0
    q.add_after("b", 1)
    clock.advance(5)
    assert len(q) == 0 and clock.pending() == 0
    assert await q.get() == (None, True)


async def test_superseded_entries_do_not_pile_up() -> None:
    clock = FakeClock()
    q: DelayingQueue[str] = DelayingQueue(clock=clock)
    for i in range(10_000):
        q.add_after("a", 10_000 - i)  # each re-add is sooner than the last
    assert q.pending() == 1
    assert len(q._heap) < 200  # compacted as it goes
    clock.advance(1)
    assert len(q) == 1


async def test_the_default_clock_fires_on_the_event_loop() -> None:
    q: DelayingQueue[str] = DelayingQueue()
    q.add_after("a", 0.001)
    assert await asyncio.wait_for(q.get(), 5) == ("a", False)


def test_add_after_from_a_thread_uses_the_queues_loop() -> None:
    async def main() -> tuple[str, bool]:
        q: DelayingQueue[str] = DelayingQueue()
        getter = asyncio.create_task(q.get())
        thread = threading.Thread(target=q.add_after_threadsafe, args=("t", 0.001))
        thread.start()
        thread.join()
        return await asyncio.wait_for(getter, 5)

    assert asyncio.run(main()) == ("t", False)


@pytest.mark.looptime
async def test_the_default_clock_follows_looptimes_fake_loop_time() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    q: DelayingQueue[str] = DelayingQueue()
    q.add_after("a", 300)
    assert await q.get() == ("a", False)
    assert loop.time() - start == pytest.approx(300)
