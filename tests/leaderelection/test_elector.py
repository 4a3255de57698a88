"""LeaderElector against an in-memory lease store on fake time: client-go's algorithm, step by step."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from pycontroller.errors import ConfigError
from pycontroller.leaderelection import COLLECTOR, LeaderElectionRecord, LeaderElector, LeaseNotRenewedError
from pycontroller.testing import FakeClock
from tests.leaderelection.memlock import LeaseStore, MemLock
from tests.leaderelection.sim import run_for, settle


class Zero(random.Random):
    """Jitter of 0: acquire retries every retry_period exactly."""

    def random(self) -> float:
        return 0.0


def make(store: LeaseStore, identity: str, log: list[Any] | None = None, **kw: Any) -> LeaderElector:
    log = log if log is not None else []

    async def lead() -> None:
        log.append(("started", identity))
        try:
            await asyncio.Event().wait()
        finally:
            log.append(("cancelled", identity))

    kw.setdefault("rng", Zero())
    return LeaderElector(
        MemLock(store, identity),
        clock=store.clock,
        name="test-lease",
        on_started_leading=lead,
        on_stopped_leading=lambda: log.append(("stopped", identity)),
        on_new_leader=lambda who: log.append(("new", who)),
        **kw,
    )


@pytest.fixture
def store() -> LeaseStore:
    return LeaseStore(FakeClock())


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"lease_duration": 10, "renew_deadline": 10}, "lease_duration"),
        ({"renew_deadline": 2.4, "retry_period": 2}, "renew_deadline"),
        ({"retry_period": 0}, "retry_period must be greater than zero"),
        ({"lease_duration": -1}, "lease_duration must be greater than zero"),
        ({"name": ""}, "name"),
    ],
)
def test_durations_violating_the_ordering_are_refused_with_a_config_error(
    store: LeaseStore, kw: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        LeaderElector(MemLock(store, "a"), clock=store.clock, **kw)


def test_an_empty_identity_is_refused(store: LeaseStore) -> None:
    with pytest.raises(ConfigError, match="identity"):
        LeaderElector(MemLock(store, ""), clock=store.clock)


def test_a_duration_that_is_not_a_number_is_a_type_error(store: LeaseStore) -> None:
    with pytest.raises(TypeError, match="lease_duration"):
        LeaderElector(MemLock(store, "a"), lease_duration="15", clock=store.clock)  # type: ignore[arg-type]


async def test_a_lone_candidate_creates_the_lease_and_leads(store: LeaseStore) -> None:
    log: list[Any] = []
    elector = make(store, "a", log)
    task = asyncio.create_task(elector.run())
    await settle()
    assert elector.is_leader()
    assert store.record is not None
    assert store.record.holder_identity == "a"
    assert store.record.lease_duration_seconds == 15
    assert store.record.leader_transitions == 0
    assert ("started", "a") in log and ("new", "a") in log
    assert elector.get_leader() == "a"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not elector.is_leader()
    assert log[-2:] == [("cancelled", "a"), ("stopped", "a")]


async def test_renewals_keep_acquire_time_and_transitions_and_move_renew_time(store: LeaseStore) -> None:
    elector = make(store, "a")
    task = asyncio.create_task(elector.run())
    await settle()
    assert store.record is not None
    first = store.record
    await run_for(store.clock, 7)
    assert elector.is_leader()
    renewed = store.record
    assert renewed.acquire_time == first.acquire_time
    assert renewed.leader_transitions == first.leader_transitions
    assert renewed.renew_time is not None and first.renew_time is not None
    assert renewed.renew_time >= first.renew_time + 6
    # one renewal every retry_period
    writes_in_window = [t for t, _ in store.writes if t > store.clock.now() - 6.5]
    assert len(writes_in_window) == 3
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_standby_honours_an_unexpired_lease_and_takes_over_after_the_leader_dies(
    store: LeaseStore,
) -> None:
    log: list[Any] = []
    a = make(store, "a", log)
    b = make(store, "b", log)
    ta = asyncio.create_task(a.run())
    await settle()
    tb = asyncio.create_task(b.run())
    await run_for(store.clock, 30)
    assert a.is_leader() and not b.is_leader()
    assert ("new", "a") in log
    killed_at = store.clock.now()
    ta.cancel()  # dies without release
    await settle()
    await run_for(store.clock, 30, stop=b.is_leader)
    assert b.is_leader()
    assert store.record is not None
    assert store.record.holder_identity == "b"
    assert store.record.leader_transitions == 1
    # Deterministic jitter: b saw a's last renewal within one retry_period of it being written,
    # waited lease_duration from then, then retried every retry_period.
    assert store.clock.now() - killed_at <= 15 + 2 * 2 + 1e-6
    tb.cancel()
    with pytest.raises(asyncio.CancelledError):
        await tb
    with pytest.raises(asyncio.CancelledError):
        await ta


async def test_validity_is_judged_by_local_observation_time_not_the_renew_time_written(
    store: LeaseStore,
) -> None:
    # A holder whose clock is an hour behind wrote this record: its renewTime looks long expired.
    skewed = store.clock.wall() - 3600
    store.record = LeaderElectionRecord("other", 15, skewed, skewed, 4)
    store.version = 1
    b = make(store, "b")
    tb = asyncio.create_task(b.run())
    await run_for(store.clock, 14.5)
    assert not b.is_leader()  # first seen at t0: honoured for 15 s from then
    await run_for(store.clock, 3)
    assert b.is_leader()
    assert store.record.holder_identity == "b"
    assert store.record.leader_transitions == 5
    tb.cancel()
    with pytest.raises(asyncio.CancelledError):
        await tb


async def test_a_leader_that_cannot_renew_steps_down_at_the_renew_deadline(store: LeaseStore) -> None:
    log: list[Any] = []
    a = make(store, "a", log)
    ta = asyncio.create_task(a.run())
    await settle()
    last_write = store.writes[-1][0]
    store.fail = lambda who: True
    await run_for(store.clock, 20, stop=ta.done)
    assert ta.done() and ta.exception() is None  # run() returns: leadership lost
    assert not a.is_leader()
    # stepped down no later than last renewal + retry_period + renew_deadline
    stopped = [e for e in log if e[0] == "stopped"]
    assert stopped == [("stopped", "a")]
    assert store.clock.now() <= last_write + 2 + 10 + 1e-6
    assert ("cancelled", "a") in log


async def test_a_renewal_hung_in_flight_is_cut_at_the_deadline(store: LeaseStore) -> None:
    a = make(store, "a")
    ta = asyncio.create_task(a.run())
    await settle()
    renewed_at = store.clock.now()
    store.latency = lambda who: 1000.0  # requests never come back in time
    await run_for(store.clock, 2 + 10, stop=ta.done)
    assert not a.is_leader()
    await settle()
    assert ta.done()
    assert store.clock.now() == pytest.approx(renewed_at + 2 + 10)


async def test_release_on_cancel_frees_the_lease_and_a_standby_takes_over_within_a_retry_period(
    store: LeaseStore,
) -> None:
    a = make(store, "a", release_on_cancel=True)
    b = make(store, "b", rng=random.Random(7))
    ta = asyncio.create_task(a.run())
    await settle()
    tb = asyncio.create_task(b.run())
    await run_for(store.clock, 9)
    ta.cancel()
    await settle()
    assert ta.done()
    with pytest.raises(asyncio.CancelledError):
        await ta
    assert store.record is not None
    assert store.record.holder_identity == ""
    assert store.record.lease_duration_seconds == 1
    released = store.clock.now()
    await run_for(store.clock, 10, stop=b.is_leader)
    assert b.is_leader()
    assert store.clock.now() - released <= 2 * (1 + 1.2)
    assert store.record.leader_transitions == 1
    tb.cancel()
    with pytest.raises(asyncio.CancelledError):
        await tb


async def test_the_health_check_fails_only_when_leading_without_renewal_past_the_grace(
    store: LeaseStore,
) -> None:
    a = make(store, "a")
    a.check()  # standby: healthy
    ta = asyncio.create_task(a.run())
    await settle()
    a.check()
    # Simulate a wedged renew loop: time passes but nothing runs (timers not fired).
    store.clock._now += 15 + 20 + 1
    with pytest.raises(LeaseNotRenewedError, match="test-lease"):
        a.check()
    a.check(max_tolerable_expired_lease=100)
    ta.cancel()
    with pytest.raises(asyncio.CancelledError):
        await ta


async def test_the_master_status_gauge_follows_leadership(store: LeaseStore) -> None:
    a = LeaderElector(MemLock(store, "a"), clock=store.clock, name="gauge-lease")
    assert COLLECTOR.values()["gauge-lease"] == 0
    ta = asyncio.create_task(a.run())
    await settle()
    assert COLLECTOR.values()["gauge-lease"] == 1
    ta.cancel()
    with pytest.raises(asyncio.CancelledError):
        await ta
    assert COLLECTOR.values()["gauge-lease"] == 0
    from prometheus_client import REGISTRY, generate_latest

    assert b'leader_election_master_status{name="gauge-lease"} 0.0' in generate_latest(REGISTRY)


async def test_the_lock_reports_became_leader_and_stopped_leading(store: LeaseStore) -> None:
    a = make(store, "a")
    ta = asyncio.create_task(a.run())
    await settle()
    ta.cancel()
    with pytest.raises(asyncio.CancelledError):
        await ta
    lock = a._lock
    assert isinstance(lock, MemLock)
    assert lock.events == ["became leader", "stopped leading"]


def test_a_callback_that_is_not_callable_is_a_type_error(store: LeaseStore) -> None:
    with pytest.raises(TypeError, match="on_new_leader"):
        LeaderElector(MemLock(store, "a"), clock=store.clock, on_new_leader="print")  # type: ignore[arg-type]


async def test_an_on_started_leading_that_fails_is_logged_and_leadership_goes_on(
    store: LeaseStore, caplog: pytest.LogCaptureFixture
) -> None:
    async def boom() -> None:
        raise RuntimeError("bad leader code")

    a = LeaderElector(MemLock(store, "a"), clock=store.clock, on_started_leading=boom)
    ta = asyncio.create_task(a.run())
    await settle()
    assert a.is_leader()
    assert "on_started_leading of mem/lease failed" in caplog.text
    ta.cancel()
    with pytest.raises(asyncio.CancelledError):
        await ta
