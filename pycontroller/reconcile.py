"""What a reconcile returns, and the error that asks not to be retried.

A reconcile function takes a key (``"namespace/name"``, or ``"name"`` for cluster-scoped objects) and
returns :class:`Result` or ``None``. The controller reads the outcome like controller-runtime does:

* ``None`` or ``Result()``: success; the key's failure history is forgotten.
* ``Result(requeue_after=s)``: success, look again in ``s`` seconds (history forgotten first).
* ``Result(requeue=True)``: look again after the rate limiter's backoff for this key.
* an exception: retried with the rate limiter's per-key exponential backoff.
* :class:`TerminalError`: logged and counted, never retried (until the next watch event).

:func:`requeue_on_conflict` wraps a reconcile (async or plain) so a 409 Conflict (the cache was
behind a write) is retried with backoff without being counted or logged as an error.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Awaitable, Callable
from typing import Any, overload

import attrs

from pycontroller.errors import ConflictError

__all__ = ["Result", "TerminalError", "check_reconcile", "requeue_on_conflict"]


def _check_requeue_after(
    instance: Result, attribute: attrs.Attribute[float | None], value: float | None
) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(
            f"Result.requeue_after must be a number of seconds or None, got {type(value).__name__}"
        )
    if math.isnan(value) or value < 0:
        raise ValueError(f"Result.requeue_after must be >= 0 seconds, got {value!r}")


@attrs.frozen
class Result:
    """The outcome of one successful reconcile.

    ``requeue_after`` (seconds, > 0) wins over ``requeue``, as in controller-runtime. ``Result()`` is
    the same as returning ``None``. Negative or NaN delays raise ``ValueError``.
    """

    requeue: bool = False
    requeue_after: float | None = attrs.field(default=None, validator=_check_requeue_after)

    def is_zero(self) -> bool:
        """True when this result asks for nothing (plain success)."""
        return not self.requeue and not self.requeue_after


class TerminalError(Exception):
    """Raise (or raise ``from``) this when retrying cannot help: bad user input, say.

    The controller logs it and counts it in ``controller_runtime_terminal_reconcile_errors_total``
    (and in ``controller_runtime_reconcile_errors_total``) and does not requeue it (like
    controller-runtime, it leaves the key's backoff history as it was). The key is reconciled again on its next watch event. Wrap a cause with
    ``TerminalError(exc)`` or ``raise TerminalError("...") from exc``.
    """


def check_reconcile(reconcile: Any, what: str = "reconcile") -> bool:
    """Check that ``reconcile`` can be called with one key; return whether it is async.

    Raises ``TypeError`` (naming ``what``) for something not callable or whose signature cannot
    take exactly one positional argument. Used when a Controller is built and when a reconcile is
    wrapped, so a mistake shows at start-up, not at the first key. Never suspends.
    """
    if not callable(reconcile):
        raise TypeError(f"{what} must be callable, got {type(reconcile).__name__}")
    try:
        signature = inspect.signature(reconcile)
    except (TypeError, ValueError):  # a builtin without a signature: trust it
        return _is_async(reconcile)
    try:
        signature.bind("namespace/name")
    except TypeError as exc:
        raise TypeError(f"{what} {reconcile!r} must take one argument, the key: {exc}") from None
    return _is_async(reconcile)


def _is_async(fn: Any) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004 - an object with an async __call__
    return call is not None and inspect.iscoroutinefunction(call)


@overload
def requeue_on_conflict(
    reconcile: Callable[[str], Awaitable[Result | None]],
) -> Callable[[str], Awaitable[Result | None]]: ...


@overload
def requeue_on_conflict(reconcile: Callable[[str], Result | None]) -> Callable[[str], Result | None]: ...


def requeue_on_conflict(reconcile: Callable[[str], Any]) -> Callable[[str], Any]:
    """Wrap a reconcile: a :class:`~pycontroller.errors.ConflictError` becomes ``Result(requeue=True)``.

    A 409 on a write usually means the informer's copy was older than the server's (our own last
    write had not arrived yet, or someone else wrote): the next attempt, after the key's backoff,
    reads a newer cache. Answering ``Result(requeue=True)`` retries exactly like an error would,
    without counting it in the error metrics or logging a traceback. ``AlreadyExistsError`` is a
    ConflictError and is treated the same. Other exceptions pass through.

    Works for both kinds of reconcile and keeps the kind: an ``async def`` gives an async wrapper
    (it suspends wherever ``reconcile`` does), a plain function gives a plain wrapper (the
    Controller runs it in its thread pool). ``reconcile`` is checked here (callable, one argument),
    so a mistake fails when the Controller is built; a plain function that returns an awaitable
    (a lambda around an async function) raises TypeError at its first call: declare it ``async def``.
    """
    if check_reconcile(reconcile, "requeue_on_conflict's reconcile"):

        @functools.wraps(reconcile)
        async def async_wrapper(key: str) -> Result | None:
            try:
                result: Result | None = await reconcile(key)
                return result
            except ConflictError:
                return Result(requeue=True)

        return async_wrapper

    @functools.wraps(reconcile)
    def wrapper(key: str) -> Result | None:
        try:
            result = reconcile(key)
        except ConflictError:
            return Result(requeue=True)
        if inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()
            raise TypeError(
                f"{reconcile!r} is a plain function that returned an awaitable; declare it async def "
                "so requeue_on_conflict and the Controller await it"
            )
        return result  # type: ignore[no-any-return]

    return wrapper
