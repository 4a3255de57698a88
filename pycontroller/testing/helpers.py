"""Helpers for tests of operators: wait for a condition, run a Manager for the length of a block.

``await eventually(assertion)`` calls ``assertion()`` (a plain or an async function) until it stops
raising and returns ``None`` or a truthy value, and returns that; after ``timeout`` seconds it
raises ``AssertionError`` carrying the last failure. It waits on a condition with a deadline,
never "sleeps to let things settle"::

    async def deployment_scaled() -> None:
        deployment = await rest_client.get(DEPLOYMENTS, "web", namespace)
        assert deployment["spec"]["replicas"] == 3

    await eventually(deployment_scaled, timeout=10)

``async with running(mgr):`` runs ``mgr.run()`` in a task of the test's loop, enters the block once
the Manager is ready (caches synced; the Lease held when it elects a leader), and on leaving asks
for a graceful shutdown, waits for it, and re-raises whatever ``run()`` raised. A Manager that fails
before it is ready raises its error from the ``async with`` line.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["eventually", "running"]

T = TypeVar("T")
log = logging.getLogger("pycontroller.testing")


async def eventually(
    assertion: Callable[[], Awaitable[T] | T],
    *,
    timeout: float = 15.0,
    interval: float = 0.02,
    what: str = "",
) -> T:
    """Call ``assertion`` every ``interval`` seconds until it passes; return its result.

    It passes when it returns without raising, and returns ``None`` (so plain ``assert``
    statements work) or something truthy (so predicates work: ``False``, ``0``, ``[]`` mean "not yet"). Any ``Exception`` it raises counts as "not yet". After
    ``timeout`` seconds (the event loop's clock) an ``AssertionError`` names ``what`` (or the
    function) and shows the last failure, which is also its ``__cause__``. Suspends.
    """
    if not callable(assertion):
        raise TypeError(f"eventually() takes a function to call, got {type(assertion).__name__}")
    if timeout < 0 or interval <= 0:
        raise ValueError(f"eventually() needs timeout >= 0 and interval > 0, got {timeout} and {interval}")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    attempts = 0
    while True:
        attempts += 1
        last: BaseException | None
        try:
            result = assertion()
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            last = exc
        else:
            if result is None or result:
                return result
            last = AssertionError(f"{_name(assertion)} returned {result!r}")
        if loop.time() >= deadline:
            label = what or _name(assertion)
            raise AssertionError(
                f"{label} did not pass within {timeout}s ({attempts} attempts); last failure: "
                f"{type(last).__name__}: {last}"
            ) from last
        await asyncio.sleep(interval)


def _name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


@contextlib.asynccontextmanager
async def running(mgr: Any, *, ready_timeout: float | None = 60.0) -> AsyncIterator[Any]:
    """Run ``mgr`` for the duration of the block (see the module doc); yields the Manager.

    ``ready_timeout`` bounds the wait for readiness (``TimeoutError``, after stopping the Manager).
    On exit the shutdown is bounded by the Manager's ``graceful_shutdown_timeout`` plus 30 s, then
    the task is cancelled and ``TimeoutError`` raised. If both the block and ``run()`` failed, the
    block's exception propagates and the Manager's is logged.
    """
    task: asyncio.Task[None] = asyncio.create_task(mgr.run(), name="manager-under-test")
    ready = asyncio.create_task(mgr.wait_until_ready(), name="manager-ready")
    try:
        done, _ = await asyncio.wait(
            {task, ready}, timeout=ready_timeout, return_when=asyncio.FIRST_COMPLETED
        )
    except BaseException:
        ready.cancel()
        await _stop(mgr, task)
        raise
    if ready not in done:
        ready.cancel()
        await asyncio.gather(ready, return_exceptions=True)
        if task in done:
            await task  # raises the Manager's failure
            raise RuntimeError("the Manager stopped before it became ready")
        await _stop(mgr, task)
        raise TimeoutError(f"the Manager was not ready within {ready_timeout}s")
    body_failed = False
    try:
        yield mgr
    except BaseException:
        body_failed = True
        raise
    finally:
        try:
            await _stop(mgr, task)
        except BaseException as exc:
            if not body_failed:
                raise
            log.error("the Manager under test failed too: %r", exc, exc_info=exc)


async def _stop(mgr: Any, task: asyncio.Task[None]) -> None:
    if not task.done():
        mgr.request_shutdown()
    limit = float(getattr(mgr, "graceful_shutdown_timeout", 30.0) or 30.0) + 30.0
    done, _ = await asyncio.wait({task}, timeout=limit)
    if not done:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise TimeoutError(f"the Manager did not stop within {limit}s of its shutdown request")
    task.result()
