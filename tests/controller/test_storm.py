"""Hypothesis event storms: many workers never reconcile one key at once, and nothing is lost."""

from __future__ import annotations

import asyncio
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from pycontroller.controller import Controller
from pycontroller.testing import FakeClock
from tests.controller.helpers import make_queue

_seq = itertools.count()

events = st.lists(
    # key, yields after, next reconcile fails, enqueued in the low-priority lane
    st.tuples(st.integers(0, 7), st.integers(0, 4), st.booleans(), st.booleans()),
    min_size=1,
    max_size=120,
)


async def _storm(script: list[tuple[int, int, bool, bool]], workers: int) -> None:
    clock = FakeClock()
    tick = itertools.count()
    in_flight: set[str] = set()
    overlaps: list[str] = []
    fail_next: dict[str, bool] = {}
    last_enqueued: dict[str, int] = {}
    last_started: dict[str, int] = {}

    async def reconcile(key: str) -> None:
        if key in in_flight:
            overlaps.append(key)
        in_flight.add(key)
        last_started[key] = next(tick)
        try:
            for _ in range(3):
                await asyncio.sleep(0)
            if fail_next.pop(key, False):
                raise RuntimeError("injected")
        finally:
            in_flight.discard(key)

    ctl = Controller(
        f"storm-{next(_seq)}",
        reconcile,
        max_concurrent_reconciles=workers,
        clock=clock,
        queue=make_queue(clock, base=0.001, cap=0.01),
        skip_name_validation=True,
    )
    run = asyncio.create_task(ctl.run())
    await asyncio.sleep(0)
    for index, yields, fail, low in script:
        key = f"ns/k{index}"
        if fail:
            fail_next[key] = True
        last_enqueued[key] = next(tick)
        if low:
            ctl.enqueue_low_priority(key)
        else:
            ctl.enqueue(key)
        for _ in range(yields):
            await asyncio.sleep(0)
    # Let everything settle: retries fire as fake time passes; failures were one-shot.
    for _ in range(200):
        await clock.step(0.02, settle=10)
        if (
            not in_flight
            and len(ctl.queue) == 0
            and all(last_started.get(k, -1) > t for k, t in last_enqueued.items())
        ):
            break
    ctl.stop()
    await asyncio.wait_for(run, 5)
    assert overlaps == [], f"keys reconciled concurrently: {overlaps}"
    for key, t in last_enqueued.items():
        assert last_started.get(key, -1) > t, f"{key} was not reconciled after its last event"


@settings(max_examples=40, deadline=None)
@given(script=events, workers=st.sampled_from([1, 4, 16]))
def test_many_workers_never_reconcile_one_key_at_once_and_every_event_is_seen(
    script: list[tuple[int, int, bool, bool]], workers: int
) -> None:
    asyncio.run(_storm(script, workers))
