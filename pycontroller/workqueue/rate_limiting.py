"""The rate-limiting queue: a :class:`DelayingQueue` that asks a rate limiter how long to wait.

A worker whose reconcile failed calls ``add_rate_limited(key)``: the key comes back after the
limiter's delay (growing with each failure). On success it calls ``forget(key)`` so the next
failure starts from the shortest delay again, then ``done(key)`` as always.
"""

from __future__ import annotations

from pycontroller.clock import Clock
from pycontroller.workqueue.delaying import DelayingQueue
from pycontroller.workqueue.metrics import MetricsProvider
from pycontroller.workqueue.queue import T
from pycontroller.workqueue.rate_limiters import RateLimiter, default_controller_rate_limiter

__all__ = ["RateLimitingQueue"]


class RateLimitingQueue(DelayingQueue[T]):
    """A :class:`DelayingQueue` with :meth:`add_rate_limited`, :meth:`forget`, :meth:`num_requeues`.

    ``rate_limiter`` defaults to :func:`default_controller_rate_limiter` (on the queue's clock).
    Same loop and thread rules as :class:`Queue`.
    """

    __slots__ = ("_limiter", "_when")

    def __init__(
        self,
        rate_limiter: RateLimiter | None = None,
        *,
        name: str | None = None,
        clock: Clock | None = None,
        metrics: MetricsProvider | None = None,
    ) -> None:
        super().__init__(name=name, clock=clock, metrics=metrics)
        if rate_limiter is None:
            rate_limiter = default_controller_rate_limiter(clock=clock)
        elif not isinstance(rate_limiter, RateLimiter):
            raise TypeError(f"not a rate limiter: {type(rate_limiter).__name__}")
        self._limiter = rate_limiter
        self._when = rate_limiter.when

    @property
    def rate_limiter(self) -> RateLimiter:
        """The limiter this queue consults."""
        return self._limiter

    def add_rate_limited(self, item: T) -> None:
        """Add ``item`` after the delay the rate limiter gives it; never suspends.

        Ignored after shutdown (the limiter is then not consulted, so no failure is counted).
        """
        if self._shutting_down:
            return
        self.add_after(item, self._when(item))

    def forget(self, item: T) -> None:
        """Tell the rate limiter ``item`` succeeded: its next failure waits the shortest delay.

        Does not remove the item from the queue. Works after shutdown.
        """
        self._limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        """How many times ``item`` was rate limited since it was last forgotten."""
        return self._limiter.num_requeues(item)

    def add_rate_limited_threadsafe(self, item: T) -> None:
        """:meth:`add_rate_limited` from any thread: scheduled on the queue's loop; returns at once."""
        self._check_hashable(item)
        self._require_loop().call_soon_threadsafe(self.add_rate_limited, item)

    def forget_threadsafe(self, item: T) -> None:
        """:meth:`forget` from any thread: scheduled on the queue's loop; returns at once."""
        self._check_hashable(item)
        self._require_loop().call_soon_threadsafe(self.forget, item)
