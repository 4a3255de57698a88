"""The worker loop: every Result and error path, backoff, timeouts, graceful stop, bad input."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest

from pycontroller.controller import Controller
from pycontroller.log import controller_var, key_var, reconcile_id_var
from pycontroller.metrics import controller_metrics
from pycontroller.reconcile import Result, TerminalError
from pycontroller.testing import FakeClock
from tests.controller.conftest import until
from tests.controller.helpers import make_queue


class Recorder:
    """An async reconcile that records calls (with fake-clock times) and returns scripted outcomes."""

    def __init__(self, clock: FakeClock, outcomes: list[Any] | None = None) -> None:
        self.clock = clock
        self.calls: list[tuple[str, float]] = []
        self.outcomes = list(outcomes or [])

    async def __call__(self, key: str) -> Any:
        self.calls.append((key, self.clock.now()))
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def build(name: str, clock: FakeClock, reconcile: Any, **kwargs: Any) -> Controller:
    return Controller(name, reconcile, clock=clock, queue=make_queue(clock, name), **kwargs)


async def started(ctl: Controller) -> asyncio.Task[None]:
    task = asyncio.create_task(ctl.run())
    await until(lambda: bool(ctl._workers), what="workers to start")
    return task


async def stopped(ctl: Controller, task: asyncio.Task[None]) -> None:
    ctl.stop()
    await asyncio.wait_for(task, 5)


async def test_success_reconciles_once_and_counts_success(name: str) -> None:
    clock = FakeClock()
    rec = Recorder(clock)
    ctl = build(name, clock, rec)
    task = await started(ctl)
    ctl.enqueue("ns/a")
    await until(lambda: controller_metrics(name).total["success"] == 1)
    await clock.step(3600)
    assert [k for k, _ in rec.calls] == ["ns/a"]
    assert ctl.queue.num_requeues("ns/a") == 0
    await stopped(ctl, task)


async def test_errors_retry_with_exponential_backoff_and_success_forgets(name: str) -> None:
    clock = FakeClock()
    rec = Recorder(clock, [RuntimeError("boom")] * 4)
    ctl = build(name, clock, rec)
    task = await started(ctl)
    t0 = clock.now()
    ctl.enqueue("ns/a")
    await until(lambda: len(rec.calls) == 1)
    for expected_delay in (0.005, 0.010, 0.020, 0.040):
        n = len(rec.calls)
        await clock.step(expected_delay * 0.99)
        assert len(rec.calls) == n, "retried before its backoff elapsed"
        await clock.step(expected_delay * 0.01 + 1e-9)
        await until(lambda n=n: len(rec.calls) == n + 1)
    times = [t - t0 for _, t in rec.calls]
    assert times == pytest.approx([0, 0.005, 0.015, 0.035, 0.075])
    m = controller_metrics(name)
    assert m.total["error"] == 4 and m.errors == 4 and m.total["success"] == 1
    assert ctl.queue.num_requeues("ns/a") == 0  # success forgot the failures
    await stopped(ctl, task)


async def test_requeue_after_forgets_and_comes_back_after_the_delay(name: str) -> None:
    clock = FakeClock()
    rec = Recorder(clock, [RuntimeError("once"), Result(requeue_after=30)])
    ctl = build(name, clock, rec)
    task = await started(ctl)
    ctl.enqueue("a")
    await until(lambda: len(rec.calls) == 1)
    await clock.step(0.005)
    await until(lambda: len(rec.calls) == 2)
    assert ctl.queue.num_requeues("a") == 0
    await clock.step(29.9)
    assert len(rec.calls) == 2
    await clock.step(0.2)
    await until(lambda: len(rec.calls) == 3)
    assert controller_metrics(name).total["requeue_after"] == 1
    await stopped(ctl, task)


async def test_requeue_true_backs_off_through_the_rate_limiter(name: str) -> None:
    clock = FakeClock()
    rec = Recorder(clock, [Result(requeue=True), Result(requeue=True)])
    ctl = build(name, clock, rec)
    task = await started(ctl)
    ctl.enqueue("a")
    await until(lambda: len(rec.calls) == 1)
    await clock.step(0.005)
    await until(lambda: len(rec.calls) == 2)
    await clock.step(0.009)
    assert len(rec.calls) == 2
    await clock.step(0.001)
    await until(lambda: len(rec.calls) == 3)
    m = controller_metrics(name)
    assert m.total["requeue"] == 2 and m.total["success"] == 1 and m.errors == 0
    await stopped(ctl, task)


async def test_terminal_error_is_counted_and_not_retried(name: str, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    rec = Recorder(clock, [TerminalError("bad spec")])
    ctl = build(name, clock, rec)
    task = await started(ctl)
    with caplog.at_level(logging.ERROR, logger="pycontroller.controller"):
        ctl.enqueue("ns/a")
        await until(lambda: controller_metrics(name).terminal_errors == 1)
        await clock.step(3600)
    assert len(rec.calls) == 1
    m = controller_metrics(name)
    assert m.errors == 1 and m.total["error"] == 1
    record = next(r for r in caplog.records if "bad spec" in r.getMessage())
    assert record.controller == name and record.key == "ns/a"  # type: ignore[attr-defined]
    await stopped(ctl, task)


async def test_error_raised_from_a_terminal_error_is_terminal(name: str) -> None:
    clock = FakeClock()

    async def reconcile(key: str) -> None:
        try:
            raise TerminalError("invalid")
        except TerminalError as exc:
            raise ValueError("wrapped") from exc

    ctl = build(name, clock, reconcile)
    task = await started(ctl)
    ctl.enqueue("a")
    await until(lambda: controller_metrics(name).terminal_errors == 1)
    await stopped(ctl, task)


async def test_an_exception_is_logged_with_controller_and_key_and_the_worker_survives(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    rec = Recorder(clock, [KeyError("missing")])
    ctl = build(name, clock, rec)
    task = await started(ctl)
    with caplog.at_level(logging.ERROR, logger="pycontroller.controller"):
        ctl.enqueue("ns/a")
        await until(lambda: controller_metrics(name).errors == 1)
    record = next(r for r in caplog.records if "missing" in r.getMessage())
    assert record.controller == name and record.key == "ns/a"  # type: ignore[attr-defined]
    assert record.exc_info is not None
    ctl.enqueue("ns/b")
    await until(lambda: ("ns/b", clock.now()) in rec.calls)
    await stopped(ctl, task)


async def test_returning_something_else_than_a_result_is_an_error_naming_the_type(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    rec = Recorder(clock, [{"requeue": True}])
    ctl = build(name, clock, rec)
    task = await started(ctl)
    with caplog.at_level(logging.ERROR, logger="pycontroller.controller"):
        ctl.enqueue("a")
        await until(lambda: controller_metrics(name).errors == 1)
    assert controller_metrics(name).panics == 1
    assert any(
        "returned dict" in r.getMessage() and "Result or None" in r.getMessage() for r in caplog.records
    )
    await clock.step(0.005)
    await until(lambda: len(rec.calls) == 2)  # retried like any error
    await stopped(ctl, task)


async def test_a_hung_reconcile_is_cut_at_reconcile_timeout_and_retried(name: str) -> None:
    clock = FakeClock()
    calls: list[str] = []
    cancelled = asyncio.Event()

    async def reconcile(key: str) -> None:
        calls.append(key)
        if len(calls) == 1:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.set()
                raise

    ctl = build(name, clock, reconcile, reconcile_timeout=10)
    task = await started(ctl)
    ctl.enqueue("a")
    await until(lambda: len(calls) == 1)
    await clock.step(9.9)
    assert not cancelled.is_set()
    await clock.step(0.1)
    await until(cancelled.is_set)
    await until(lambda: controller_metrics(name).errors == 1)
    await clock.step(0.005)
    await until(lambda: controller_metrics(name).total["success"] == 1)
    assert calls == ["a", "a"]
    await stopped(ctl, task)


async def test_plain_function_reconcilers_run_in_threads_with_the_log_context(name: str) -> None:
    clock = FakeClock()
    seen: list[tuple[str, Any, Any, Any, bool]] = []
    main_thread = threading.get_ident()

    def reconcile(key: str) -> Result:
        seen.append(
            (
                key,
                controller_var.get(),
                key_var.get(),
                reconcile_id_var.get(),
                threading.get_ident() != main_thread,
            )
        )
        return Result()

    ctl = build(name, clock, reconcile, max_concurrent_reconciles=2)
    task = await started(ctl)
    ctl.enqueue("ns/x")
    await until(lambda: controller_metrics(name).total["success"] == 1)
    key, controller, ctx_key, rid, in_thread = seen[0]
    assert (key, controller, ctx_key, in_thread) == ("ns/x", name, "ns/x", True)
    assert isinstance(rid, str) and len(rid) == 36
    await stopped(ctl, task)


async def test_graceful_stop_lets_in_flight_reconciles_finish_and_starts_no_new_ones(name: str) -> None:
    clock = FakeClock()
    release = asyncio.Event()
    started_keys: list[str] = []
    finished: list[str] = []

    async def reconcile(key: str) -> None:
        started_keys.append(key)
        await release.wait()
        finished.append(key)

    ctl = build(name, clock, reconcile, max_concurrent_reconciles=2)
    task = await started(ctl)
    for k in ("a", "b", "c", "d"):
        ctl.enqueue(k)
    await until(lambda: len(started_keys) == 2)
    ctl.stop()
    await asyncio.sleep(0)
    assert not task.done()
    release.set()
    await asyncio.wait_for(task, 5)
    assert sorted(finished) == ["a", "b"] and sorted(started_keys) == ["a", "b"]
    assert controller_metrics(name).active_workers == 0


async def test_cancelling_run_stops_the_workers_at_once(name: str) -> None:
    clock = FakeClock()

    async def reconcile(key: str) -> None:
        await asyncio.Event().wait()

    ctl = build(name, clock, reconcile)
    task = await started(ctl)
    ctl.enqueue("a")
    await until(lambda: controller_metrics(name).active_workers == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert all(w.done() for w in ctl._workers)


async def test_a_key_changed_while_reconciling_is_reconciled_again_afterwards(name: str) -> None:
    clock = FakeClock()
    gate = asyncio.Event()
    calls: list[str] = []

    async def reconcile(key: str) -> None:
        calls.append(key)
        if len(calls) == 1:
            await gate.wait()

    ctl = build(name, clock, reconcile, max_concurrent_reconciles=4)
    task = await started(ctl)
    ctl.enqueue("a")
    await until(lambda: len(calls) == 1)
    ctl.enqueue("a")
    ctl.enqueue("a")
    for _ in range(20):
        await asyncio.sleep(0)
    assert calls == ["a"], "a second worker took a key that was being reconciled"
    gate.set()
    await until(lambda: len(calls) == 2)
    await stopped(ctl, task)


async def test_workers_wait_for_the_watches_to_sync(name: str) -> None:
    from tests.controller.helpers import FakeInformer

    clock = FakeClock()
    rec = Recorder(clock)
    informer = FakeInformer(synced=False)
    ctl = build(name, clock, rec)
    ctl.watch(informer)
    task = asyncio.create_task(ctl.run())
    informer.add({"metadata": {"name": "x", "namespace": "ns"}}, True)
    for _ in range(50):
        await asyncio.sleep(0)
    assert rec.calls == []
    informer.synced = True
    await until(lambda: len(rec.calls) == 1)
    await stopped(ctl, task)


# -- bad input ---------------------------------------------------------------------------------


def test_a_non_string_key_is_refused_naming_its_type(name: str) -> None:
    clock = FakeClock()
    ctl = build(name, clock, Recorder(clock))
    with pytest.raises(TypeError, match=r"keys must be strings.*tuple"):
        ctl.enqueue(("ns", "a"))  # type: ignore[arg-type]


def test_controller_names_are_unique_in_a_process(name: str) -> None:
    clock = FakeClock()
    first = build(name, clock, Recorder(clock))
    with pytest.raises(ValueError, match="already exists"):
        build(name, clock, Recorder(clock))
    assert first.name == name
    Controller(name, Recorder(clock), skip_name_validation=True)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"max_concurrent_reconciles": 0}, ValueError, "max_concurrent_reconciles must be >= 1"),
        ({"max_concurrent_reconciles": "2"}, TypeError, "max_concurrent_reconciles must be an int"),
        ({"reconcile_timeout": -1}, ValueError, "reconcile_timeout must be > 0"),
        ({"reconcile_timeout": float("nan")}, ValueError, "reconcile_timeout must be > 0"),
    ],
)
def test_bad_options_are_refused_with_the_option_named(
    name: str, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        Controller(name, Recorder(FakeClock()), **kwargs)


def test_reconcile_timeout_needs_an_async_reconcile(name: str) -> None:
    with pytest.raises(ValueError, match="needs an async reconcile"):
        Controller(name, lambda key: None, reconcile_timeout=5)


def test_result_refuses_negative_and_non_numeric_delays() -> None:
    with pytest.raises(ValueError, match="requeue_after"):
        Result(requeue_after=-1)
    with pytest.raises(TypeError, match="requeue_after"):
        Result(requeue_after="5")  # type: ignore[arg-type]
    assert Result().is_zero() and not Result(requeue=True).is_zero()


async def test_run_twice_is_refused(name: str) -> None:
    clock = FakeClock()
    ctl = build(name, clock, Recorder(clock))
    task = await started(ctl)
    with pytest.raises(RuntimeError, match="already started"):
        await ctl.run()
    await stopped(ctl, task)


async def test_a_plain_function_reconciler_can_enqueue_from_its_thread(name: str) -> None:
    clock = FakeClock()
    calls: list[str] = []
    ctl: Controller

    def reconcile(key: str) -> None:
        calls.append(key)
        if key == "ns/parent":
            ctl.enqueue_threadsafe("ns/child")

    ctl = build(name, clock, reconcile)
    task = await started(ctl)
    ctl.enqueue("ns/parent")
    await until(lambda: calls == ["ns/parent", "ns/child"])
    with pytest.raises(TypeError, match="keys must be strings"):
        ctl.enqueue_threadsafe(7)  # type: ignore[arg-type]
    await stopped(ctl, task)


async def test_a_cancelled_error_leaking_from_reconcile_does_not_kill_the_worker(name: str) -> None:
    clock = FakeClock()
    calls: list[str] = []

    async def reconcile(key: str) -> None:
        calls.append(key)
        if key == "bad":
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            fut.cancel()
            await fut  # raises CancelledError, though nobody cancelled the worker

    ctl = build(name, clock, reconcile)
    task = await started(ctl)
    ctl.enqueue("bad")
    await until(lambda: controller_metrics(name).errors == 1)
    ctl.enqueue("good")
    await until(lambda: "good" in calls)
    assert not task.done()
    await stopped(ctl, task)


@pytest.mark.looptime
async def test_run_fails_when_the_watches_never_sync_within_cache_sync_timeout(name: str) -> None:
    from tests.controller.helpers import FakeInformer

    clock = FakeClock()
    ctl = build(name, clock, Recorder(clock), cache_sync_timeout=30)
    ctl.watch(FakeInformer(synced=False))
    with pytest.raises(TimeoutError, match=r"timed out after 30(\.0)?s waiting for its watches"):
        await ctl.run()


def test_a_rate_limiter_of_the_wrong_type_is_refused_at_construction(name: str) -> None:
    with pytest.raises(TypeError, match="rate_limiter must be a pycontroller"):
        Controller(name, Recorder(FakeClock()), rate_limiter=lambda item: 0.1)


async def test_low_priority_initial_list_keys_wait_behind_new_events(name: str) -> None:
    from tests.controller.helpers import FakeInformer

    clock = FakeClock()
    gate = asyncio.Event()
    order: list[str] = []

    async def reconcile(key: str) -> None:
        order.append(key)
        await gate.wait()

    informer = FakeInformer()
    ctl = build(name, clock, reconcile, low_priority_initial=True)
    ctl.watch(informer)
    for i in range(5):
        informer.add({"metadata": {"name": f"old-{i}", "namespace": "ns"}}, True)
    task = await started(ctl)
    await until(lambda: order == ["ns/old-0"])
    informer.add({"metadata": {"name": "new", "namespace": "ns"}}, False)
    gate.set()
    await until(lambda: len(order) == 6)
    assert order == ["ns/old-0", "ns/new", "ns/old-1", "ns/old-2", "ns/old-3", "ns/old-4"]
    await stopped(ctl, task)


async def test_a_resync_goes_to_the_low_lane_and_a_real_change_promotes_it(name: str) -> None:
    from tests.controller.helpers import FakeInformer

    clock = FakeClock()
    gate = asyncio.Event()
    order: list[str] = []

    async def reconcile(key: str) -> None:
        order.append(key)
        await gate.wait()

    def cm(n: str, rv: str) -> dict[str, Any]:
        return {"metadata": {"name": n, "namespace": "ns", "resourceVersion": rv}}

    informer = FakeInformer()
    ctl = build(name, clock, reconcile, low_priority_initial=True)
    ctl.watch(informer)
    task = await started(ctl)
    informer.add(cm("busy", "1"))
    await until(lambda: order == ["ns/busy"])
    informer.update(cm("x", "5"), cm("x", "5"))  # resync: queued (queue is short)
    informer.update(cm("a", "5"), cm("a", "5"))  # resync: waits in the low lane
    informer.update(cm("b", "5"), cm("b", "5"))  # resync: waits in the low lane
    informer.update(cm("b", "5"), cm("b", "6"))  # a real change: promoted ahead of "a"
    gate.set()
    await until(lambda: len(order) == 4)
    assert order == ["ns/busy", "ns/x", "ns/b", "ns/a"]
    await stopped(ctl, task)


async def test_reconciles_that_never_suspend_still_let_the_loop_run_between_keys(name: str) -> None:
    # A CPU-bound async reconcile and a deep queue: without a yield per key the worker would hold
    # the loop until the queue is empty, and a leader's lease renewal or a health probe scheduled
    # meanwhile would not run at all.
    clock = FakeClock()
    ticks = 0
    seen: list[int] = []

    async def reconcile(key: str) -> None:
        seen.append(ticks)  # never suspends

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ctl = build(name, clock, reconcile)
    for i in range(200):
        ctl.enqueue(f"ns/k{i}")
    task = await started(ctl)
    tick_task = asyncio.create_task(ticker())
    await until(lambda: len(seen) == 200)
    tick_task.cancel()
    # The loop ran other tasks between (nearly) every two reconciles.
    assert seen[-1] - seen[0] >= 150, seen[::20]
    await stopped(ctl, task)
