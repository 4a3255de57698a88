"""Jittered exponential backoff that forgets past failures after a healthy period.

This is client-go's ``ExponentialBackoffManager`` as the reflector uses it: the first delay is
``initial`` (0.8 s), each further delay doubles up to ``maximum`` (30 s), every delay is stretched by
a random ``jitter`` fraction (1.0: anywhere between 1x and 2x), and when no delay was asked for during
``reset_after`` (2 min) the sequence starts again from ``initial``: a component that has been healthy
for a while reacts quickly to its next failure.

    backoff = Backoff(clock=clock)
    while True:
        try:
            await do_work()
        except TransientError:
            await backoff.wait()            # 0.8..1.6 s, then 1.6..3.2 s, ... capped at 30..60 s

Time comes from a :class:`pycontroller.clock.Clock`, so tests drive it with a fake clock.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from pycontroller.clock import Clock, default_clock

__all__ = ["Backoff"]


class Backoff:
    """Exponential backoff with jitter, a cap and a reset after ``reset_after`` seconds of calm.

    ``initial`` is the first base delay, ``factor`` multiplies the base after each step, ``maximum``
    caps the base (the jittered delay can reach ``maximum * (1 + jitter)``, as in client-go),
    ``jitter`` adds ``random() * jitter * base``. ``reset_after`` (seconds since the previous delay
    was handed out) restarts the sequence; 0 or less disables the reset. ``rng`` is a
    ``random.random``-like callable, for deterministic tests.

    Not thread-safe; one owner (a task) uses it. Nothing to shut down.
    """

    __slots__ = ("_base", "_clock", "_last", "_rng", "factor", "initial", "jitter", "maximum", "reset_after")

    def __init__(
        self,
        initial: float = 0.8,
        maximum: float = 30.0,
        *,
        factor: float = 2.0,
        jitter: float = 1.0,
        reset_after: float = 120.0,
        clock: Clock | None = None,
        rng: Callable[[], float] | None = None,
    ) -> None:
        if initial < 0 or maximum < 0:
            raise ValueError("backoff durations must not be negative")
        if maximum < initial:
            raise ValueError(f"backoff maximum ({maximum}) is smaller than initial ({initial})")
        if factor < 1:
            raise ValueError(f"backoff factor must be at least 1, got {factor}")
        if jitter < 0:
            raise ValueError(f"backoff jitter must not be negative, got {jitter}")
        self.initial = float(initial)
        self.maximum = float(maximum)
        self.factor = float(factor)
        self.jitter = float(jitter)
        self.reset_after = float(reset_after)
        self._clock = clock or default_clock()
        self._rng = rng or random.random
        self._base = self.initial
        self._last: float | None = None

    def next_delay(self) -> float:
        """Return the next delay in seconds and step the sequence. Never suspends."""
        now = self._clock.now()
        if self._last is not None and self.reset_after > 0 and now - self._last >= self.reset_after:
            self._base = self.initial
        self._last = now
        base = self._base
        self._base = min(self._base * self.factor, self.maximum)
        if self.jitter > 0:
            return base + self._rng() * self.jitter * base
        return base

    def reset(self) -> None:
        """Start again from ``initial`` (after a success that proves health). Never suspends."""
        self._base = self.initial
        self._last = None

    async def wait(self, at_least: float | None = None) -> float:
        """Sleep for the next delay on the clock (or ``at_least`` seconds if longer); return it.

        ``at_least`` carries a server's ``Retry-After`` hint. Suspends; cancellable.
        """
        delay = self.next_delay()
        if at_least is not None and at_least > delay:
            delay = at_least
        await self._clock.sleep(delay)
        return delay
