"""Injected time.

Everything in pycontroller that waits or measures takes a :class:`Clock`, so tests drive time with
:class:`pycontroller.testing.FakeClock` (or run on ``looptime``'s fake loop time) instead of sleeping.

A clock offers monotonic ``now()``, wall-clock ``wall()``, ``await sleep(seconds)`` and
``call_at(when, callback)``, a one-shot timer on the monotonic scale returning a handle with
``cancel()``. The default, :class:`LoopClock`, reads the running event loop's time, so it follows
``looptime`` when that plugin is active.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "LoopClock", "TimerHandle", "default_clock"]


@runtime_checkable
class TimerHandle(Protocol):
    """A scheduled callback that can be cancelled (asyncio.TimerHandle has this shape)."""

    def cancel(self) -> None: ...


@runtime_checkable
class Clock(Protocol):
    """The time source components are built with."""

    def now(self) -> float:
        """Monotonic seconds; only differences are meaningful. Never suspends."""
        ...

    def wall(self) -> float:
        """Seconds since the Unix epoch, for timestamps written to the API server. Never suspends."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend for ``seconds`` of this clock's time (0 or less just yields)."""
        ...

    def call_at(self, when: float, callback: Callable[[], object]) -> TimerHandle:
        """Run ``callback`` once, on the event loop, when ``now() >= when``. Never suspends."""
        ...


class LoopClock:
    """The running event loop's clock (``loop.time()``); follows ``looptime`` in tests.

    ``now()`` and ``call_at()`` must be called from a thread running an event loop, or after the
    clock was bound to one with ``LoopClock(loop)``.
    """

    __slots__ = ("_loop",)

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is not None:
            return self._loop
        return asyncio.get_running_loop()

    def now(self) -> float:
        loop = self._loop
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return time.monotonic()
        return loop.time()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def call_at(self, when: float, callback: Callable[[], object]) -> TimerHandle:
        return self._get_loop().call_at(when, callback)


_DEFAULT = LoopClock()


def default_clock() -> Clock:
    """The shared :class:`LoopClock` used when a component is given no clock."""
    return _DEFAULT
