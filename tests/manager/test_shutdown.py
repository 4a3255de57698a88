"""Shutdown keeps one deadline: every controller stops taking keys at once, in-flight reconciles
share one grace period, and an overrun makes ``Manager.run()`` raise, naming what was cancelled."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pycontroller import GracefulShutdownTimeoutError
from pycontroller.controller import Controller
from pycontroller.manager import Manager
from tests.controller.conftest import until
from tests.manager.conftest import StandInFactory


def manager(client: Any, factory: StandInFactory, **kwargs: Any) -> Manager:
    kwargs.setdefault("metrics_bind_address", "0")
    kwargs.setdefault("handle_signals", False)
    return Manager(client, informer_factory=factory, **kwargs)


def pod(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns"}}


class Blocking:
    """An async reconcile that records every key it starts and waits until released."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.finished: list[str] = []
        self.cancelled: list[str] = []
        self.release = asyncio.Event()

    async def __call__(self, key: str) -> None:
        self.started.append(key)
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled.append(key)
            raise
        self.finished.append(key)


async def test_after_shutdown_no_controller_starts_a_new_reconcile_leader_elected_or_not(
    dummy_client: Any, factory: StandInFactory, name: str
) -> None:
    leader, other = Blocking(), Blocking()
    mgr = manager(dummy_client, factory)
    leader_pods = mgr.informer_for("", "v1", "pods")
    other_pods = mgr.informer_for("", "v1", "configmaps")
    lc = Controller(f"{name}-l", leader, max_concurrent_reconciles=2)
    lc.watch(leader_pods)
    oc = Controller(f"{name}-o", other, max_concurrent_reconciles=2, need_leader_election=False)
    oc.watch(other_pods)
    mgr.add(lc)
    mgr.add(oc)
    factory.synced.set()
    run = asyncio.create_task(mgr.run())
    await until(lambda: lc._workers != [] and oc._workers != [])
    leader_pods.add(pod("a"))
    other_pods.add(pod("a"))
    await until(lambda: leader.started == ["ns/a"] and other.started == ["ns/a"])
    mgr.request_shutdown()
    await until(lambda: lc._stopping and oc._stopping, what="both controllers asked to stop at once")
    # Keys arriving after the shutdown began: a free worker exists in both controllers, yet
    # neither may start them (controller-runtime cancels every runnable's context together).
    leader_pods.add(pod("b"))
    other_pods.add(pod("b"))
    other_pods.update(pod("a"), pod("a"))
    for _ in range(50):
        await asyncio.sleep(0)
    assert leader.started == ["ns/a"] and other.started == ["ns/a"]
    assert not run.done()
    leader.release.set()
    other.release.set()
    await asyncio.wait_for(run, 5)
    assert leader.finished == ["ns/a"] and other.finished == ["ns/a"]
    assert leader.started == ["ns/a"] and other.started == ["ns/a"]


@pytest.mark.looptime
async def test_one_grace_period_covers_the_whole_stop_and_an_overrun_is_an_error_naming_keys(
    dummy_client: Any, factory: StandInFactory, name: str
) -> None:
    leader, other = Blocking(), Blocking()
    mgr = manager(dummy_client, factory, graceful_shutdown_timeout=5)
    pods = mgr.informer_for("", "v1", "pods")
    maps = mgr.informer_for("", "v1", "configmaps")
    lc = Controller(f"{name}-l", leader)
    lc.watch(pods)
    oc = Controller(f"{name}-o", other, need_leader_election=False)
    oc.watch(maps)
    mgr.add(lc)
    mgr.add(oc)
    factory.synced.set()
    run = asyncio.create_task(mgr.run())
    await until(lambda: lc._workers != [] and oc._workers != [])
    pods.add(pod("stuck"))
    maps.add(pod("slow"))
    await until(lambda: len(leader.started) == 1 and len(other.started) == 1)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    mgr.request_shutdown()
    with pytest.raises(GracefulShutdownTimeoutError) as caught:
        await asyncio.wait_for(run, 60)
    # One budget of 5 s for both groups (the old stop waited 5 s per group: 10 s).
    assert loop.time() - t0 == pytest.approx(5, abs=0.5)
    err = caught.value
    assert err.runnables == sorted([f"{name}-l", f"{name}-o"])
    assert err.keys == {f"{name}-l": ["ns/stuck"], f"{name}-o": ["ns/slow"]}
    assert "grace period of 5s" in str(err) and "ns/stuck" in str(err)
    assert isinstance(err, TimeoutError)
    assert leader.cancelled == ["ns/stuck"] and other.cancelled == ["ns/slow"]
    assert factory.shut_down


@pytest.mark.looptime
async def test_a_stop_that_ends_within_the_grace_period_returns_normally(
    dummy_client: Any, factory: StandInFactory, name: str
) -> None:
    work = Blocking()
    mgr = manager(dummy_client, factory, graceful_shutdown_timeout=5)
    pods = mgr.informer_for("", "v1", "pods")
    ctl = Controller(name, work)
    ctl.watch(pods)
    mgr.add(ctl)
    factory.synced.set()
    run = asyncio.create_task(mgr.run())
    await until(lambda: ctl._workers != [])
    pods.add(pod("a"))
    await until(lambda: work.started == ["ns/a"])
    mgr.request_shutdown()
    loop = asyncio.get_running_loop()
    loop.call_later(4.9, work.release.set)
    await asyncio.wait_for(run, 60)
    assert work.finished == ["ns/a"] and work.cancelled == []


@pytest.mark.looptime
async def test_a_zero_grace_period_cancels_at_once_without_an_error(
    dummy_client: Any, factory: StandInFactory, name: str
) -> None:
    work = Blocking()
    mgr = manager(dummy_client, factory, graceful_shutdown_timeout=0)
    pods = mgr.informer_for("", "v1", "pods")
    ctl = Controller(name, work)
    ctl.watch(pods)
    mgr.add(ctl)
    factory.synced.set()
    run = asyncio.create_task(mgr.run())
    await until(lambda: ctl._workers != [])
    pods.add(pod("a"))
    await until(lambda: work.started == ["ns/a"])
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    mgr.request_shutdown()
    await asyncio.wait_for(run, 60)
    assert loop.time() - t0 < 0.5
    assert work.cancelled == ["ns/a"]


@pytest.mark.looptime
async def test_a_runnable_failure_is_raised_with_a_note_when_the_stop_also_overran(
    dummy_client: Any, factory: StandInFactory, name: str
) -> None:
    work = Blocking()
    mgr = manager(dummy_client, factory, graceful_shutdown_timeout=2)
    pods = mgr.informer_for("", "v1", "pods")
    ctl = Controller(name, work, need_leader_election=False)
    ctl.watch(pods)
    mgr.add(ctl)
    broke = asyncio.Event()

    async def crash() -> None:
        await broke.wait()
        raise RuntimeError("runnable broke")

    mgr.add(crash)
    factory.synced.set()
    run = asyncio.create_task(mgr.run())
    await until(lambda: ctl._workers != [])
    pods.add(pod("a"))
    await until(lambda: work.started == ["ns/a"])
    broke.set()
    with pytest.raises(RuntimeError, match="runnable broke") as caught:
        await asyncio.wait_for(run, 60)
    notes = getattr(caught.value, "__notes__", [])
    assert any("grace period of 2s" in n and name in n for n in notes)
