"""The Manager: start order, HTTP endpoints, readiness after sync, graceful shutdown, signals, bad input."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import aiohttp
import pytest

from pycontroller.controller import Controller
from pycontroller.errors import ConfigError
from pycontroller.manager import GracefulShutdownTimeoutError, Manager, ManagerAlreadyStartedError
from pycontroller.reconcile import Result
from tests.controller.conftest import until
from tests.manager.conftest import StandInFactory


def manager(client: Any, factory: StandInFactory, **kwargs: Any) -> Manager:
    kwargs.setdefault("metrics_bind_address", "0")
    kwargs.setdefault("handle_signals", False)
    return Manager(client, informer_factory=factory, **kwargs)


async def http_get(port: int | None, path: str) -> tuple[int, str]:
    assert port
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}{path}") as resp:
        return resp.status, await resp.text()


async def test_metrics_are_served_over_http_with_controller_runtime_names_and_labels(
    dummy_client: Any, factory: StandInFactory, name: str
) -> None:
    outcomes = iter([RuntimeError("x"), Result(requeue_after=3600), None])

    async def reconcile(key: str) -> Any:
        o = next(outcomes)
        if isinstance(o, Exception):
            raise o
        return o

    mgr = manager(dummy_client, factory, metrics_bind_address="127.0.0.1:0")
    informer = mgr.informer_for("", "v1", "configmaps")
    ctl = Controller(name, reconcile, max_concurrent_reconciles=3)
    ctl.watch(informer)
    mgr.add(ctl)
    factory.synced.set()
    run = asyncio.create_task(mgr.run())
    await until(lambda: mgr.metrics_port is not None and ctl._workers != [])
    informer.add({"metadata": {"name": "a", "namespace": "ns"}})
    await until(lambda: ctl._metrics.total["error"] == 1)
    await until(lambda: ctl._metrics.total["requeue_after"] == 1, timeout=10)  # after the 5 ms backoff
    informer.add({"metadata": {"name": "b", "namespace": "ns"}})
    await until(lambda: ctl._metrics.total["success"] == 1)
    status, body = await http_get(mgr.metrics_port, "/metrics")
    assert status == 200
    lines = set(body.splitlines())
    c = f'controller="{name}"'
    for expected in (
        f'controller_runtime_reconcile_total{{{c},result="success"}} 1.0',
        f'controller_runtime_reconcile_total{{{c},result="error"}} 1.0',
        f'controller_runtime_reconcile_total{{{c},result="requeue"}} 0.0',
        f'controller_runtime_reconcile_total{{{c},result="requeue_after"}} 1.0',
        f"controller_runtime_reconcile_errors_total{{{c}}} 1.0",
        f"controller_runtime_terminal_reconcile_errors_total{{{c}}} 0.0",
        f"controller_runtime_reconcile_panics_total{{{c}}} 0.0",
        f"controller_runtime_active_workers{{{c}}} 0.0",
        f"controller_runtime_max_concurrent_reconciles{{{c}}} 3.0",
        f"controller_runtime_reconcile_time_seconds_count{{{c}}} 3.0",
        f'workqueue_adds_total{{{c},name="{name}"}} 3.0',
        f'workqueue_retries_total{{{c},name="{name}"}} 2.0',
    ):
        assert expected in lines, f"missing {expected!r}"
    assert f'controller_runtime_reconcile_time_seconds_bucket{{{c},le="+Inf"}} 3.0' in lines
    mgr.request_shutdown()
    await asyncio.wait_for(run, 5)


async def test_readyz_fails_before_the_caches_sync_and_passes_after(
    dummy_client: Any, factory: StandInFactory
) -> None:
    mgr = manager(dummy_client, factory, health_probe_bind_address="127.0.0.1:0")
    mgr.informer_for("", "v1", "pods")
    run = asyncio.create_task(mgr.run())
    await until(lambda: mgr.health_probe_port is not None and factory.started == 1)
    status, body = await http_get(mgr.health_probe_port, "/readyz")
    assert status == 500 and "[-]cache-sync failed" in body
    assert (await http_get(mgr.health_probe_port, "/healthz"))[0] == 200
    factory.synced.set()
    await until(lambda: mgr._caches_synced)
    assert await http_get(mgr.health_probe_port, "/readyz") == (200, "ok")
    status, body = await http_get(mgr.health_probe_port, "/readyz?verbose")
    assert status == 200 and "[+]cache-sync ok" in body
    mgr.request_shutdown()
    await asyncio.wait_for(run, 5)
    assert factory.shut_down


async def test_named_health_checks_are_served_together_and_one_by_one(
    dummy_client: Any, factory: StandInFactory
) -> None:
    mgr = manager(dummy_client, factory, health_probe_bind_address="127.0.0.1:0")
    broken = {"db": False}

    async def db() -> bool:
        return not broken["db"]

    mgr.add_healthz_check("ping", lambda: None)
    mgr.add_healthz_check("db", db)
    with pytest.raises(ValueError, match="already registered"):
        mgr.add_healthz_check("ping", lambda: None)
    run = asyncio.create_task(mgr.run())
    await until(lambda: mgr.health_probe_port is not None)
    assert await http_get(mgr.health_probe_port, "/healthz") == (200, "ok")
    broken["db"] = True
    status, body = await http_get(mgr.health_probe_port, "/healthz")
    assert status == 500 and "[+]ping ok" in body and "[-]db failed" in body
    assert (await http_get(mgr.health_probe_port, "/healthz/ping"))[0] == 200
    assert (await http_get(mgr.health_probe_port, "/healthz/db"))[0] == 500
    assert (await http_get(mgr.health_probe_port, "/healthz/nope"))[0] == 404
    mgr.request_shutdown()
    await asyncio.wait_for(run, 5)


class Recorded:
    """A runnable that records its start and graceful stop in a shared log."""

    def __init__(self, label: str, log: list[str], need_leader_election: bool) -> None:
        self.name = label
        self.log = log
        self.need_leader_election = need_leader_election
        self._stop = asyncio.Event()

    async def run(self) -> None:
        self.log.append(f"start {self.name}")
        await self._stop.wait()
        self.log.append(f"stopped {self.name}")

    def stop(self) -> None:
        self._stop.set()


async def test_start_order_is_http_caches_others_then_leader_elected_and_stop_is_reverse(
    dummy_client: Any, factory: StandInFactory
) -> None:
    log: list[str] = []
    factory.log = log
    mgr = manager(dummy_client, factory, metrics_bind_address="127.0.0.1:0")
    mgr.informer_for("", "v1", "pods")
    mgr.add(Recorded("leader-elected", log, True))
    mgr.add(Recorded("other", log, False))
    run = asyncio.create_task(mgr.run())
    await until(lambda: factory.started == 1)
    assert mgr.metrics_port is not None  # HTTP first
    assert log == ["caches started"]
    factory.synced.set()
    await until(lambda: len(log) == 4)
    assert log[1:] == ["caches synced", "start other", "start leader-elected"]
    mgr.request_shutdown()
    await asyncio.wait_for(run, 5)
    assert log[4:] == ["stopped leader-elected", "stopped other", "caches stopped"]


async def test_graceful_shutdown_lets_the_in_flight_reconcile_finish(
    dummy_client: Any, factory: StandInFactory, name: str
) -> None:
    release = asyncio.Event()
    finished: list[str] = []

    async def reconcile(key: str) -> None:
        await release.wait()
        finished.append(key)

    mgr = manager(dummy_client, factory)
    informer = mgr.informer_for("", "v1", "pods")
    ctl = Controller(name, reconcile)
    ctl.watch(informer)
    mgr.add(ctl)
    factory.synced.set()
    run = asyncio.create_task(mgr.run())
    await until(lambda: ctl._workers != [])
    informer.add({"metadata": {"name": "a", "namespace": "ns"}})
    await until(lambda: ctl._metrics.active_workers == 1)
    mgr.request_shutdown()
    for _ in range(20):
        await asyncio.sleep(0)
    assert not run.done(), "the manager stopped before the in-flight reconcile finished"
    release.set()
    await asyncio.wait_for(run, 5)
    assert finished == ["ns/a"]


@pytest.mark.looptime
async def test_a_reconcile_still_running_after_the_grace_period_is_cancelled(
    dummy_client: Any, factory: StandInFactory, name: str
) -> None:
    cancelled = asyncio.Event()

    async def reconcile(key: str) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    mgr = manager(dummy_client, factory, graceful_shutdown_timeout=5)
    informer = mgr.informer_for("", "v1", "pods")
    ctl = Controller(name, reconcile)
    ctl.watch(informer)
    mgr.add(ctl)
    factory.synced.set()
    run = asyncio.create_task(mgr.run())
    await until(lambda: ctl._workers != [])
    informer.add({"metadata": {"name": "a", "namespace": "ns"}})
    await until(lambda: ctl._metrics.active_workers == 1)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    mgr.request_shutdown()
    with pytest.raises(GracefulShutdownTimeoutError, match="ns/a"):
        await asyncio.wait_for(run, 60)
    assert cancelled.is_set()
    assert loop.time() - t0 == pytest.approx(5, abs=0.5)


async def test_a_failing_runnable_stops_the_manager_with_its_error(
    dummy_client: Any, factory: StandInFactory
) -> None:
    async def crash() -> None:
        raise RuntimeError("runnable broke")

    mgr = manager(dummy_client, factory)
    mgr.add(crash)
    factory.synced.set()
    with pytest.raises(RuntimeError, match="runnable broke"):
        await asyncio.wait_for(mgr.run(), 5)


async def test_adding_after_start_is_refused(dummy_client: Any, factory: StandInFactory, name: str) -> None:
    mgr = manager(dummy_client, factory)
    factory.synced.set()
    run = asyncio.create_task(mgr.run())
    await until(lambda: mgr._started)
    with pytest.raises(ManagerAlreadyStartedError, match="already started"):
        mgr.add(Controller(name, lambda key: None))
    mgr.request_shutdown()
    await asyncio.wait_for(run, 5)


async def test_sigterm_shuts_down_gracefully_and_a_second_signal_exits_at_once(
    dummy_client: Any, factory: StandInFactory
) -> None:
    log: list[str] = []
    mgr = manager(dummy_client, factory, handle_signals=True)
    exits: list[int] = []
    mgr._exit = exits.append
    stuck = asyncio.Event()

    class Stubborn(Recorded):
        def stop(self) -> None:  # ignores the first request
            self.log.append("asked to stop")

    r = Stubborn("stubborn", log, False)
    mgr.add(r)
    factory.synced.set()
    run = asyncio.create_task(mgr.run())
    await until(lambda: log == ["start stubborn"])
    os.kill(os.getpid(), signal.SIGTERM)
    await until(lambda: "asked to stop" in log)
    os.kill(os.getpid(), signal.SIGINT)
    await until(lambda: exits == [1])
    r._stop.set()
    stuck.set()
    await asyncio.wait_for(run, 5)


async def test_request_shutdown_before_run_stops_right_after_starting(
    dummy_client: Any, factory: StandInFactory
) -> None:
    mgr = manager(dummy_client, factory)
    mgr.request_shutdown()
    await asyncio.wait_for(mgr.run(), 5)


# -- bad input -----------------------------------------------------------------------------------


def test_a_missing_kubeconfig_is_a_config_error(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        Manager(kubeconfig=str(tmp_path / "missing"))


@pytest.mark.parametrize("address", ["8080", "host:port", "127.0.0.1:70000"])
async def test_a_malformed_bind_address_is_a_config_error(dummy_client: Any, address: str) -> None:
    with pytest.raises(ConfigError, match="bind address"):
        Manager(dummy_client, metrics_bind_address=address)


async def test_leader_election_without_an_id_is_a_config_error(dummy_client: Any) -> None:
    with pytest.raises(ConfigError, match="leader_election_id"):
        Manager(dummy_client, leader_election=True)


async def test_a_non_runnable_is_refused_naming_its_type(dummy_client: Any, factory: StandInFactory) -> None:
    mgr = manager(dummy_client, factory)
    with pytest.raises(TypeError, match="int"):
        mgr.add(42)


async def test_negative_grace_period_is_a_config_error(dummy_client: Any) -> None:
    with pytest.raises(ConfigError, match="graceful_shutdown_timeout"):
        Manager(dummy_client, graceful_shutdown_timeout=-1)


async def test_caches_that_fail_to_sync_fail_run_naming_the_resource(
    dummy_client: Any, factory: StandInFactory
) -> None:
    async def never(timeout: float | None = None) -> dict[Any, bool]:
        return {("", "v1", "pods"): False}

    factory.wait_for_cache_sync = never  # type: ignore[method-assign]
    mgr = manager(dummy_client, factory, cache_sync_timeout=1)
    mgr.informer_for("", "v1", "pods")
    with pytest.raises(TimeoutError, match=r"caches did not sync within 1\.0s: .*pods"):
        await asyncio.wait_for(mgr.run(), 5)
    assert factory.shut_down


async def test_a_runnable_with_a_sync_run_method_is_refused(
    dummy_client: Any, factory: StandInFactory
) -> None:
    class Sync:
        def run(self) -> None:
            pass

    mgr = manager(dummy_client, factory)
    with pytest.raises(TypeError, match="must be an async method"):
        mgr.add(Sync())
