"""RateLimitingQueue: add_rate_limited waits as the limiter says; forget resets; threads."""

from __future__ import annotations

import asyncio
import threading

import pytest

from pycontroller.testing import FakeClock
from pycontroller.workqueue import ItemExponentialFailureRateLimiter, MaxOfRateLimiter, RateLimitingQueue


async def test_add_rate_limited_waits_longer_after_each_failure_until_forgotten() -> None:
    clock = FakeClock()
    q: RateLimitingQueue[str] = RateLimitingQueue(ItemExponentialFailureRateLimiter(1, 100), clock=clock)
    q.add_rate_limited("a")
    clock.advance(1)
    item, _ = await q.get()
    q.add_rate_limited(item)  # failed again: 2 s this time
    q.done(item)
    clock.advance(1.5)
    assert len(q) == 0
    clock.advance(0.5)
    assert len(q) == 1
    assert q.num_requeues("a") == 2
    item, _ = await q.get()
    q.forget(item)  # succeeded
    q.done(item)
    assert q.num_requeues("a") == 0
    q.add_rate_limited("a")
    clock.advance(1)
    assert len(q) == 1


async def test_the_default_limiter_is_client_gos() -> None:
    clock = FakeClock()
    q: RateLimitingQueue[str] = RateLimitingQueue(clock=clock)
    assert isinstance(q.rate_limiter, MaxOfRateLimiter)
    q.add_rate_limited("a")
    clock.advance(0.004)
    assert len(q) == 0
    clock.advance(0.001)
    assert len(q) == 1


async def test_add_rate_limited_after_shut_down_is_ignored_and_counts_no_failure() -> None:
    q: RateLimitingQueue[str] = RateLimitingQueue(clock=FakeClock())
    q.shut_down()
    q.add_rate_limited("a")
    assert q.num_requeues("a") == 0 and q.pending() == 0


async def test_a_bad_rate_limiter_is_rejected() -> None:
    with pytest.raises(TypeError):
        RateLimitingQueue(object())  # type: ignore[arg-type]


def test_reconcilers_in_threads_requeue_and_forget_through_threadsafe_methods() -> None:
    async def main() -> tuple[int, int]:
        q: RateLimitingQueue[str] = RateLimitingQueue(ItemExponentialFailureRateLimiter(0.001, 0.01))
        attempts: dict[str, int] = {}
        finished = asyncio.Event()
        loop = asyncio.get_running_loop()

        def reconcile(key: str) -> None:  # runs in a worker thread
            attempts[key] = attempts.get(key, 0) + 1
            if attempts[key] < 3:
                q.add_rate_limited_threadsafe(key)  # failed: retry later
            else:
                q.forget_threadsafe(key)  # succeeded: reset its backoff
                loop.call_soon_threadsafe(finished.set)
            q.done_threadsafe(key)

        async def worker() -> None:
            while True:
                key, shutdown = await q.get()
                if shutdown:
                    return
                await loop.run_in_executor(None, reconcile, key)

        q.add("k")
        task = asyncio.create_task(worker())
        await asyncio.wait_for(finished.wait(), 5)
        requeues_seen = attempts["k"]
        await asyncio.sleep(0)  # the forget scheduled just before `finished` has run
        remaining = q.num_requeues("k")
        q.shut_down()
        await asyncio.wait_for(task, 5)
        return requeues_seen, remaining

    assert asyncio.run(main()) == (3, 0)
    assert threading.active_count() >= 1
