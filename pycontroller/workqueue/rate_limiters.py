"""Rate limiters: how long an item should wait before it is retried.

Each limiter answers ``when(item) -> seconds`` (and records the attempt), ``forget(item)`` (the
item succeeded: reset its history) and ``num_requeues(item)``. They are client-go's, with its
numbers; :func:`default_controller_rate_limiter` is what controllers use unless told otherwise.

Limiters are plain objects without locks: use them from the queue's event loop (the
``*_threadsafe`` queue methods get there for callers in other threads). Delays are float seconds.
Bad arguments (negative, NaN, infinite where a finite number is needed) raise ``ValueError``.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Protocol, runtime_checkable

from pycontroller.clock import Clock, default_clock

__all__ = [
    "BucketRateLimiter",
    "ItemExponentialFailureRateLimiter",
    "ItemFastSlowRateLimiter",
    "MaxOfRateLimiter",
    "RateLimiter",
    "WithMaxWaitRateLimiter",
    "default_controller_rate_limiter",
]


@runtime_checkable
class RateLimiter(Protocol):
    """What :class:`~pycontroller.workqueue.RateLimitingQueue` asks of a rate limiter."""

    def when(self, item: Hashable) -> float:
        """Seconds ``item`` should wait before its next attempt; records the attempt. Never suspends."""
        ...

    def forget(self, item: Hashable) -> None:
        """Drop ``item``'s history (it succeeded). Never suspends."""
        ...

    def num_requeues(self, item: Hashable) -> int:
        """How many times ``item`` was rate limited since it was last forgotten."""
        ...


def _seconds(name: str, value: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}") from None
    if not (0.0 <= value < math.inf):
        raise ValueError(f"{name} must be finite and >= 0 seconds, got {value!r}")
    return value


class ItemExponentialFailureRateLimiter:
    """``base_delay * 2**failures`` per item, capped at ``max_delay``.

    Failures are counted before the increment, so the first ``when`` returns ``base_delay``,
    then twice that, and so on; ``forget`` starts over.
    """

    __slots__ = ("_base", "_cap_exp", "_cap_value", "_failures", "_max")

    def __init__(self, base_delay: float, max_delay: float) -> None:
        self._base = _seconds("base_delay", base_delay)
        self._max = _seconds("max_delay", max_delay)
        # Invariant: for exp >= _cap_exp the delay is _cap_value; below it, base * 2**exp < max.
        if self._base == 0.0:
            self._cap_exp, self._cap_value = 0, 0.0
        else:
            exp, value = 0, self._base
            while value < self._max:
                value *= 2.0
                exp += 1
            self._cap_exp, self._cap_value = exp, self._max
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        """Seconds ``item`` should wait; records the attempt. Never suspends."""
        failures = self._failures
        exp = failures.get(item, 0)
        failures[item] = exp + 1
        if exp >= self._cap_exp:
            return self._cap_value
        return math.ldexp(self._base, exp)

    def forget(self, item: Hashable) -> None:
        """Reset ``item``'s history. Never suspends."""
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        """Attempts recorded for ``item`` since it was last forgotten."""
        return self._failures.get(item, 0)


class ItemFastSlowRateLimiter:
    """``fast_delay`` for the first ``max_fast_attempts`` attempts of an item, then ``slow_delay``."""

    __slots__ = ("_failures", "_fast", "_max_fast", "_slow")

    def __init__(self, fast_delay: float, slow_delay: float, max_fast_attempts: int) -> None:
        self._fast = _seconds("fast_delay", fast_delay)
        self._slow = _seconds("slow_delay", slow_delay)
        if not isinstance(max_fast_attempts, int) or isinstance(max_fast_attempts, bool):
            raise TypeError("max_fast_attempts must be an int")
        if max_fast_attempts < 0:
            raise ValueError(f"max_fast_attempts must be >= 0, got {max_fast_attempts}")
        self._max_fast = max_fast_attempts
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        """Seconds ``item`` should wait; records the attempt. Never suspends."""
        failures = self._failures
        n = failures.get(item, 0) + 1
        failures[item] = n
        return self._fast if n <= self._max_fast else self._slow

    def forget(self, item: Hashable) -> None:
        """Reset ``item``'s history. Never suspends."""
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        """Attempts recorded for ``item`` since it was last forgotten."""
        return self._failures.get(item, 0)


class BucketRateLimiter:
    """One token bucket shared by all items: ``burst`` at once, then one every ``1/qps`` seconds.

    Reservation semantics (Go's ``rate.Limiter.Reserve().Delay()``): every ``when`` takes a token
    now, going into debt if none is left, and returns how long until that token exists. The
    bucket starts full. ``qps`` may be ``inf`` (never waits). Not per item: ``forget`` does
    nothing and ``num_requeues`` is 0. Time comes from ``clock``.
    """

    __slots__ = ("_burst", "_clock", "_last", "_qps", "_tokens")

    def __init__(self, qps: float, burst: int, *, clock: Clock | None = None) -> None:
        try:
            qps = float(qps)
        except (TypeError, ValueError):
            raise TypeError(f"qps must be a number, not {type(qps).__name__}") from None
        if not qps > 0:
            raise ValueError(f"qps must be > 0 (or inf), got {qps!r}")
        if not isinstance(burst, int) or isinstance(burst, bool):
            raise TypeError("burst must be an int")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst}")
        self._qps = qps
        self._burst = float(burst)
        self._clock = clock if clock is not None else default_clock()
        # Invariant: _tokens (may be negative: reserved debt) was the level at time _last.
        self._tokens = float(burst)
        self._last = -math.inf

    def when(self, item: Hashable) -> float:
        """Seconds ``item`` should wait; records the attempt. Never suspends."""
        qps = self._qps
        if qps == math.inf:
            return 0.0
        now = self._clock.now()
        elapsed = now - self._last
        tokens = self._tokens
        if elapsed > 0:
            tokens += elapsed * qps
            if tokens > self._burst:
                tokens = self._burst
        tokens -= 1.0
        self._tokens = tokens
        self._last = now
        return 0.0 if tokens >= 0 else -tokens / qps

    def forget(self, item: Hashable) -> None:
        """Nothing to forget: the bucket is shared by all items."""
        return None

    def num_requeues(self, item: Hashable) -> int:
        """Always 0: the bucket does not count per item."""
        return 0


class MaxOfRateLimiter:
    """The longest delay of several limiters; ``num_requeues`` is their maximum too."""

    __slots__ = ("_limiters", "_whens")

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        for limiter in limiters:
            if not isinstance(limiter, RateLimiter):
                raise TypeError(f"not a rate limiter: {type(limiter).__name__}")
        self._limiters = limiters
        self._whens = tuple(limiter.when for limiter in limiters)

    def when(self, item: Hashable) -> float:
        """Seconds ``item`` should wait; records the attempt. Never suspends."""
        delay = 0.0
        for when in self._whens:
            d = when(item)
            if d > delay:
                delay = d
        return delay

    def forget(self, item: Hashable) -> None:
        """Reset ``item``'s history. Never suspends."""
        for limiter in self._limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        """Attempts recorded for ``item`` since it was last forgotten."""
        return max(limiter.num_requeues(item) for limiter in self._limiters)


class WithMaxWaitRateLimiter:
    """Another limiter's delay, never more than ``max_delay``."""

    __slots__ = ("_limiter", "_max", "_when")

    def __init__(self, limiter: RateLimiter, max_delay: float) -> None:
        if not isinstance(limiter, RateLimiter):
            raise TypeError(f"not a rate limiter: {type(limiter).__name__}")
        self._limiter = limiter
        self._when = limiter.when
        self._max = _seconds("max_delay", max_delay)

    def when(self, item: Hashable) -> float:
        """Seconds ``item`` should wait; records the attempt. Never suspends."""
        delay = self._when(item)
        return delay if delay < self._max else self._max

    def forget(self, item: Hashable) -> None:
        """Reset ``item``'s history. Never suspends."""
        self._limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        """Attempts recorded for ``item`` since it was last forgotten."""
        return self._limiter.num_requeues(item)


def default_controller_rate_limiter(*, clock: Clock | None = None) -> MaxOfRateLimiter:
    """client-go's default: per-item exponential 5 ms .. 1000 s, and an overall 10 qps / burst 100 bucket."""
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(0.005, 1000.0),
        BucketRateLimiter(10.0, 100, clock=clock),
    )
