"""Three electors on one lease under hypothesis-chosen timings, latencies, API faults and crashes:
never two leaders at once, and a leader again once the faults stop.

"Believes it leads" is is_leader(): it turns True when an acquire succeeded and False the instant
a renew deadline passes or the elector is cancelled. The guarantee checked is client-go's: with
request latency + retry_period + renew_deadline < leaseDurationSeconds, a leader that cannot
renew steps down before anyone else may take the lease.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pycontroller.leaderelection import LeaderElector
from pycontroller.testing import FakeClock
from tests.leaderelection.memlock import LeaseStore, MemLock
from tests.leaderelection.sim import run_for, settle

IDS = ("a", "b", "c")


class Monitored(LeaderElector):
    """Checks, at every flip to leading, that nobody else believes it leads."""

    peers: list[Monitored]
    violations: list[str]
    terms: list[tuple[float, str]]

    def _set_leading(self, leading: bool) -> None:
        if leading and not self.is_leader():
            others = [p.identity for p in self.peers if p is not self and p.is_leader()]
            if others:
                self.violations.append(f"{self.identity} leads while {others} lead at {self._clock.now()}")
            self.terms.append((self._clock.now(), self.identity))
        super()._set_leading(leading)


timings = st.tuples(
    st.floats(0.5, 3.0),  # retry_period
    st.floats(0.1, 4.0),  # renew_deadline - 1.2 * retry_period
    st.floats(0.0, 0.6),  # max latency of a half request (as a fraction of retry_period)
    st.integers(1, 4),  # slack seconds in lease_duration beyond the bound
)
actions = st.lists(
    st.tuples(
        st.floats(0.0, 120.0),  # when
        st.sampled_from(["fail", "crash", "cancel", "restart", "slow"]),
        st.sampled_from([*IDS, "all"]),
        st.floats(0.5, 30.0),  # how long a fault lasts
    ),
    max_size=12,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timing=timings, plan=actions, seed=st.integers(0, 2**32 - 1), release=st.booleans())
async def test_never_two_leaders_and_a_leader_again_once_faults_stop(
    timing: tuple[float, float, float, int], plan: list[Any], seed: int, release: bool
) -> None:
    rp, extra, lat_frac, slack = timing
    rd = 1.2 * rp + extra
    max_half = lat_frac * rp
    ld = int(rd + rp + 2 * max_half) + slack
    clock = FakeClock()
    store = LeaseStore(clock)
    rng = random.Random(seed)
    failing: dict[str, float] = {}  # identity or "all" -> until
    slow: dict[str, float] = {}
    store.latency = lambda who: (
        rng.uniform(0, max_half) if slow.get(who, slow.get("all", 0.0)) > clock.now() else 0.0
    )
    store.fail = lambda who: max(failing.get(who, 0.0), failing.get("all", 0.0)) > clock.now()

    violations: list[str] = []
    terms: list[tuple[float, str]] = []
    electors: list[Monitored] = []
    for i, ident in enumerate(IDS):
        e = Monitored(
            MemLock(store, ident),
            lease_duration=ld,
            renew_deadline=rd,
            retry_period=rp,
            release_on_cancel=release and i != 0,
            clock=clock,
            rng=random.Random(seed + i),
        )
        e.peers, e.violations, e.terms = electors, violations, terms
        electors.append(e)

    async def supervise(e: LeaderElector) -> None:
        while True:  # a Deployment restarting the pod after leadership was lost
            await e.run()

    tasks: dict[str, asyncio.Task[None]] = {}

    def start(ident: str) -> None:
        task = tasks.get(ident)
        if task is None or task.done():
            tasks[ident] = asyncio.create_task(supervise(electors[IDS.index(ident)]))

    for ident in IDS:
        start(ident)
    try:
        for when, action, who, duration in sorted(plan):
            await run_for(clock, max(0.0, when - (clock.now() - 1000.0)))
            targets = IDS if who == "all" else (who,)
            if action == "fail":
                failing[who] = clock.now() + duration
            elif action == "slow":
                slow[who] = clock.now() + duration
            elif action in ("crash", "cancel"):
                for ident in targets:
                    if ident in tasks:
                        tasks[ident].cancel()
                await settle()
            else:
                for ident in targets:
                    start(ident)
            assert not violations, violations
        await run_for(clock, 35.0)
        assert not violations, violations
        # Faults over, everyone restarted: within lease_duration plus a few retries, one leads.
        failing.clear()
        slow.clear()
        for ident in IDS:
            start(ident)
        await run_for(clock, ld + 6 * 2.2 * rp + 1)
        assert not violations, violations
        leaders = [e.identity for e in electors if e.is_leader()]
        assert len(leaders) == 1, (leaders, store.record)
        assert store.record is not None and store.record.holder_identity == leaders[0]
    finally:
        failing.clear()
        slow.clear()
        for task in tasks.values():
            task.cancel()
        await run_for(clock, 2 * rd, stop=lambda: all(t.done() for t in tasks.values()))
        await asyncio.gather(*tasks.values(), return_exceptions=True)
