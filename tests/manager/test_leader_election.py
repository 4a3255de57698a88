"""The Manager under leader election: leader-elected runnables run only while leading; losing the
Lease stops them at once and makes run() raise (the process exits non-zero)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from pycontroller.manager import LeaderElectionLostError, Manager
from pycontroller.testing import FakeClock
from tests.controller.conftest import until
from tests.manager.conftest import StandInFactory
from tests.manager.test_manager import Recorded

pytest.importorskip("pycontroller.leaderelection.elector", reason="leader election has not landed")


async def drive(clock: FakeClock, cond: Any, *, step: float = 0.5, timeout: float = 10.0) -> None:
    """Advance fake time in steps, letting the API round trips complete between them, until cond()."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await clock.step(step)
        await asyncio.sleep(0.002)  # let HTTP I/O to the in-memory server complete


@pytest.mark.fake_only(reason="injects API faults")
async def test_losing_the_lease_stops_leader_elected_runnables_and_run_raises(
    api_server: Any, api_client: Any, namespace: str, factory: StandInFactory
) -> None:
    clock = FakeClock()
    log: list[str] = []
    factory.synced.set()
    mgr = Manager(
        api_client,
        informer_factory=factory,
        metrics_bind_address="0",
        handle_signals=False,
        leader_election=True,
        leader_election_id="my-operator",
        leader_election_namespace=namespace,
        identity="replica-a",
        clock=clock,
    )
    leader_only = Recorded("leader-only", log, True)
    always = Recorded("always", log, False)
    mgr.add(leader_only)
    mgr.add(always)
    run = asyncio.create_task(mgr.run())
    await until(lambda: "start leader-only" in log)
    assert mgr.elector.is_leader()
    api_server.fail_next(10_000, 500, resource="leases")
    await drive(clock, run.done)
    with pytest.raises(LeaderElectionLostError, match="replica-a"):
        await run
    assert "stopped leader-only" not in log, "a lost lease must cancel, not gracefully drain"
    assert "stopped always" in log
    api_server.clear_faults()


async def test_only_the_leader_runs_leader_elected_runnables(
    api_server: Any, api_client: Any, namespace: str, factory: StandInFactory
) -> None:
    clock = FakeClock()
    factory.synced.set()
    logs: list[list[str]] = [[], []]
    managers = []
    for i, log in enumerate(logs):
        mgr = Manager(
            api_client,
            informer_factory=factory if i == 0 else StandInFactory(),
            metrics_bind_address="0",
            handle_signals=False,
            leader_election=True,
            leader_election_id="shared-lease",
            leader_election_namespace=namespace,
            leader_election_release_on_cancel=True,
            identity=f"replica-{i}",
            clock=clock,
        )
        mgr.add(Recorded("work", log, True))
        managers.append(mgr)
    managers[1]._factory.synced.set()
    first = asyncio.create_task(managers[0].run())
    await until(lambda: logs[0] == ["start work"])
    second = asyncio.create_task(managers[1].run())
    await drive(clock, lambda: clock.now() > 1030)
    assert logs[1] == [], "the second replica ran leader-elected work while the first led"
    managers[0].request_shutdown()
    await asyncio.wait_for(first, 10)
    assert logs[0] == ["start work", "stopped work"]
    await drive(clock, lambda: logs[1] == ["start work"])
    managers[1].request_shutdown()
    await asyncio.wait_for(second, 10)


async def test_a_leader_elected_runnable_that_fails_stops_the_manager_with_its_error(
    api_client: Any, namespace: str, factory: StandInFactory
) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def fragile() -> None:
        started.set()
        await release.wait()
        raise RuntimeError("leader work broke")

    factory.synced.set()
    mgr = Manager(
        api_client,
        informer_factory=factory,
        metrics_bind_address="0",
        handle_signals=False,
        leader_election=True,
        leader_election_id="fragile",
        leader_election_namespace=namespace,
        leader_election_release_on_cancel=True,
        clock=FakeClock(),
    )
    mgr.add(fragile)
    run = asyncio.create_task(mgr.run())
    await asyncio.wait_for(started.wait(), 10)
    release.set()
    with pytest.raises(RuntimeError, match="leader work broke"):
        await asyncio.wait_for(run, 10)


@pytest.mark.fake_only(reason="drives the Lease's expiry on fake time")
async def test_a_lease_won_while_stopping_starts_no_leader_elected_runnable(
    api_client: Any, namespace: str, factory: StandInFactory
) -> None:
    from pycontroller.leaderelection import LeaderElectionRecord, LeaseLock

    clock = FakeClock()
    other = LeaseLock(api_client, namespace=namespace, name="busy-operator", identity="replica-x")
    now = clock.wall()
    await other.create(
        LeaderElectionRecord(
            holder_identity="replica-x", lease_duration_seconds=15, acquire_time=now, renew_time=now
        )
    )
    log: list[str] = []
    factory.synced.set()
    mgr = Manager(
        api_client,
        informer_factory=factory,
        metrics_bind_address="0",
        handle_signals=False,
        leader_election=True,
        leader_election_id="busy-operator",
        leader_election_namespace=namespace,
        identity="replica-b",
        clock=clock,
    )

    class Slow(Recorded):
        def stop(self) -> None:  # drains for a while after being asked to stop
            self.log.append(f"asked {self.name}")

    slow = Slow("slow", log, False)
    mgr.add(Recorded("leader-only", log, True))
    mgr.add(slow)
    run = asyncio.create_task(mgr.run())
    await until(lambda: "start slow" in log and mgr.elector is not None)
    await drive(clock, lambda: mgr.elector.get_leader() == "replica-x")
    mgr.request_shutdown()
    await until(lambda: "asked slow" in log)
    # replica-x never renews: its lease expires while we are still stopping, and we win it.
    await drive(clock, mgr.elector.is_leader, timeout=20)
    for _ in range(20):
        await asyncio.sleep(0)
    assert "start leader-only" not in log, "nothing leader-elected may start once the stop began"
    slow._stop.set()
    await asyncio.wait_for(run, 10)
