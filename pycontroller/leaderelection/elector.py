"""LeaderElector: client-go's leader-election loop on a :class:`ResourceLock`, for asyncio.

The flow of :meth:`LeaderElector.run`::

    acquire:  try_acquire_or_renew() every retry_period * (1 + U[0, 1.2)) until it succeeds
    lead:     on_started_leading() runs as a task
    renew:    every retry_period: try to renew, retrying every retry_period; if renew_deadline
              passes without a success, step down at that instant
    end:      the task is cancelled, the lock released (release_on_cancel), on_stopped_leading()

``try_acquire_or_renew`` first takes client-go's fast path: a leader whose last observed record is
its own and still valid renews with a plain conditional update of the Lease it last wrote, without
reading it; only when that fails does it fall back to the slow path below. The slow path reads the
record. When the record differs from the one last seen, this
elector notes the LOCAL monotonic time (``observed_time``); another holder's claim is honoured
until ``observed_time + record.leaseDurationSeconds``. Timestamps written in the record are never
compared with our clock, so clock skew between nodes does not matter (skew *rate* does). If the
claim expired, or the lock is free (holder ""), or we hold it, we write our record with optimistic
concurrency: leaseTransitions is incremented when the holder changes and acquireTime is kept
while the same holder renews.

Why at most one leader: a leader whose last successful renewal completed at local time T steps
down by T + retry_period + renew_deadline (plus nothing: the deadline cancels an in-flight
request). Any other candidate first saw that renewal at some time >= the moment it was written, and
waits lease_duration from then. So as long as request latency + retry_period + renew_deadline <
lease_duration (15 > 2 + 10 with the defaults), the old leader has stepped down before anyone else
can write the lock. client-go gives the same guarantee, and neither fences: code run under
leadership should still tolerate a brief overlap caused by pauses longer than these margins.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from pycontroller.clock import Clock, default_clock
from pycontroller.errors import ConfigError, ConflictError, NotFoundError, PyControllerError
from pycontroller.leaderelection.metrics import COLLECTOR
from pycontroller.leaderelection.record import LeaderElectionRecord
from pycontroller.leaderelection.resourcelock import ResourceLock

__all__ = ["JITTER_FACTOR", "LeaderElector", "LeaseNotRenewedError"]

log = logging.getLogger("pycontroller.leaderelection")

JITTER_FACTOR = 1.2
"""Acquire retries wait retry_period * (1 + U[0, JITTER_FACTOR)), as client-go's wait.JitterUntil."""

DEFAULT_HEALTH_GRACE = 20.0
"""Grace after lease_duration before :meth:`LeaderElector.check` fails (kube-controller-manager's)."""


class LeaseNotRenewedError(PyControllerError):
    """The health check: this elector believes it leads but has not renewed for too long."""


class LeaderElector:
    """Campaign for a lock, lead while holding it, step down when it cannot be renewed.

    Durations are seconds and must satisfy ``lease_duration > renew_deadline >
    JITTER_FACTOR * retry_period > 0`` (else :class:`ConfigError`). ``name`` labels the metric and
    logs (defaults to ``lock.describe()``).

    Callbacks: ``on_started_leading()`` is an async function run as a task while leading and
    cancelled when leadership ends; ``on_stopped_leading()`` (plain or async) is called once after
    that task finished, only if this elector led; ``on_new_leader(identity)`` (plain or async) is
    called whenever the observed holder changes, including the first holder seen and "" after a
    release. Exceptions raised by callbacks are logged, not propagated.

    ``clock`` is the time source (``FakeClock`` in tests); ``rng`` the ``random.Random`` used for
    jitter.
    """

    def __init__(
        self,
        lock: ResourceLock,
        *,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        release_on_cancel: bool = False,
        name: str | None = None,
        on_started_leading: Callable[[], Awaitable[Any]] | None = None,
        on_stopped_leading: Callable[[], Any] | None = None,
        on_new_leader: Callable[[str], Any] | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        for what, value in (
            ("lease_duration", lease_duration),
            ("renew_deadline", renew_deadline),
            ("retry_period", retry_period),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{what} must be a number of seconds, got {type(value).__name__}")
            if not value > 0:
                raise ConfigError(f"{what} must be greater than zero, got {value}")
        if lease_duration <= renew_deadline:
            raise ConfigError(
                f"lease_duration ({lease_duration}) must be greater than renew_deadline ({renew_deadline})"
            )
        if renew_deadline <= JITTER_FACTOR * retry_period:
            raise ConfigError(
                f"renew_deadline ({renew_deadline}) must be greater than retry_period * {JITTER_FACTOR} "
                f"({JITTER_FACTOR * retry_period:g})"
            )
        if not isinstance(lock, ResourceLock):
            raise TypeError(f"lock must be a ResourceLock (e.g. LeaseLock), got {type(lock).__name__}")
        if not lock.identity:
            raise ConfigError("the lock's identity must not be empty")
        if name is None:
            name = lock.describe()
        if not isinstance(name, str) or not name:
            raise ConfigError("the elector's name must be a non-empty string")
        for what, fn in (
            ("on_started_leading", on_started_leading),
            ("on_stopped_leading", on_stopped_leading),
            ("on_new_leader", on_new_leader),
        ):
            if fn is not None and not callable(fn):
                raise TypeError(f"{what} must be callable, got {type(fn).__name__}")
        self._lock = lock
        self._name = name
        self.lease_duration = float(lease_duration)
        self.renew_deadline = float(renew_deadline)
        self.retry_period = float(retry_period)
        self.release_on_cancel = release_on_cancel
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._on_new_leader = on_new_leader
        self._clock = clock if clock is not None else default_clock()
        self._rng = rng if rng is not None else random.Random()
        # The record last read or written, and the LOCAL monotonic time it was last seen to change.
        self._observed: LeaderElectionRecord = LeaderElectionRecord()
        self._observed_raw: bytes | None = None
        self._observed_time: float = float("-inf")
        # The holder last reported to on_new_leader (lags _observed until reported).
        self._reported_leader = ""
        # True from a successful acquire until stepping down; what is_leader() reports.
        self._leading = False
        self._running = False
        self._background: set[asyncio.Task[Any]] = set()
        COLLECTOR.track(self)

    # -- public ----------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The name given (or the lock's description): the metric label."""
        return self._name

    @property
    def identity(self) -> str:
        """This candidate's identity (the lock's)."""
        return self._lock.identity

    def is_leader(self) -> bool:
        """True while this elector leads: from acquiring until it steps down. Never suspends.

        Unlike client-go's IsLeader (which reads the last observed record) this turns False the
        moment the renew deadline passes, a cancellation arrives or run() ends.
        """
        return self._leading

    def get_leader(self) -> str:
        """The holder identity last observed in the lock ("" if none seen yet). Informational."""
        return self._observed.holder_identity

    def check(self, max_tolerable_expired_lease: float = DEFAULT_HEALTH_GRACE) -> None:
        """Health check for /healthz: raise :class:`LeaseNotRenewedError` when leading but not
        renewed for ``lease_duration + max_tolerable_expired_lease`` seconds (a stuck renew loop).

        Passes for standbys. Never suspends. Like client-go's ``HealthzAdaptor``.
        """
        if not self._leading:
            return
        since = self._clock.now() - self._observed_time
        if since > self.lease_duration + max_tolerable_expired_lease:
            raise LeaseNotRenewedError(
                f"failed election to renew leadership on lease {self._name} (last renewed {since:.1f}s ago)"
            )

    async def run(self) -> None:
        """Campaign, lead, and return when leadership is lost. Suspends for as long as that takes.

        Cancelling the task running it raises CancelledError out of run() after the leading task was
        cancelled and, with ``release_on_cancel``, the lock released (holder "" and
        leaseDurationSeconds 1, so others take over within about one retry_period). An elector runs
        once at a time; run it again after it returned to campaign again.
        """
        if self._running:
            raise RuntimeError(f"leader elector {self._name} is already running")
        self._running = True
        try:
            await self._acquire()
            self._set_leading(True)
            self._lock.record_event("became leader")
            task: asyncio.Task[Any] | None = None
            if self._on_started is not None:
                task = asyncio.get_running_loop().create_task(
                    self._run_leading(self._on_started), name=f"leading:{self._name}"
                )
            try:
                await self._renew()
            finally:
                self._set_leading(False)
                if task is not None:
                    await _cancel_and_wait(task)
                try:
                    if self.release_on_cancel:
                        await self._release()
                finally:
                    self._lock.record_event("stopped leading")
                    await self._call(self._on_stopped)
        finally:
            self._set_leading(False)
            self._running = False

    # -- the loops -------------------------------------------------------------------------------

    async def _acquire(self) -> None:
        """Try until the lock is ours (wait.JitterUntil, sliding). Suspends; only ends by success."""
        log.info("attempting to acquire leader lease %s...", self._lock.describe())
        while True:
            succeeded = await self._try_acquire_or_renew()
            self._maybe_report_transition()
            if succeeded:
                log.info("successfully acquired lease %s", self._lock.describe())
                return
            log.debug("failed to acquire lease %s", self._lock.describe())
            await self._clock.sleep(self._jittered(self.retry_period))

    async def _renew(self) -> None:
        """Renew every retry_period; return once a renewal round missed its deadline."""
        while True:
            renewed = await self._renew_round()
            self._maybe_report_transition()
            if not renewed:
                log.info("failed to renew lease %s: deadline exceeded", self._lock.describe())
                return
            log.debug("successfully renewed lease %s", self._lock.describe())
            await self._clock.sleep(self.retry_period)

    async def _renew_round(self) -> bool:
        """Poll-immediate every retry_period until a renewal succeeds or renew_deadline passes.

        At the deadline we stop leading at once (synchronously, in the timer) and cancel the
        attempt in flight, so no request outlives the deadline on our side.
        """
        task = asyncio.current_task()
        assert task is not None
        expired = False

        def on_deadline() -> None:
            nonlocal expired
            expired = True
            self._set_leading(False)
            task.cancel()

        handle = self._clock.call_at(self._clock.now() + self.renew_deadline, on_deadline)
        try:
            while True:
                if await self._try_acquire_or_renew():
                    return True
                await self._clock.sleep(self.retry_period)
        except asyncio.CancelledError:
            if expired and task.uncancel() == 0:
                return False
            raise
        finally:
            handle.cancel()

    async def _release(self) -> None:
        """Write holder "" / leaseDurationSeconds 1 if we lead, within renew_deadline. Suspends.

        As client-go's tryRelease: re-read the Lease first (so the update is based on its current
        version), keep its leaseTransitions, and start over on a conflict. Unlike client-go, a
        Lease the re-read shows held by someone else is left alone (our lease expired meanwhile):
        clearing it would end another candidate's leadership.
        """
        if self._observed.holder_identity != self._lock.identity:
            return
        try:
            await _within(self._clock, self.renew_deadline, self._try_release())
        except Exception as exc:
            log.error("failed to release lock %s: %s", self._lock.describe(), exc)

    async def _try_release(self) -> None:
        while True:
            try:
                current, _ = await self._lock.get()
            except NotFoundError:
                log.info("lease lock %s not found; nothing to release", self._lock.describe())
                return
            if self._observed.holder_identity != self._lock.identity:
                return
            if current.holder_identity != self._lock.identity:
                log.info(
                    "not releasing lock %s: it is held by %r now",
                    self._lock.describe(),
                    current.holder_identity,
                )
                return
            now = self._clock.wall()
            record = LeaderElectionRecord(
                holder_identity="",
                lease_duration_seconds=1,
                acquire_time=now,
                renew_time=now,
                leader_transitions=current.leader_transitions,
            )
            try:
                await self._lock.update(record)
            except ConflictError:
                log.debug("conflict when releasing lock %s; retrying", self._lock.describe())
                continue
            self._set_observed(record)
            return

    async def _try_acquire_or_renew(self) -> bool:
        """One round of client-go's tryAcquireOrRenew; True when the lock is now ours. Suspends."""
        now = self._clock.now()
        wall = self._clock.wall()
        desired = LeaderElectionRecord(
            holder_identity=self._lock.identity,
            lease_duration_seconds=int(self.lease_duration),
            acquire_time=wall,
            renew_time=wall,
        )
        # 0. The fast path: we hold a lease that is still valid, so the Lease we last wrote is most
        # likely current; update it without reading it first (a conflict sends us the slow way).
        observed = self._observed
        if (
            observed.holder_identity == self._lock.identity
            and self._observed_time + observed.lease_duration_seconds > now
        ):
            renewed = LeaderElectionRecord(
                holder_identity=desired.holder_identity,
                lease_duration_seconds=desired.lease_duration_seconds,
                acquire_time=observed.acquire_time,
                renew_time=wall,
                leader_transitions=observed.leader_transitions,
            )
            try:
                await self._lock.update(renewed)
            except Exception as exc:
                log.info(
                    "failed to update lease %s optimistically (%s); falling back to the slow path",
                    self._lock.describe(),
                    exc,
                )
            else:
                self._set_observed(renewed)
                return True
        # 1. Obtain or create the record.
        try:
            old, raw = await self._lock.get()
        except NotFoundError:
            try:
                await self._lock.create(desired)
            except Exception as exc:
                log.error("error initially creating leader election record: %s", exc)
                return False
            self._set_observed(desired)
            return True
        except Exception as exc:
            log.error("error retrieving resource lock %s: %s", self._lock.describe(), exc)
            return False

        # 2. Note when the record last changed, and honour another holder's unexpired claim.
        if raw != self._observed_raw:
            self._set_observed(old)
            self._observed_raw = raw
        holds = self._observed.holder_identity == self._lock.identity
        if old.holder_identity and self._observed_time + old.lease_duration_seconds > now and not holds:
            log.debug("lock is held by %s and has not yet expired", old.holder_identity)
            return False

        # 3. Write our claim: keep acquireTime while we renew, count a transition when we take over.
        if holds:
            desired = LeaderElectionRecord(
                holder_identity=desired.holder_identity,
                lease_duration_seconds=desired.lease_duration_seconds,
                acquire_time=old.acquire_time,
                renew_time=wall,
                leader_transitions=old.leader_transitions,
            )
        else:
            desired = LeaderElectionRecord(
                holder_identity=desired.holder_identity,
                lease_duration_seconds=desired.lease_duration_seconds,
                acquire_time=wall,
                renew_time=wall,
                leader_transitions=old.leader_transitions + 1,
            )
        try:
            await self._lock.update(desired)
        except Exception as exc:
            log.error("failed to update lock %s: %s", self._lock.describe(), exc)
            return False
        self._set_observed(desired)
        return True

    # -- bookkeeping -----------------------------------------------------------------------------

    def _set_observed(self, record: LeaderElectionRecord) -> None:
        self._observed = record
        self._observed_time = self._clock.now()

    def _set_leading(self, leading: bool) -> None:
        """The single place leadership flips (also where the metric's value comes from)."""
        self._leading = leading

    def _jittered(self, period: float) -> float:
        return period * (1.0 + self._rng.random() * JITTER_FACTOR)

    def _maybe_report_transition(self) -> None:
        holder = self._observed.holder_identity
        if holder == self._reported_leader:
            return
        self._reported_leader = holder
        if self._on_new_leader is not None:
            self._spawn(self._call(self._on_new_leader, holder))

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _run_leading(self, fn: Callable[[], Awaitable[Any]]) -> None:
        try:
            result = fn()
            if not inspect.isawaitable(result):
                raise TypeError(f"on_started_leading must be an async function, it returned {result!r}")
            await result
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("on_started_leading of %s failed", self._name)

    async def _call(self, fn: Callable[..., Any] | None, *args: Any) -> None:
        if fn is None:
            return
        try:
            result = fn(*args)
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("leader election callback %r of %s failed", fn, self._name)

    def __repr__(self) -> str:
        state = "leading" if self._leading else "standby"
        return f"<LeaderElector {self._name} identity={self.identity!r} {state}>"


async def _within(clock: Clock, seconds: float, coro: Awaitable[None]) -> None:
    """Await ``coro`` in a task cancelled after ``seconds`` of ``clock`` time (TimeoutError)."""
    task = asyncio.ensure_future(coro)
    timed_out = False

    def expire() -> None:
        nonlocal timed_out
        timed_out = True
        task.cancel()

    handle = clock.call_at(clock.now() + seconds, expire)
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if timed_out and (current is None or current.cancelling() == 0):
            raise TimeoutError(f"gave up after {seconds}s") from None
        raise
    finally:
        handle.cancel()


async def _cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait for it to finish, even if we are being cancelled ourselves."""
    task.cancel()
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        if not task.done():
            # We were cancelled while waiting: still let the leading task finish before going on.
            await asyncio.wait([task])
            raise
    except Exception:
        pass
