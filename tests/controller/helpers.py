"""Test helpers: a work queue with exact backoff, and a hand-fed informer.

``FakeInformer`` has the informer's ``add_event_handler`` and calls the handlers synchronously
with whatever the test feeds it, so handler and predicate tests need no API server.
"""

from __future__ import annotations

from typing import Any

from pycontroller.workqueue import ItemExponentialFailureRateLimiter, RateLimitingQueue


def make_queue(clock: Any, name: str | None = None, base: float = 0.005, cap: float = 1000.0) -> Any:
    """A RateLimitingQueue on ``clock`` with an exponential limiter only (no token bucket), so
    backoff delays are exact."""
    return RateLimitingQueue(ItemExponentialFailureRateLimiter(base, cap), name=name, clock=clock)


class FakeInformer:
    """Hand-fed informer: ``add``/``update``/``delete`` call every registered handler synchronously."""

    def __init__(self, synced: bool = True) -> None:
        self.handlers: list[Any] = []
        self.synced = synced

    def add_event_handler(self, handler: Any, resync_period: float | None = None) -> Any:
        self.handlers.append(handler)
        informer = self

        class Registration:
            def has_synced(self) -> bool:
                return informer.synced

        return Registration()

    def has_synced(self) -> bool:
        return self.synced

    def add(self, obj: Any, initial: bool = False) -> None:
        for h in self.handlers:
            h.on_add(obj, initial)

    def update(self, old: Any, new: Any) -> None:
        for h in self.handlers:
            h.on_update(old, new)

    def delete(self, obj: Any) -> None:
        for h in self.handlers:
            h.on_delete(obj)
