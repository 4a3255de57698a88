"""Retrying a read-modify-write on conflict: client-go's ``retry.RetryOnConflict`` and ``OnError``.

Typical use, around a function that reads the object afresh and writes it::

    async def bump() -> None:
        obj = await client.get(FOOS, name, ns)
        obj["spec"]["n"] += 1
        await client.replace(FOOS, obj)

    await retry_on_conflict(bump)                      # up to 5 attempts, ~10 ms apart

The same call with a plain function (a reconcile running in the thread pool, writing through the
blocking :class:`~pycontroller.sync_client.SyncClient`) retries in the calling thread and returns the
result directly: ``retry_on_conflict(bump_sync)``. Which mode applies is decided by what ``fn``
returns: an awaitable (an ``async def``, or a lambda returning a coroutine) makes the call return
a coroutine to await; anything else is a blocking retry.

The numbers are client-go's: :data:`DEFAULT_RETRY` (5 steps, 10 ms, factor 1.0, jitter 0.1: for
conflicts, which clear as soon as the writer re-reads) and :data:`DEFAULT_BACKOFF` (4 steps, 10 ms,
factor 5.0, jitter 0.1). ``fn`` runs at most ``steps`` times with a sleep between attempts; the
last error is raised when every attempt failed. Only :class:`~pycontroller.errors.ConflictError`
with reason Conflict counts as a conflict (an ``AlreadyExistsError`` is a different answer, as
client-go's ``IsConflict`` says); other exceptions propagate at once.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

import attrs

from pycontroller.errors import AlreadyExistsError, ConflictError

__all__ = [
    "DEFAULT_BACKOFF",
    "DEFAULT_RETRY",
    "RetryBackoff",
    "is_conflict",
    "retry_on_conflict",
    "retry_on_error",
]

T = TypeVar("T")


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"RetryBackoff.{attribute.name} must be a number >= 0, got {value!r}")


@attrs.frozen
class RetryBackoff:
    """client-go's ``wait.Backoff``: ``steps`` attempts, the first sleep ``duration`` seconds, each
    next one multiplied by ``factor`` (capped at ``cap`` when > 0), each stretched by up to
    ``jitter`` times itself at random."""

    steps: int = attrs.field(default=5, validator=_positive)
    duration: float = attrs.field(default=0.01, validator=_positive)
    factor: float = attrs.field(default=1.0, validator=_positive)
    jitter: float = attrs.field(default=0.1, validator=_positive)
    cap: float = attrs.field(default=0.0, validator=_positive)

    def delays(self, rng: Callable[[], float] = random.random) -> list[float]:
        """The sleeps between the ``steps`` attempts (``steps - 1`` of them). Never suspends."""
        delays = []
        duration = self.duration
        for _ in range(max(self.steps - 1, 0)):
            delay = duration + rng() * self.jitter * duration if self.jitter > 0 else duration
            delays.append(delay)
            duration *= self.factor
            if self.cap > 0 and duration > self.cap:
                duration = self.cap
        return delays


#: client-go's ``retry.DefaultRetry``: for conflicts (5 attempts, 10 ms apart, +-10%).
DEFAULT_RETRY = RetryBackoff(steps=5, duration=0.01, factor=1.0, jitter=0.1)
#: client-go's ``retry.DefaultBackoff``: for other transient errors (10 ms, x5, 4 attempts).
DEFAULT_BACKOFF = RetryBackoff(steps=4, duration=0.01, factor=5.0, jitter=0.1)


def is_conflict(exc: BaseException) -> bool:
    """True for a 409 Conflict (a stale resourceVersion), not for AlreadyExists (client-go's IsConflict)."""
    return isinstance(exc, ConflictError) and not isinstance(exc, AlreadyExistsError)


@overload
def retry_on_error(
    fn: Callable[[], Awaitable[T]],
    retriable: Callable[[BaseException], bool],
    backoff: RetryBackoff = ...,
    *,
    sleep: Callable[[float], Any] | None = ...,
    rng: Callable[[], float] = ...,
) -> Awaitable[T]: ...


@overload
def retry_on_error(
    fn: Callable[[], T],
    retriable: Callable[[BaseException], bool],
    backoff: RetryBackoff = ...,
    *,
    sleep: Callable[[float], Any] | None = ...,
    rng: Callable[[], float] = ...,
) -> T: ...


def retry_on_error(
    fn: Callable[[], Any],
    retriable: Callable[[BaseException], bool],
    backoff: RetryBackoff = DEFAULT_BACKOFF,
    *,
    sleep: Callable[[float], Any] | None = None,
    rng: Callable[[], float] = random.random,
) -> Any:
    """Call ``fn()`` until it succeeds, an error ``retriable`` refuses, or ``backoff.steps`` ran out.

    client-go's ``retry.OnError``. Returns ``fn``'s result (a coroutine to await when ``fn``
    returns awaitables; see the module doc). ``sleep`` replaces the pause (``asyncio.sleep`` or
    ``time.sleep``; it may be async in async mode), ``rng`` the jitter's randomness; both for tests.
    """
    if not callable(fn):
        raise TypeError(f"retry needs a function to call, got {type(fn).__name__}")
    if not isinstance(backoff, RetryBackoff):
        raise TypeError(f"backoff must be a RetryBackoff, got {type(backoff).__name__}")
    delays = backoff.delays(rng)
    attempt = 0
    while True:
        try:
            result = fn()
        except Exception as exc:
            if not retriable(exc) or attempt >= len(delays):
                raise
            (sleep or time.sleep)(delays[attempt])
            attempt += 1
            continue
        if inspect.isawaitable(result):
            return _retry_async(result, fn, retriable, delays[attempt:], sleep)
        return result


async def _retry_async(
    first: Awaitable[Any],
    fn: Callable[[], Any],
    retriable: Callable[[BaseException], bool],
    delays: list[float],
    sleep: Callable[[float], Any] | None,
) -> Any:
    pending: Awaitable[Any] = first
    for delay in [*delays, None]:
        try:
            return await pending
        except Exception as exc:
            if delay is None or not retriable(exc):
                raise
        paused = (sleep or asyncio.sleep)(delay)
        if inspect.isawaitable(paused):
            await paused
        pending = fn()
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


@overload
def retry_on_conflict(
    fn: Callable[[], Awaitable[T]],
    backoff: RetryBackoff = ...,
    *,
    sleep: Callable[[float], Any] | None = ...,
    rng: Callable[[], float] = ...,
) -> Awaitable[T]: ...


@overload
def retry_on_conflict(
    fn: Callable[[], T],
    backoff: RetryBackoff = ...,
    *,
    sleep: Callable[[float], Any] | None = ...,
    rng: Callable[[], float] = ...,
) -> T: ...


def retry_on_conflict(
    fn: Callable[[], Any],
    backoff: RetryBackoff = DEFAULT_RETRY,
    *,
    sleep: Callable[[float], Any] | None = None,
    rng: Callable[[], float] = random.random,
) -> Any:
    """Call ``fn()`` again while it raises a 409 Conflict, per ``backoff`` (client-go's RetryOnConflict).

    ``fn`` must re-read what it writes: retrying a write of the same stale object conflicts again.
    Async ``fn``: ``await retry_on_conflict(fn)`` (suspends between attempts). Plain ``fn``: a
    blocking call that sleeps in the calling thread (meant for the reconcile thread pool). The
    last ConflictError propagates after ``backoff.steps`` attempts; other errors at once.
    """
    return retry_on_error(fn, is_conflict, backoff, sleep=sleep, rng=rng)
