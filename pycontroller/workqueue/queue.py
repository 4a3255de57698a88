"""The work queue: a fair, deduplicating, stingy FIFO of keys for worker tasks.

Flow: event handlers ``add(key)``; each worker loops ``key, shutdown = await queue.get()``,
reconciles ``key``, then calls ``done(key)``. While a key is being processed it is in
``processing``; adding it again only marks it dirty, and ``done`` queues it once more. So a key is
never handed to two workers at once, and a burst of adds while it is processed costs one more
reconcile, not many.

Speed: ``get()`` does not suspend when an item is ready (like ``asyncio.Queue.get``), so a worker
that never awaits anything else keeps the loop busy; real reconcilers await I/O. Getters that do
wait are served strictly in arrival order, the item handed straight to the oldest waiter.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Hashable
from typing import Any, Generic, NoReturn, TypeVar, cast

from pycontroller.clock import Clock, default_clock
from pycontroller.workqueue.metrics import MetricsProvider, QueueMetrics, default_metrics_provider

__all__ = ["Queue"]

T = TypeVar("T", bound=Hashable)

#: what a waiting getter's future receives when the queue shuts down (never a valid item)
_SHUTDOWN: Any = object()


def unhashable(item: object) -> TypeError:
    """The error for an item that cannot be a queue key."""
    return TypeError(f"work queue items must be hashable; got an unhashable {type(item).__name__!r}")


class Queue(Generic[T]):
    """client-go's work queue for asyncio.

    ``name`` turns metrics on (see :mod:`pycontroller.workqueue.metrics`), exported through
    ``metrics`` (default: :func:`default_metrics_provider`, i.e. ``prometheus_client.REGISTRY``).
    ``clock`` times the metrics (default: the event loop's clock).

    The queue belongs to the event loop it was created on (or, if created outside one, first
    waited on). Its methods must be called from that loop's thread; other threads use the
    ``*_threadsafe`` methods.

    ``get()`` is typed ``tuple[T, bool]`` for convenient unpacking; when the flag is True the item
    is ``None`` and must not be used.

    For the subclasses in this package (not a public API): ``_now`` (the clock's ``now``, possibly
    a faster equivalent), ``_metrics`` (None for unnamed queues), ``_shutting_down``, ``_close()``
    (shutdown hook), ``_bind_loop`` / ``_require_loop``, ``_check_hashable``.
    """

    __slots__ = (
        "__weakref__",
        "_clock",
        "_dirty",
        "_drainers",
        "_getters",
        "_loop",
        "_metrics",
        "_name",
        "_now",
        "_processing",
        "_provider",
        "_queue",
        "_shutting_down",
    )

    def __init__(
        self,
        *,
        name: str | None = None,
        clock: Clock | None = None,
        metrics: MetricsProvider | None = None,
    ) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError(f"a queue name must be a str, not {type(name).__name__}")
        self._name = name or None
        self._clock: Clock = clock if clock is not None else default_clock()
        # Invariants:
        # every element of _queue is in _dirty and not in _processing, and appears once;
        # every element of _dirty not in _processing is in _queue;
        # _getters is non-empty only while _queue is empty (items go straight to the oldest getter);
        # _drainers is non-empty only while _shutting_down and _processing is non-empty.
        self._queue: deque[T] = deque()
        self._dirty: set[T] = set()
        self._processing: set[T] = set()
        self._getters: deque[asyncio.Future[T]] = deque()
        self._drainers: list[asyncio.Future[None]] = []
        self._shutting_down = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._now = self._clock.now
        self._provider: MetricsProvider | None = None
        self._metrics: QueueMetrics | None = None
        if self._name is not None:
            self._provider = metrics if metrics is not None else default_metrics_provider()
            self._metrics = self._provider.new_queue_metrics(self._name, self._now, self._dirty)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            self._bind_loop(loop)

    # -- loop binding -------------------------------------------------------------------------

    def _bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Make ``loop`` this queue's loop (once); reject use from another loop."""
        if self._loop is None:
            self._loop = loop
            if self._clock is default_clock():
                # The default clock reads the running loop's time; the queue only runs on this loop.
                # An unpatched loop's time() is time.monotonic(): call that builtin directly.
                now = loop.time
                if type(loop).time is asyncio.BaseEventLoop.time:
                    now = time.monotonic
                self._now = now
                if self._metrics is not None:
                    self._metrics.now = now
        elif loop is not self._loop:
            raise RuntimeError("this work queue belongs to another event loop")

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            raise RuntimeError(
                "the work queue is not bound to an event loop yet: create it inside the loop, "
                "or await get() once, before using *_threadsafe methods"
            )
        return loop

    # -- the hot path -------------------------------------------------------------------------

    @property
    def name(self) -> str | None:
        """The queue's name (the metrics label ``name``), or None."""
        return self._name

    def add(self, item: T) -> None:
        """Queue ``item`` unless it is already waiting; never suspends.

        An item being processed is only marked dirty: it is queued again when its worker calls
        :meth:`done`. Ignored after shutdown. Raises ``TypeError`` for an unhashable item.
        """
        if self._shutting_down:
            return
        dirty = self._dirty
        try:
            if item in dirty:
                return
        except TypeError:
            raise unhashable(item) from None
        dirty.add(item)
        metrics = self._metrics
        if metrics is not None:
            metrics.added(item)
        if item in self._processing:
            return
        self._queue.append(item)
        if self._getters:
            self._dispatch()

    async def get(self) -> tuple[T, bool]:
        """Take the next item: ``(item, False)``, or ``(None, True)`` once shut down and empty.

        Suspends only while the queue is empty; waiting getters are served first come, first
        served. After shutdown, items still queued are handed out before ``(None, True)``; a
        getter waiting at shutdown gets ``(None, True)`` at once. The caller must call
        :meth:`done` for every item it gets. Cancelling a waiting ``get`` loses no item.
        """
        queue = self._queue
        if queue:
            item = queue.popleft()
            self._dirty.discard(item)
            self._processing.add(item)
            metrics = self._metrics
            if metrics is not None:
                metrics.taken(item)
            return item, False
        return await self._wait()

    def done(self, item: T) -> None:
        """Mark ``item`` processed; if it was added meanwhile, queue it again. Never suspends.

        ``done`` of an item that is not being processed does nothing (as in client-go). Works after
        shutdown too (workers finishing their items end a :meth:`shut_down_with_drain` wait).
        """
        processing = self._processing
        try:
            processing.remove(item)
        except KeyError:
            return
        except TypeError:
            raise unhashable(item) from None
        metrics = self._metrics
        if metrics is not None:
            metrics.finished(item)
        if item in self._dirty:
            self._queue.append(item)
            if self._getters:
                self._dispatch()
        elif not processing and self._drainers:
            self._end_drain()

    def __len__(self) -> int:
        """How many items wait to be handed out (not counting items being processed). Never suspends."""
        return len(self._queue)

    def __repr__(self) -> str:
        state = "shutting down" if self._shutting_down else "running"
        return (
            f"<{type(self).__name__} name={self._name!r} queued={len(self._queue)} "
            f"processing={len(self._processing)} {state}>"
        )

    # -- waiting ------------------------------------------------------------------------------

    async def _wait(self) -> tuple[T, bool]:
        if self._shutting_down:
            return cast(T, None), True
        loop = asyncio.get_running_loop()
        self._bind_loop(loop)
        fut: asyncio.Future[T] = loop.create_future()
        self._getters.append(fut)
        try:
            item = await fut
        except asyncio.CancelledError:
            if fut.cancelled():
                try:
                    self._getters.remove(fut)
                except ValueError:
                    pass
            else:
                handed = fut.result()
                if handed is not _SHUTDOWN:
                    self._give_back(handed)
            raise
        if item is _SHUTDOWN:
            return cast(T, None), True
        return item, False

    def _dispatch(self) -> None:
        """Hand queued items to waiting getters, oldest getter first."""
        queue = self._queue
        getters = self._getters
        dirty = self._dirty
        processing = self._processing
        metrics = self._metrics
        while queue and getters:
            fut = getters.popleft()
            if fut.done():
                continue
            item = queue.popleft()
            dirty.discard(item)
            processing.add(item)
            if metrics is not None:
                metrics.taken(item)
            fut.set_result(item)

    def _give_back(self, item: T) -> None:
        """Undo a hand-off whose getter was cancelled before it saw the item: it goes first again."""
        self._processing.discard(item)
        if self._metrics is not None:
            self._metrics.untaken(item)
        # If it was re-added meanwhile it is already dirty, and (being processed) not queued.
        self._dirty.add(item)
        self._queue.appendleft(item)
        if self._getters:
            self._dispatch()

    # -- shutdown -----------------------------------------------------------------------------

    def shutting_down(self) -> bool:
        """True once :meth:`shut_down` or :meth:`shut_down_with_drain` was called."""
        return self._shutting_down

    def shut_down(self) -> None:
        """Stop accepting adds and wake every waiting getter with ``(None, True)``. Never suspends.

        Items already queued are still handed out. Ends any :meth:`shut_down_with_drain` wait.
        Stops exporting this queue's metrics. Idempotent.
        """
        self._close()
        self._end_drain()

    async def shut_down_with_drain(self) -> None:
        """Shut down like :meth:`shut_down`, then suspend until no item is being processed.

        Items taken before (or after) the call must all be ``done`` for it to return; a later
        :meth:`shut_down` ends the wait early. Cancelling it leaves the queue shut down.
        """
        loop = asyncio.get_running_loop()
        self._bind_loop(loop)
        self._close()
        if not self._processing:
            return
        fut: asyncio.Future[None] = loop.create_future()
        self._drainers.append(fut)
        try:
            await fut
        finally:
            if fut in self._drainers:
                self._drainers.remove(fut)

    def _close(self) -> None:
        self._shutting_down = True
        getters, self._getters = self._getters, deque()
        for fut in getters:
            if not fut.done():
                fut.set_result(_SHUTDOWN)
        if self._metrics is not None and self._provider is not None:
            self._provider.release(self._metrics)

    def _end_drain(self) -> None:
        drainers, self._drainers = self._drainers, []
        for fut in drainers:
            if not fut.done():
                fut.set_result(None)

    # -- other threads ------------------------------------------------------------------------

    def add_threadsafe(self, item: T) -> None:
        """:meth:`add` from any thread: scheduled on the queue's loop; returns at once.

        ``TypeError`` for an unhashable item is raised here, in the caller's thread. Raises
        ``RuntimeError`` if the queue has no loop yet or its loop is closed.
        """
        self._check_hashable(item)
        self._require_loop().call_soon_threadsafe(self.add, item)

    def done_threadsafe(self, item: T) -> None:
        """:meth:`done` from any thread (a reconciler running in a thread pool, say)."""
        self._check_hashable(item)
        self._require_loop().call_soon_threadsafe(self.done, item)

    def shut_down_threadsafe(self) -> None:
        """:meth:`shut_down` from any thread."""
        self._require_loop().call_soon_threadsafe(self.shut_down)

    @staticmethod
    def _check_hashable(item: object) -> None:
        try:
            hash(item)
        except TypeError:
            _raise_unhashable(item)


def _raise_unhashable(item: object) -> NoReturn:
    raise unhashable(item) from None
