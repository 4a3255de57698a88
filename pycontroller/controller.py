"""The Controller: reconcile workers fed by a rate-limited work queue, as in sample-controller.

Flow (top to bottom, like sample-controller's ``Run -> runWorker -> processNextWorkItem -> syncHandler``)::

    watch(informer, handler, predicates)   events -> predicates -> handler -> enqueue(key)
    run()                                  wait for the watches' caches, start N workers, wait for stop
    _worker()                              loop: key = await queue.get(); _process(key); queue.done(key)
    _process(key)                          reconcile(key) and read its outcome:
        success / Result()                 forget(key)                 (reset its backoff)
        Result(requeue_after=s)            forget(key); add_after(key, s)
        Result(requeue=True)               add_rate_limited(key)       (per-key exponential backoff)
        exception                          add_rate_limited(key), logged with controller and key
        TerminalError                      logged and counted, not requeued

Guarantees: a key is never reconciled by two workers at once (the queue's processing set); a key
that changes while it is being reconciled is reconciled again afterwards; an exception never kills a
worker. Async reconcilers run on the event loop (``reconcile_timeout`` cancels a hung one); plain
functions run in a thread pool of ``max_concurrent_reconciles`` threads with the log context copied in.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import inspect
import logging
import math
import threading
import uuid
import weakref
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from pycontroller import metrics as _metrics
from pycontroller.clock import Clock, default_clock
from pycontroller.handler import EventHandler, WatchBinding, enqueue_object
from pycontroller.log import controller_var, key_var, reconcile_id_var
from pycontroller.predicate import Predicate
from pycontroller.reconcile import Result, TerminalError, check_reconcile

__all__ = ["Controller", "ReconcileFunc"]

log = logging.getLogger("pycontroller.controller")

ReconcileFunc = Callable[[str], "Awaitable[Result | None] | Result | None"]

_ZERO = Result()

_names_lock = threading.Lock()
_names: set[str] = set()


def _release_name(name: str) -> None:
    with _names_lock:
        _names.discard(name)


def _is_async(fn: Any) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004 - an object with an async __call__
    return call is not None and inspect.iscoroutinefunction(call)


class Controller:
    """Runs ``reconcile(key)`` for every key its watches enqueue, with retries and backoff.

    ``name`` must be unique among live controllers of the process (it labels the metrics and the
    logs); ``skip_name_validation=True`` turns the check off. ``reconcile`` is an async function or a
    plain one. ``max_concurrent_reconciles`` workers (>= 1) share the queue. ``rate_limiter`` defaults
    to the work queue's ``default_controller_rate_limiter()``. ``reconcile_timeout`` (seconds, async
    reconcilers only: a thread cannot be cancelled) cancels a reconcile that runs longer and treats it
    as an error. ``need_leader_election`` tells the Manager to run it only while leading (default).
    ``cache_sync_timeout`` bounds the wait for the watches' caches at start. ``low_priority_initial``
    (off by default, like controller-runtime's priority queue) puts keys from initial-list adds and
    from resyncs that changed nothing behind every other key: they enter the queue only while fewer
    than ``max_concurrent_reconciles`` keys wait, so new changes are not starved behind a long
    initial list or resync; a real event for such a key promotes it at once. ``clock`` and ``queue``
    (a RateLimitingQueue to use instead of the controller's own) are for tests and special setups.

    Use as a Manager runnable (``mgr.add(controller)``) or on its own: ``await controller.run()``
    until :meth:`stop` (graceful) or cancellation (immediate).
    """

    def __init__(
        self,
        name: str,
        reconcile: ReconcileFunc,
        *,
        max_concurrent_reconciles: int = 1,
        rate_limiter: Any = None,
        reconcile_timeout: float | None = None,
        clock: Clock | None = None,
        queue: Any = None,
        need_leader_election: bool = True,
        skip_name_validation: bool = False,
        cache_sync_timeout: float = 120.0,
        metrics_registry: Any = None,
        low_priority_initial: bool = False,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"Controller name must be a non-empty string, got {name!r}")
        if not callable(reconcile):
            raise TypeError(
                f"Controller {name!r}: reconcile must be callable, got {type(reconcile).__name__}"
            )
        if isinstance(max_concurrent_reconciles, bool) or not isinstance(max_concurrent_reconciles, int):
            raise TypeError(f"Controller {name!r}: max_concurrent_reconciles must be an int")
        if max_concurrent_reconciles < 1:
            raise ValueError(
                f"Controller {name!r}: max_concurrent_reconciles must be >= 1, got {max_concurrent_reconciles}"
            )
        check_reconcile(reconcile, f"Controller {name!r}: reconcile")  # one key argument, at build time
        self._is_async = _is_async(reconcile)
        if rate_limiter is not None:
            from pycontroller.workqueue import RateLimiter

            if not isinstance(rate_limiter, RateLimiter):
                raise TypeError(
                    f"Controller {name!r}: rate_limiter must be a pycontroller.workqueue RateLimiter, "
                    f"got {type(rate_limiter).__name__}"
                )
        if reconcile_timeout is not None:
            if isinstance(reconcile_timeout, bool) or not isinstance(reconcile_timeout, int | float):
                raise TypeError(f"Controller {name!r}: reconcile_timeout must be seconds or None")
            if math.isnan(reconcile_timeout) or reconcile_timeout <= 0:
                raise ValueError(
                    f"Controller {name!r}: reconcile_timeout must be > 0, got {reconcile_timeout!r}"
                )
            if not self._is_async:
                raise ValueError(
                    f"Controller {name!r}: reconcile_timeout needs an async reconcile; "
                    "a plain function runs in a thread, which cannot be cancelled"
                )
        if not skip_name_validation:
            with _names_lock:
                if name in _names:
                    raise ValueError(
                        f"a controller named {name!r} already exists in this process; controller names "
                        "must be unique (they label metrics and logs)"
                    )
                _names.add(name)
            weakref.finalize(self, _release_name, name)
        self.name = name
        self._reconcile = reconcile
        self.max_concurrent_reconciles = max_concurrent_reconciles
        self.reconcile_timeout = reconcile_timeout
        self.need_leader_election = need_leader_election
        self.cache_sync_timeout = cache_sync_timeout
        self._clock: Clock = clock if clock is not None else default_clock()
        self._rate_limiter = rate_limiter
        self._queue = queue
        self._metrics_registry = metrics_registry
        self._metrics = _metrics.controller_metrics(name)
        self._registrations: list[tuple[Any, Any]] = []
        self.low_priority_initial = low_priority_initial
        # Keys waiting in the low-priority lane, in arrival order (a dict as an ordered set). Every
        # key here is absent from the queue's waiting items as far as the controller knows; a
        # normal enqueue removes it from here first.
        self._low: dict[str, None] = {}
        self._started = False
        self._stopping = False
        self._stop_event: asyncio.Event | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._workers: list[asyncio.Task[None]] = []
        # Keys a worker is reconciling right now (a key is never in two workers: a set suffices).
        self._in_flight: set[str] = set()

    # -- the queue --------------------------------------------------------------------------------

    @property
    def queue(self) -> Any:
        """The controller's RateLimitingQueue (created on first use, on the running loop)."""
        if self._queue is None:
            from pycontroller.workqueue import MetricsProvider, RateLimitingQueue

            provider = MetricsProvider(
                registry=self._metrics_registry or _metrics.registry,
                const_labels={"controller": self.name},
            )
            self._queue = RateLimitingQueue(
                self._rate_limiter, name=self.name, clock=self._clock, metrics=provider
            )
        return self._queue

    def enqueue(self, key: str) -> None:
        """Queue ``key`` for reconciliation (deduplicated while it waits). Never suspends.

        ``key`` must be a string; anything else raises ``TypeError`` naming its type. Ignored after
        the controller stopped (the queue is shut down). Call from the controller's event loop.
        """
        if type(key) is not str:
            raise TypeError(
                f"controller {self.name!r}: keys must be strings ('namespace/name'), got "
                f"{type(key).__name__}: {key!r}"
            )
        if self._low:
            self._low.pop(key, None)
        self.queue.add(key)

    def enqueue_low_priority(self, key: str) -> None:
        """Queue ``key`` behind all normal work: it enters the queue only while fewer than
        ``max_concurrent_reconciles`` keys wait. A later :meth:`enqueue` of it promotes it.
        Never suspends; call from the controller's loop; TypeError for a non-string key.
        """
        if type(key) is not str:
            raise TypeError(
                f"controller {self.name!r}: keys must be strings ('namespace/name'), got "
                f"{type(key).__name__}: {key!r}"
            )
        self._low[key] = None
        self._feed_low()

    def _feed_low(self) -> None:
        """Move low-priority keys into the queue while it is short (few waiting keys)."""
        low = self._low
        if not low:
            return
        queue = self.queue
        limit = self.max_concurrent_reconciles
        while low and len(queue) < limit:
            key = next(iter(low))
            del low[key]
            queue.add(key)

    def enqueue_threadsafe(self, key: str) -> None:
        """:meth:`enqueue` from any thread (a plain-function reconciler, say). Returns at once.

        Raises ``TypeError`` for a non-string key in the caller's thread; ``RuntimeError`` when the
        controller's queue has no running loop yet.
        """
        if type(key) is not str:
            raise TypeError(
                f"controller {self.name!r}: keys must be strings ('namespace/name'), got "
                f"{type(key).__name__}: {key!r}"
            )
        self.queue.add_threadsafe(key)

    def enqueue_after(self, key: str, seconds: float) -> None:
        """Queue ``key`` after ``seconds`` (an earlier pending time wins). Never suspends."""
        if type(key) is not str:
            raise TypeError(f"controller {self.name!r}: keys must be strings, got {type(key).__name__}")
        self.queue.add_after(key, seconds)

    # -- watches ----------------------------------------------------------------------------------

    def watch(
        self,
        informer: Any,
        handler: EventHandler | None = None,
        *,
        predicates: Iterable[Predicate] | Predicate = (),
    ) -> Any:
        """Feed ``informer``'s events through ``predicates`` (all must pass) into ``handler``.

        ``handler`` defaults to :func:`~pycontroller.handler.enqueue_object`. Returns the informer's
        registration. The controller's workers start only after every watched informer has synced.
        Never suspends.
        """
        if handler is None:
            handler = enqueue_object()
        if not isinstance(handler, EventHandler):
            raise TypeError(
                f"controller {self.name!r}: watch() takes an EventHandler (enqueue_object(), "
                f"enqueue_owner(...), enqueue_mapped(fn)), got {type(handler).__name__}"
            )
        preds = (predicates,) if isinstance(predicates, Predicate) else tuple(predicates)
        for p in preds:
            if not isinstance(p, Predicate):
                raise TypeError(f"controller {self.name!r}: predicates must be Predicate objects, got {p!r}")
        low = self.enqueue_low_priority if self.low_priority_initial else None
        registration = informer.add_event_handler(WatchBinding(handler, preds, self.enqueue, low))
        self._registrations.append((informer, registration))
        return registration

    def has_synced(self) -> bool:
        """True once every watch has delivered its informer's initial list."""
        return all(_synced(inf, reg) for inf, reg in self._registrations)

    # -- running ----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Wait for the watches to sync, run the workers, and return after :meth:`stop`.

        Suspends until stopped. :meth:`stop` lets in-flight reconciles finish and starts no new ones;
        cancelling ``run()`` cancels the workers at once. Raises ``TimeoutError`` when the caches do
        not sync within ``cache_sync_timeout`` and ``RuntimeError`` when already started.
        """
        if self._started:
            raise RuntimeError(f"controller {self.name!r} was already started; a controller runs once")
        self._started = True
        self._stop_event = stop_event = asyncio.Event()
        if self._stopping:
            stop_event.set()
        queue = self.queue
        await self._wait_for_sync(stop_event)
        if not self._is_async:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=self.max_concurrent_reconciles, thread_name_prefix=f"reconcile-{self.name}"
            )
        self._metrics.max_concurrent_reconciles = self.max_concurrent_reconciles
        log.info(
            "Starting workers",
            extra={"controller": self.name, "worker_count": self.max_concurrent_reconciles},
        )
        self._workers = [
            asyncio.create_task(self._worker(), name=f"{self.name}-worker-{i}")
            for i in range(self.max_concurrent_reconciles)
        ]
        try:
            await stop_event.wait()
            log.info(
                "Shutdown signal received, waiting for all workers to finish", extra={"controller": self.name}
            )
            queue.shut_down()
            await asyncio.gather(*self._workers)
            log.info("All workers finished", extra={"controller": self.name})
        finally:
            self._stopping = True
            queue.shut_down()
            for task in self._workers:
                task.cancel()
            await asyncio.gather(*self._workers, return_exceptions=True)
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)

    def stop(self) -> None:
        """Ask :meth:`run` to finish gracefully: no new reconciles; in-flight ones complete.

        Never suspends; idempotent; call from the controller's loop. Keys still queued are dropped.
        """
        self._stopping = True
        if self._queue is not None:
            self._queue.shut_down()  # adds are ignored from now on; idle workers wake and return
        if self._stop_event is not None:
            self._stop_event.set()

    def in_flight_keys(self) -> list[str]:
        """The keys being reconciled right now (sorted). Never suspends.

        The Manager names them when a shutdown's grace period ends before they finish.
        """
        return sorted(self._in_flight)

    async def _wait_for_sync(self, stop_event: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.cache_sync_timeout
        delay = 0.001
        while not self.has_synced():
            if stop_event.is_set():
                return
            if loop.time() >= deadline:
                raise TimeoutError(
                    f"controller {self.name!r}: timed out after {self.cache_sync_timeout}s "
                    "waiting for its watches' caches to sync"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)

    async def _worker(self) -> None:
        controller_var.set(self.name)
        queue = self.queue
        while True:
            key, shutdown = await queue.get()
            if shutdown:
                return
            try:
                if self._stopping:
                    continue  # graceful stop: take nothing new (done() below lets a drain finish)
                self._in_flight.add(key)
                await self._process(key)
            finally:
                self._in_flight.discard(key)
                # Always: tells the queue this key is no longer processed, so a re-add made
                # while it was being reconciled is now queued again.
                queue.done(key)
                key_var.set(None)
                reconcile_id_var.set(None)
                if self._low:
                    self._feed_low()
            # Give the loop a turn between two keys. A reconcile that never suspends (CPU-bound
            # work, or cache reads only) followed by a get() from a non-empty queue would never
            # suspend either: with a deep queue the worker would hold the loop for the whole
            # queue, starving lease renewals (a leader would lose its Lease), health probes and
            # the informers' watches. Go's scheduler preempts; here each key ends with one yield.
            await asyncio.sleep(0)

    async def _process(self, key: str) -> None:
        m = self._metrics
        queue = self._queue
        clock = self._clock
        key_var.set(key)
        reconcile_id_var.set(str(uuid.uuid4()))
        m.active_workers += 1
        start = clock.now()
        try:
            outcome = await self._call(key)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            if isinstance(exc, asyncio.CancelledError):
                current = asyncio.current_task()
                if current is None or current.cancelling():
                    raise  # the worker itself is being cancelled (hard stop)
                # Otherwise the reconcile leaked a CancelledError of its own: an error like any other.
            m.observe(clock.now() - start)
            m.errors += 1
            m.total["error"] += 1
            extra = {"controller": self.name, "key": key}
            if _is_terminal(exc):
                m.terminal_errors += 1
                # Not requeued: retrying cannot help. The next watch event brings the key back.
                log.error(
                    "Reconciler error (terminal, not retried) for key %r: %s",
                    key,
                    exc,
                    exc_info=exc,
                    extra=extra,
                )
            else:
                if not isinstance(exc, Exception):
                    m.panics += 1
                # Transient: retry after this key's exponential backoff.
                queue.add_rate_limited(key)
                log.error("Reconciler error for key %r: %s", key, exc, exc_info=exc, extra=extra)
            return
        finally:
            m.active_workers -= 1
        m.observe(clock.now() - start)
        if outcome is None:
            outcome = _ZERO
        elif not isinstance(outcome, Result):
            # A programming error (Go would not compile it): counted as a panic and retried.
            m.panics += 1
            m.errors += 1
            m.total["error"] += 1
            queue.add_rate_limited(key)
            log.error(
                "Reconciler error: reconcile of controller %r returned %s for key %r; "
                "it must return a pycontroller.Result or None",
                self.name,
                type(outcome).__name__,
                key,
                extra={"controller": self.name, "key": key},
            )
            return
        if outcome.requeue_after:
            # Success with a timer: reset the backoff, then look again after the delay.
            queue.forget(key)
            queue.add_after(key, outcome.requeue_after)
            m.total["requeue_after"] += 1
        elif outcome.requeue:
            # Asked to retry: back off like an error would, without logging one.
            queue.add_rate_limited(key)
            m.total["requeue"] += 1
        else:
            # Success: forget the key's failure history so its next failure starts at the base delay.
            queue.forget(key)
            m.total["success"] += 1

    async def _call(self, key: str) -> Any:
        if not self._is_async:
            loop = asyncio.get_running_loop()
            ctx = contextvars.copy_context()
            return await loop.run_in_executor(self._executor, ctx.run, self._reconcile, key)
        timeout = self.reconcile_timeout
        if timeout is None:
            return await self._reconcile(key)  # type: ignore[misc]
        task = asyncio.current_task()
        assert task is not None
        timed_out = False

        def expire() -> None:
            nonlocal timed_out
            timed_out = True
            task.cancel()

        handle = self._clock.call_at(self._clock.now() + timeout, expire)
        try:
            return await self._reconcile(key)  # type: ignore[misc]
        except asyncio.CancelledError:
            if timed_out and task.uncancel() == 0:
                raise TimeoutError(
                    f"reconcile of {key!r} by controller {self.name!r} timed out after {timeout}s"
                ) from None
            raise
        finally:
            handle.cancel()

    def __repr__(self) -> str:
        return f"<Controller {self.name!r} workers={self.max_concurrent_reconciles}>"


def _is_terminal(exc: BaseException) -> bool:
    """A TerminalError, or an exception raised ``from`` one (errors.Is through the cause chain)."""
    seen = 0
    cur: BaseException | None = exc
    while cur is not None and seen < 32:
        if isinstance(cur, TerminalError):
            return True
        cur = cur.__cause__
        seen += 1
    return False


def _synced(informer: Any, registration: Any) -> bool:
    check = getattr(registration, "has_synced", None)
    if check is None:
        check = getattr(informer, "has_synced", None)
    return bool(check()) if check is not None else True
