"""One open watch stream: filtering, a bounded queue of shared event bytes, and the writer loop.

Events reach a watcher synchronously from :meth:`Table.commit` through :meth:`Watcher.offer`,
which never blocks: it filters (namespace, selectors), turns selector transitions into
ADDED/DELETED like the real watch cache, and appends the event's shared bytes to the queue.
The writer coroutine (:meth:`Watcher.run`) drains the queue in batches into the HTTP response.
A watcher whose queue grows past its limit (a client that stopped reading) is closed, like the
real server closes watchers that fall too far behind. Bookmarks, the timeoutSeconds deadline,
stalls and drops are handled by the writer.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from .conversion import convert
from .partial import PartialRequest
from .printing import Printer
from .selectors import Filter
from .storage import Event, Stored

if TYPE_CHECKING:
    from aiohttp import web

    from .storage import Table

__all__ = ["WatchControl", "Watcher"]


class WatchControl:
    """Server-wide watch knobs shared by all watchers (see FakeAPIServer for the public API)."""

    def __init__(self) -> None:
        self.stalled = False
        self.bookmark_interval = 60.0
        self.queue_limit = 100_000
        self.overflow_grace = 5.0
        self.open_count = 0
        self._count_waiters: list[tuple[Callable[[int], bool], asyncio.Future[None]]] = []

    def watch_changed(self, delta: int) -> None:
        """A watch opened (+1) or closed (-1): wake waiters whose condition now holds."""
        self.open_count += delta
        if self._count_waiters:
            keep = []
            for predicate, fut in self._count_waiters:
                if fut.done():
                    continue
                if predicate(self.open_count):
                    fut.set_result(None)
                else:
                    keep.append((predicate, fut))
            self._count_waiters = keep

    async def wait_count(self, predicate: Callable[[int], bool], timeout: float) -> None:
        """Suspend until ``predicate(open watch count)`` holds; TimeoutError after ``timeout`` s."""
        if predicate(self.open_count):
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._count_waiters.append((predicate, fut))
        await asyncio.wait_for(fut, timeout)


class Watcher:
    """A watch on one table at one served version, for one namespace (or all) and filter."""

    def __init__(
        self,
        table: Table,
        api_version: str,
        namespace: str | None,
        filt: Filter,
        control: WatchControl,
        *,
        bookmarks: bool,
        deadline: float | None,
        store_rv: Any,
        printer: Printer | None = None,
        partial: PartialRequest | None = None,
    ) -> None:
        self.printer = printer  # set when the client asked for Tables (kubectl get --watch)
        self.partial = partial  # set when the client asked for PartialObjectMetadata (metadata only)
        self.start_rv = 0  # the version the watch started from (set before it is registered)
        self._columns_sent = False
        self.table = table
        self.api_version = api_version
        self.namespace = namespace
        self.filter = filt
        self.control = control
        self.bookmarks = bookmarks
        self.deadline = deadline
        self._store_rv = store_rv  # callable returning the store's current resourceVersion
        self.queue: deque[bytes] = deque()
        self.closed = False
        self.overflowed = False
        self.registered = False
        self._finished = False
        self._waiter: asyncio.Future[None] | None = None
        self._abrupt = False
        self._transport: Any = None

    # -- producer side (synchronous, never blocks) --------------------------------------------------

    def offer(self, event: Event) -> None:
        if self.closed:
            return
        ns = self.namespace
        if ns is not None and event.obj.key[0] != ns:
            return
        filt = self.filter
        if filt.trivial and self.printer is None and self.partial is None:
            self.push(event.line(self.api_version))
            return
        if filt.trivial:
            self.push(self.line(event.type, event.obj))
            return
        now_ok = event.type != "DELETED" and filt.matches(event.obj.obj)
        before_ok = event.old is not None and event.type != "ADDED" and filt.matches(event.old.obj)
        if event.type == "DELETED":
            if before_ok or filt.matches(event.obj.obj):
                self.push(self.line(event.type, event.obj))
        elif now_ok and before_ok:
            self.push(self.line(event.type, event.obj))
        elif now_ok:
            self.push(self.line("ADDED", event.obj))
        elif before_ok and event.old is not None:
            # left the selector: DELETED with the previous content at the event's resourceVersion
            old = dict(event.old.obj)
            old["metadata"] = {**old["metadata"], "resourceVersion": str(event.rv)}
            if self.partial is not None:
                self.push(b'{"type":"DELETED","object":' + self.partial.item(old) + b"}\n")
                return
            if self.printer is not None:
                self.push(self._table_line("DELETED", convert(old, self.api_version)))
                return
            self.push(b'{"type":"DELETED","object":' + _with_version(old, self.api_version) + b"}\n")

    def line(self, type_: str, stored: Stored) -> bytes:
        if self.partial is not None:
            return b'{"type":"' + type_.encode() + b'","object":' + self.partial.item(stored.obj) + b"}\n"
        if self.printer is not None:
            return self._table_line(type_, orjson.loads(stored.bytes_for(self.api_version)))
        return b'{"type":"' + type_.encode() + b'","object":' + stored.bytes_for(self.api_version) + b"}\n"

    def _table_line(self, type_: str, obj: dict[str, Any]) -> bytes:
        assert self.printer is not None
        meta = {"resourceVersion": (obj.get("metadata") or {}).get("resourceVersion", "")}
        table = self.printer.table([obj], meta, columns=not self._columns_sent)
        self._columns_sent = True
        return b'{"type":"' + type_.encode() + b'","object":' + orjson.dumps(table) + b"}\n"

    def push(self, data: bytes) -> None:
        self.queue.append(data)
        if len(self.queue) > self.control.queue_limit:
            # Too far behind: like the real server, forget the watcher and end its stream cleanly
            # (the client re-watches from the last version it saw). A client that stopped reading
            # altogether is cut off after a grace period so it cannot pin the handler forever.
            self.overflowed = True
            self.queue.clear()
            self.close()
            if self._transport is not None:
                asyncio.get_running_loop().call_later(self.control.overflow_grace, self._abort)
            return
        self._wake()

    def bookmark(self, annotations: dict[str, str] | None = None, rv: int | None = None) -> bytes:
        meta: dict[str, Any] = {"resourceVersion": str(self._store_rv() if rv is None else rv)}
        if annotations:
            meta["annotations"] = annotations
        if self.table.rdef.builtin:
            meta["creationTimestamp"] = None
        obj = {"kind": self.table.rdef.kind, "apiVersion": self.api_version, "metadata": meta}
        if self.partial is not None:
            obj = {"kind": "PartialObjectMetadata", "apiVersion": self.partial.api_version, "metadata": meta}
        return b'{"type":"BOOKMARK","object":' + orjson.dumps(obj) + b"}\n"

    def close(self, *, abrupt: bool = False) -> None:
        """End the stream: cleanly (the client sees the end of the body) or by dropping the connection."""
        if self.closed:
            return
        self.closed = True
        self._abrupt = abrupt
        if self.registered:
            self.control.watch_changed(-1)
        self.table.watchers.discard(self)
        if abrupt and self._transport is not None:
            self._transport.abort()  # also unblocks a writer waiting for the client to drain
        self._wake()

    def _abort(self) -> None:
        if self._transport is not None and not self._finished:
            self._transport.abort()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- writer side ----------------------------------------------------------------------------------

    async def run(self, request: web.Request, response: web.StreamResponse) -> None:
        """Write queued events until closed, the deadline passes or the client goes away."""
        loop = asyncio.get_running_loop()
        self._transport = request.transport
        control = self.control
        next_bookmark = self._next_bookmark(time.monotonic())
        try:
            while True:
                if control.stalled and not self.closed:
                    # no bytes at all until resumed (resume_watches and close both wake us)
                    await self._sleep(loop, None)
                    continue
                if self.queue and not self.overflowed:
                    batch = b"".join(self.queue)
                    self.queue.clear()
                    await response.write(batch)
                    continue
                if self.closed:
                    break
                now = time.monotonic()
                if self.deadline is not None and now >= self.deadline:
                    break
                if next_bookmark is not None and now >= next_bookmark:
                    # like the 1.20 watch cache: a bookmark carries the resource's latest version
                    # and is only sent once that is newer than where the watch started
                    if self.table.last_rv > self.start_rv:
                        self.queue.append(self.bookmark(rv=self.table.last_rv))
                    next_bookmark = self._next_bookmark(now)
                    continue
                wake_at = min(t for t in (self.deadline, next_bookmark, now + 3600.0) if t is not None)
                await self._sleep(loop, wake_at - now)
        finally:
            self._finished = True
            self.close()

    async def _sleep(self, loop: asyncio.AbstractEventLoop, seconds: float | None) -> None:
        """Until woken (an event, close, resume) or ``seconds`` passed (None: no time limit)."""
        self._waiter = loop.create_future()
        timer = loop.call_later(max(0.0, seconds), self._wake) if seconds is not None else None
        try:
            await self._waiter
        finally:
            if timer is not None:
                timer.cancel()
            self._waiter = None

    def wake(self) -> None:
        """Make the writer look at its state again (used when watches are resumed)."""
        self._wake()

    def _next_bookmark(self, now: float) -> float | None:
        if not self.bookmarks:
            return None
        at = now + self.control.bookmark_interval
        if self.deadline is not None:
            at = min(at, self.deadline - 2.0) if self.deadline - 2.0 > now else at
        return at


def _with_version(obj: dict[str, Any], api_version: str) -> bytes:
    if obj.get("apiVersion") != api_version:
        obj = convert(obj, api_version)
    return orjson.dumps(obj)
