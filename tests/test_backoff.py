"""Backoff: client-go's reflector backoff (0.8 s doubling to 30 s, jitter 1.0, reset after 2 min)."""

from __future__ import annotations

import asyncio

import pytest

from pycontroller.backoff import Backoff
from pycontroller.testing import FakeClock


def test_delays_double_from_initial_up_to_the_cap_without_jitter() -> None:
    backoff = Backoff(0.8, 30.0, jitter=0.0, clock=FakeClock())
    delays = [backoff.next_delay() for _ in range(8)]
    assert delays == pytest.approx([0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0])


def test_jitter_stretches_each_delay_by_up_to_its_own_length() -> None:
    backoff = Backoff(0.8, 30.0, jitter=1.0, clock=FakeClock(), rng=lambda: 0.5)
    assert backoff.next_delay() == pytest.approx(1.2)
    assert backoff.next_delay() == pytest.approx(2.4)


def test_default_jittered_delays_stay_within_client_go_bounds() -> None:
    backoff = Backoff(clock=FakeClock())
    base = 0.8
    for _ in range(10):
        delay = backoff.next_delay()
        assert base <= delay < 2 * base
        base = min(base * 2, 30.0)


def test_a_healthy_period_of_reset_after_restarts_from_initial() -> None:
    clock = FakeClock()
    backoff = Backoff(1.0, 30.0, jitter=0.0, reset_after=120.0, clock=clock)
    assert [backoff.next_delay() for _ in range(3)] == [1.0, 2.0, 4.0]
    clock.advance(119.0)
    assert backoff.next_delay() == 8.0
    clock.advance(120.0)
    assert backoff.next_delay() == 1.0


def test_reset_restarts_the_sequence() -> None:
    backoff = Backoff(1.0, 30.0, jitter=0.0, clock=FakeClock())
    backoff.next_delay()
    backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() == 1.0


async def test_wait_sleeps_on_the_clock_and_honours_a_longer_hint() -> None:
    clock = FakeClock()
    backoff = Backoff(1.0, 30.0, jitter=0.0, clock=clock)
    task = asyncio.create_task(backoff.wait(at_least=5.0))
    await clock.step(4.9)
    assert not task.done()
    await clock.step(0.1)
    assert task.done() and task.result() == 5.0


@pytest.mark.parametrize(
    "kwargs",
    [{"initial": -1.0}, {"initial": 2.0, "maximum": 1.0}, {"factor": 0.5}, {"jitter": -0.1}],
)
def test_nonsense_parameters_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)
