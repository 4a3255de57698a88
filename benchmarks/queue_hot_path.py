"""Work queue hot path: how many keys per second pycontroller.workqueue moves.

    .venv/bin/python benchmarks/queue_hot_path.py [--runs N] [--json] [--quick] [--wall]

(a) add/get/done cycles in client-go's benchmark shape (add 1,000 distinct keys, then get+done
    1,000), metrics off and on, against a naive asyncio.Queue + set baseline;
(b) 1,000,000 pre-added items drained by 1, 4 and 16 worker tasks, against the same baseline;
(c) add() of an item already queued;
(d) add_after with 100,000 items pending, steady state (items mature and are taken meanwhile);
(e) add_rate_limited with the default limiter and with the exponential limiter alone.

Everything goes through the public API. Each row is the median of ``--runs`` runs. Rates are
per second of the process's CPU time (``--wall`` for wall-clock time): see ``clock_``.
"""

from __future__ import annotations

import asyncio
import heapq
import os
import random
import sys
import time
from collections.abc import Awaitable, Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from prometheus_client import CollectorRegistry

from benchmarks._harness import Row, median_of, parse_args, report
from pycontroller.workqueue import (
    DelayingQueue,
    ItemExponentialFailureRateLimiter,
    MetricsProvider,
    Queue,
    RateLimitingQueue,
    default_controller_rate_limiter,
)

#: The stopwatch: this process's CPU time by default, because the machine these numbers come from
#: is shared (load ~5-10 on 2 cores) and wall time mostly measures the other tenants. The queue is
#: single-threaded asyncio, so on an idle machine CPU time and wall time agree. ``--wall`` switches.
clock_ = time.process_time


def run(coro_fn: Callable[[], Awaitable[float]]) -> Callable[[], float]:
    """A measurement function running ``coro_fn`` on a fresh event loop."""

    def measure() -> float:
        return asyncio.run(coro_fn())  # type: ignore[arg-type]

    return measure


# -- (a) client-go's shape ---------------------------------------------------------------------


def cycles(rounds: int, metrics: bool) -> Callable[[], Awaitable[float]]:
    async def go() -> float:
        provider = MetricsProvider(registry=CollectorRegistry()) if metrics else None
        q: Queue[int] = Queue(name="bench" if metrics else None, metrics=provider)
        keys = list(range(1000))
        add, get, done = q.add, q.get, q.done
        start = clock_()
        for _ in range(rounds):
            for k in keys:
                add(k)
            for _ in keys:
                item, _ = await get()
                done(item)
        elapsed = clock_() - start
        q.shut_down()
        return rounds * len(keys) / elapsed

    return go


def naive_cycles(rounds: int) -> Callable[[], Awaitable[float]]:
    async def go() -> float:
        q: asyncio.Queue[int] = asyncio.Queue()
        queued: set[int] = set()
        keys = list(range(1000))
        start = clock_()
        for _ in range(rounds):
            for k in keys:
                if k not in queued:
                    queued.add(k)
                    q.put_nowait(k)
            for _ in keys:
                item = await q.get()
                queued.discard(item)
                q.task_done()
        elapsed = clock_() - start
        return rounds * len(keys) / elapsed

    return go


# -- (b) draining ------------------------------------------------------------------------------


def drain(n: int, workers: int) -> Callable[[], Awaitable[float]]:
    async def go() -> float:
        q: Queue[int] = Queue()
        for i in range(n):
            q.add(i)
        q.shut_down()  # queued items are still handed out, then every worker sees shutdown

        async def worker() -> None:
            get, done = q.get, q.done
            while True:
                item, shutdown = await get()
                if shutdown:
                    return
                done(item)

        start = clock_()
        await asyncio.gather(*(worker() for _ in range(workers)))
        return n / (clock_() - start)

    return go


def naive_drain(n: int, workers: int) -> Callable[[], Awaitable[float]]:
    async def go() -> float:
        q: asyncio.Queue[int | None] = asyncio.Queue()
        queued: set[int] = set()
        for i in range(n):
            queued.add(i)
            q.put_nowait(i)
        for _ in range(workers):
            q.put_nowait(None)

        async def worker() -> None:
            while True:
                item = await q.get()
                if item is None:
                    return
                queued.discard(item)
                q.task_done()

        start = clock_()
        await asyncio.gather(*(worker() for _ in range(workers)))
        return n / (clock_() - start)

    return go


# -- (c) duplicate adds ------------------------------------------------------------------------


def duplicate_adds(n: int) -> Callable[[], Awaitable[float]]:
    async def go() -> float:
        q: Queue[str] = Queue()
        add = q.add
        add("key")
        start = clock_()
        for _ in range(n):
            add("key")
        return n / (clock_() - start)

    return go


# -- (d) add_after steady state ----------------------------------------------------------------


class StepClock:
    """Time that jumps like an event loop's: timers due by the new time all run after the jump.

    (FakeClock stops at each timer's deadline, which makes a delaying queue fire once per item;
    a real loop fires once per iteration for everything due.)
    """

    def __init__(self) -> None:
        self._now = 1000.0
        self._timers: list[tuple[float, int, Callable[[], object]]] = []
        self._seq = 0
        self._cancelled: set[int] = set()

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        raise NotImplementedError

    def call_at(self, when: float, callback: Callable[[], object]) -> _StepTimer:
        self._seq += 1
        heapq.heappush(self._timers, (when, self._seq, callback))
        return _StepTimer(self, self._seq)

    def advance(self, seconds: float) -> None:
        self._now += seconds
        timers = self._timers
        while timers and timers[0][0] <= self._now:
            _, seq, callback = heapq.heappop(timers)
            if seq in self._cancelled:
                self._cancelled.discard(seq)
            else:
                callback()


class _StepTimer:
    __slots__ = ("_clock", "_seq")

    def __init__(self, clock: StepClock, seq: int) -> None:
        self._clock = clock
        self._seq = seq

    def cancel(self) -> None:
        self._clock._cancelled.add(self._seq)


def add_after_steady(pending: int, n: int) -> Callable[[], Awaitable[float]]:
    async def go() -> float:
        clock = StepClock()
        q: DelayingQueue[int] = DelayingQueue(clock=clock)
        rng = random.Random(1)
        for i in range(pending):
            q.add_after(i, rng.random())  # ready times spread over the next second
        batch = 100
        delays = [0.5 + rng.random() for _ in range(n)]  # mean 1 s: `pending` stay pending
        tick = batch / pending  # time for `batch` items to mature at this rate
        add_after, get, done = q.add_after, q.get, q.done
        key = pending
        start = clock_()
        for b in range(0, n, batch):
            for d in delays[b : b + batch]:
                add_after(key, d)
                key += 1
            clock.advance(tick)
            for _ in range(len(q)):
                item, _ = await get()
                done(item)
        elapsed = clock_() - start
        q.shut_down()
        return n / elapsed

    return go


# -- (e) add_rate_limited ----------------------------------------------------------------------


def rate_limited(n: int, default: bool) -> Callable[[], Awaitable[float]]:
    async def go() -> float:
        limiter = (
            default_controller_rate_limiter() if default else ItemExponentialFailureRateLimiter(0.005, 1000)
        )
        q: RateLimitingQueue[int] = RateLimitingQueue(limiter)
        add_rate_limited = q.add_rate_limited
        start = clock_()
        for i in range(n):
            add_rate_limited(i)
        elapsed = clock_() - start
        q.shut_down()
        return n / elapsed

    return go


def main() -> None:
    global clock_
    args = parse_args(
        "work queue hot path",
        add_arguments=lambda p: p.add_argument(
            "--wall", action="store_true", help="rates per wall-clock second instead of per CPU second"
        ),
    )
    if args.wall:
        clock_ = time.perf_counter
    quick = args.quick
    runs = args.runs
    rounds = 20 if quick else 200
    n_drain = 100_000 if quick else 1_000_000
    n_ops = 100_000 if quick else 500_000
    rows: list[Row] = []

    def measure(name: str, fn: Callable[[], Awaitable[float]], unit: str, target: float | None = None) -> Row:
        value, values = median_of(runs, run(fn))
        row = Row(name, value, unit, target=target, runs=values)
        rows.append(row)
        return row

    a_off = measure("(a) add/get/done, metrics off", cycles(rounds, False), "cycles/s", 1.5e6)
    measure("(a) add/get/done, metrics on", cycles(rounds, True), "cycles/s", 5e5)
    a_naive = measure("(a) naive asyncio.Queue+set", naive_cycles(rounds), "cycles/s")
    a_naive.note = f"pycontroller is {a_off.value / a_naive.value:.2f}x this"
    for workers in (1, 4, 16):
        ours = measure(f"(b) drain {n_drain:,} by {workers} workers", drain(n_drain, workers), "items/s", 8e5)
        naive = measure(f"(b) naive drain by {workers} workers", naive_drain(n_drain, workers), "items/s")
        naive.note = f"pycontroller is {ours.value / naive.value:.2f}x this"
        if workers > 1:
            ours.note = "get() never yields while items are ready (as asyncio.Queue)"
    measure("(c) add() of a queued item", duplicate_adds(n_ops * 2), "adds/s")
    measure("(d) add_after, 100k pending, steady", add_after_steady(100_000, n_ops), "adds/s", 3e5)
    measure("(e) add_rate_limited, exponential", rate_limited(n_ops // 5, False), "adds/s", 1e6)
    measure("(e) add_rate_limited, default limiter", rate_limited(n_ops // 5, True), "adds/s", 4e5)
    report("work queue hot path", rows, args)


if __name__ == "__main__":
    main()
