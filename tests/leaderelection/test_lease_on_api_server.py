"""LeaseLock + LeaderElector on the API servers (fake and real kube-apiserver), on fake time.

Requests are real HTTP; only the electors' waiting is on a FakeClock, which the driver advances
once every elector is parked on it.
"""

from __future__ import annotations

import asyncio
import random
import re
from typing import Any

import pytest

from pycontroller.client import RestClient
from pycontroller.errors import ConfigError
from pycontroller.leaderelection import LEASES, LeaderElector, LeaseLock
from tests.leaderelection.sim import SimClock, drive

MICRO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


class Zero(random.Random):
    def random(self) -> float:
        return 0.0


class Candidate:
    """One replica: an elector with its own LeaseLock, its run task, and what it went through."""

    def __init__(self, client: RestClient, namespace: str, identity: str, clock: SimClock, **kw: Any):
        self.started_at: float | None = None
        self.stopped_at: float | None = None
        self.clock = clock

        async def lead() -> None:
            self.started_at = clock.now()
            await asyncio.Event().wait()

        def stopped() -> None:
            self.stopped_at = clock.now()

        self.elector = LeaderElector(
            LeaseLock(client, namespace=namespace, name="op-lock", identity=identity),
            clock=clock,
            rng=Zero(),
            on_started_leading=lead,
            on_stopped_leading=stopped,
            **kw,
        )
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.elector.run())

    @property
    def alive(self) -> bool:
        return self.task is not None and not self.task.done()

    async def kill(self) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def get_lease(client: RestClient, namespace: str) -> dict[str, Any]:
    return await client.get(LEASES, "op-lock", namespace)


def parked(*cands: Candidate) -> Any:
    return lambda: sum(1 for c in cands if c.alive)


def test_a_lease_lock_needs_namespace_name_and_identity() -> None:
    with pytest.raises(ConfigError, match="identity"):
        LeaseLock(object(), namespace="ns", name="n", identity="")


async def test_the_lease_records_holder_transitions_and_times(
    rest_client: RestClient, namespace: str
) -> None:
    clock = SimClock()
    a = Candidate(rest_client, namespace, "a", clock)
    a.start()
    await drive(clock, 0, parked(a))
    assert a.elector.is_leader()
    lease = await get_lease(rest_client, namespace)
    spec = lease["spec"]
    assert spec["holderIdentity"] == "a"
    assert spec["leaseDurationSeconds"] == 15
    assert spec.get("leaseTransitions", 0) == 0
    assert MICRO.match(spec["acquireTime"]) and MICRO.match(spec["renewTime"])
    acquired = spec["acquireTime"]
    await drive(clock, 5, parked(a))
    spec = (await get_lease(rest_client, namespace))["spec"]
    assert spec["acquireTime"] == acquired
    assert spec["renewTime"] > acquired
    await a.kill()


async def test_killing_the_leader_without_release_hands_over_within_the_lease_duration(
    rest_client: RestClient, namespace: str
) -> None:
    clock = SimClock()
    a = Candidate(rest_client, namespace, "a", clock)
    b = Candidate(rest_client, namespace, "b", clock)
    a.start()
    await drive(clock, 0, parked(a))
    b.start()
    await drive(clock, 20, parked(a, b))
    assert a.elector.is_leader() and not b.elector.is_leader()
    killed_at = clock.now()
    await a.kill()
    await drive(clock, 40, parked(b), stop=b.elector.is_leader)
    assert b.elector.is_leader()
    assert b.started_at is not None
    # b saw a's last renewal within one retry period, honoured it for 15 s, then retried every 2 s.
    assert b.started_at - killed_at <= 15 + 2 + 2
    spec = (await get_lease(rest_client, namespace))["spec"]
    assert spec["holderIdentity"] == "b"
    assert spec["leaseTransitions"] == 1
    await b.kill()


async def test_release_on_cancel_hands_over_within_about_one_retry_period(
    rest_client: RestClient, namespace: str
) -> None:
    clock = SimClock()
    a = Candidate(rest_client, namespace, "a", clock, release_on_cancel=True)
    b = Candidate(rest_client, namespace, "b", clock)
    a.start()
    await drive(clock, 0, parked(a))
    b.start()
    await drive(clock, 9, parked(a, b))
    await a.kill()
    spec = (await get_lease(rest_client, namespace))["spec"]
    assert spec["holderIdentity"] == ""
    assert spec["leaseDurationSeconds"] == 1
    released_at = clock.now()
    await drive(clock, 10, parked(b), stop=b.elector.is_leader)
    assert b.elector.is_leader()
    assert b.started_at is not None and b.started_at - released_at <= 2.0
    assert (await get_lease(rest_client, namespace))["spec"]["leaseTransitions"] == 1
    await b.kill()


@pytest.mark.fake_only(reason="injects API errors into the server")
async def test_api_errors_during_renewal_make_the_leader_step_down_before_another_can_lead(
    api_server: Any, rest_client: RestClient, namespace: str
) -> None:
    clock = SimClock()
    a = Candidate(rest_client, namespace, "a", clock)
    b = Candidate(rest_client, namespace, "b", clock)
    a.start()
    await drive(clock, 0, parked(a))
    b.start()
    await drive(clock, 6, parked(a, b))
    last_renewal = clock.now()
    rule = api_server.fail_next(10_000, 500, resource="leases")
    await drive(clock, 30, parked(a, b), stop=lambda: not a.alive)
    assert not a.elector.is_leader() and a.stopped_at is not None
    assert a.stopped_at <= last_renewal + 2 + 10
    assert not b.elector.is_leader()
    assert rule.hits > 0
    api_server.clear_faults()
    await drive(clock, 40, parked(b), stop=b.elector.is_leader)
    assert b.elector.is_leader() and b.started_at is not None
    assert b.started_at >= last_renewal + 15 > a.stopped_at
    await b.kill()


async def test_leadership_changes_are_events_on_the_lease(rest_client: RestClient, namespace: str) -> None:
    from pycontroller.record import EventBroadcaster

    clock = SimClock()
    async with EventBroadcaster(rest_client) as broadcaster:
        lock = LeaseLock(
            rest_client,
            namespace=namespace,
            name="op-lock",
            identity="a",
            event_recorder=broadcaster.new_recorder("my-operator"),
        )
        elector = LeaderElector(lock, clock=clock, rng=Zero())
        task = asyncio.create_task(elector.run())
        await drive(clock, 0, lambda: 1)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await broadcaster.shutdown()  # writes what is queued
        assert broadcaster.written == 2
    events = (await rest_client.request("GET", f"/api/v1/namespaces/{namespace}/events"))["items"]
    got = sorted((e["reason"], e["message"], e["involvedObject"]["kind"]) for e in events)
    assert got == [
        ("LeaderElection", "a became leader", "Lease"),
        ("LeaderElection", "a stopped leading", "Lease"),
    ]
