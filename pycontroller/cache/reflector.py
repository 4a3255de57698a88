"""The reflector: keep a store in step with one resource on the API server, through every fault.

``await reflector.run()`` loops until its task is cancelled::

    list (paged)  ──replace──▶ store          resourceVersion "0" first, then the last synced one
    watch from the list's RV ──add/update/delete──▶ store      bookmarks only move the RV
      ├─ the watch ends (server timeout, broken connection) ─▶ watch again from the last RV
      ├─ 429 / connection refused ─▶ back off (Retry-After honoured), watch again, no relist
      ├─ 500 / bad input, within max_internal_error_retry_duration ─▶ back off, watch again
      ├─ any other ERROR event, 410 Expired/Gone, bad input (not JSON, metadata a Go client could
      │  not decode, an unknown event), a very short empty watch ─▶ error handler, back off, relist
      └─ no byte for the inactivity timeout ─▶ the watch is replaced (from the last RV)

This follows client-go's reflector (list with resourceVersion "0", then the last synced version;
after a 410 or a "too large resource version" on a list, list again at once with "" for a consistent
read; 500 items a page unless ``page_size`` is given; watch timeouts random in [300, 600) s, never
less; an ERROR event ends ListAndWatch, so the next round relists; backoff 0.8 s doubling to 30 s
with jitter 1.0, reset after 2 min of health). Bad input is what a Go client could not decode
(:func:`~pycontroller.cache.listwatch.metadata_problem`): a listed item with it is skipped, a watch
event with it ends the watch before reaching the store; either way it is logged, counted in
``stats.bad_input`` and never cached, so handlers never see it. Go's decoder turns a bad watch line
into an InternalError, so it is retried like a 500 (see ``max_internal_error_retry_duration``). With ``use_streaming_list`` it first tries a streaming list
(``sendInitialEvents``), which ends at the bookmark annotated ``k8s.io/initial-events-end``; when the
server refuses it, the reflector falls back to list and watch and stops asking.

The store is fed synchronously from the watch loop: ``add(obj)``, ``update(obj)``, ``delete(obj)``,
``replace(objs, resource_version)``, ``resync()`` and, if present, ``update_resource_version(rv)``.
Objects are dicts decoded by orjson and shared with the store: nobody may mutate them.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any, Protocol

import aiohttp
import orjson

from pycontroller.backoff import Backoff
from pycontroller.cache.list_decode import SKIP
from pycontroller.cache.listwatch import (
    INITIAL_EVENTS_END_ANNOTATION,
    BadWatchInput,
    ListWatch,
    TweakListOptions,
    WatchStalledError,
    WatchStream,
    gc_paused,
    is_connection_refused,
    is_too_large_resource_version,
    metadata_problem,
    raise_for_odd_event,
    read_initial_events,
    refuses_streaming_list,
    share_strings,
)
from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.clock import Clock, default_clock
from pycontroller.errors import (
    ApiError,
    DecodeError,
    GoneError,
    InvalidObjectError,
    ServerError,
    TooManyRequestsError,
)

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_WATCH_INACTIVITY_TIMEOUT",
    "INITIAL_EVENTS_END_ANNOTATION",
    "Reflector",
    "ReflectorStats",
    "ReflectorStore",
]

log = logging.getLogger("pycontroller.cache.reflector")

_MIN_WATCH_TIMEOUT = 300.0
#: client-go's pager default: items a page when no page size was asked for.
DEFAULT_PAGE_SIZE = 500
_STALL_GRACE = 30.0
DEFAULT_WATCH_INACTIVITY_TIMEOUT = 150.0


class ReflectorStore(Protocol):
    """What a reflector feeds (a DeltaFIFO, or any store with these methods)."""

    def add(self, obj: Any) -> Any: ...
    def update(self, obj: Any) -> Any: ...
    def delete(self, obj: Any) -> Any: ...
    def replace(self, objs: list[Any], resource_version: str) -> Any: ...
    def resync(self) -> Any: ...


class ReflectorStats:
    """Plain counters of one reflector (read them any time; exported by the metrics collector)."""

    __slots__ = (
        "bookmarks",
        "decode_errors",
        "events",
        "invalid_objects",
        "list_errors",
        "lists",
        "relist_reused",
        "relists",
        "resyncs",
        "stalls",
        "store_errors",
        "unknown_errors",
        "watch_errors",
        "watch_restarts",
        "watches",
    )

    def __init__(self) -> None:
        self.lists = 0  # successful lists (streaming lists included)
        self.relists = 0  # lists after the first
        self.relist_reused = 0  # relisted items answered by the cached object (same resourceVersion)
        self.list_errors = 0
        self.watches = 0  # watches opened
        self.watch_restarts = 0  # watches replaced without a relist
        self.watch_errors = 0  # watches that ended with an error (410, 5xx, refused...)
        self.stalls = 0  # watches replaced after the inactivity timeout
        self.events = 0  # ADDED/MODIFIED/DELETED applied to the store
        self.bookmarks = 0
        self.decode_errors = 0  # watch lines that are not JSON
        self.invalid_objects = 0  # objects a Go client could not decode (list items skipped too)
        self.unknown_errors = 0  # ERROR events and event types of an unknown shape
        self.store_errors = 0  # exceptions raised by the store
        self.resyncs = 0

    @property
    def bad_input(self) -> int:
        """Everything the server sent that could not be understood."""
        return self.decode_errors + self.invalid_objects + self.unknown_errors

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


WatchErrorHandler = Callable[["Reflector", BaseException], None]


def default_watch_error_handler(reflector: Reflector, exc: BaseException) -> None:
    """Log like client-go: expired watches quietly, everything else as a warning."""
    if isinstance(exc, GoneError):
        log.info("%s: watch of %s closed with: %s", reflector.name, reflector.gvr, exc)
    else:
        log.warning("%s: failed to list/watch %s: %s", reflector.name, reflector.gvr, exc)


def _snippet(item: Any) -> str:
    """The start of an item as JSON, for a log line (repr when it cannot be JSON). Never raises."""
    try:
        return orjson.dumps(item)[:200].decode("utf-8", "replace")
    except TypeError:
        return repr(item)[:200]


class _InternalErrorRetry:
    """client-go's RetryWithDeadline for internal errors (500s, undecodable watch lines).

    ``after(exc)`` after every watch that ended: a retryable error within ``reset`` (60 s) of the
    previous one keeps the first error's time, otherwise it starts a new streak; anything else
    clears the streak. ``should_retry()`` while the streak is younger than ``duration`` (0: never).
    """

    __slots__ = ("_clock", "_first", "_last", "duration", "reset")

    def __init__(self, duration: float, clock: Clock, reset: float = 60.0) -> None:
        self.duration = duration
        self.reset = reset
        self._clock = clock
        self._first: float | None = None
        self._last: float | None = None

    @staticmethod
    def retryable(exc: BaseException | None) -> bool:
        return isinstance(exc, BadWatchInput) or (isinstance(exc, ServerError) and exc.status == 500)

    def after(self, exc: BaseException | None) -> None:
        if not self.retryable(exc):
            self._first = self._last = None
            return
        now = self._clock.now()
        if self._last is not None and now - self._last <= self.reset:
            self._last = now
            return
        self._first = self._last = now

    def should_retry(self) -> bool:
        if self.duration <= 0 or self._first is None:
            return False
        if self._clock.now() - self._first <= self.duration:
            return True
        self._first = self._last = None
        return False


class _VeryShortWatch(Exception):
    """The server closed a watch in under a second without any event (client-go relists then)."""


class Reflector:
    """Keeps ``store`` equal to ``gvr``'s objects on the server (in ``namespace``, matching selectors).

    ``client`` is a :class:`RestClient` or a kubernetes_asyncio ``ApiClient`` (wrapped, not owned).
    ``await run()`` suspends until the task running it is cancelled (then it closes its watch and
    re-raises CancelledError); it never returns otherwise: every failure is logged, counted in
    :attr:`stats`, passed to the watch error handler and retried. Running one reflector twice at the
    same time raises RuntimeError; after a cancellation ``run()`` may be called again and resumes
    from :meth:`last_sync_resource_version` (a relist at that version, then a watch).

    ``resync_period`` > 0 calls ``store.resync()`` that often while a watch is up.
    ``watch_inactivity_timeout`` (150 s) replaces a watch that delivered no byte for that long. It
    must exceed the server's bookmark interval: kube-apiserver (1.20 measured) and the in-memory fake
    send a bookmark about every 60 s while anything in the cluster changes; on a fully idle server
    the replacement is a cheap re-watch from the last resourceVersion. None disables it, leaving only
    the bound every server honours: the watch's own ``timeoutSeconds`` plus 30 s.
    ``backoff`` replaces the default client-go backoff (0.8 s doubling to 30 s, jitter 1.0, reset
    after 120 s), e.g. to make tests fast; it must use the same clock.
    ``metadata_only`` lists and watches ``PartialObjectMetadata`` (only each object's metadata).
    ``transform`` runs once on every listed or watched object before the store sees it (a list
    item as soon as it is decoded, so the untransformed list is never held whole).
    ``known_object(item)`` (optional, never suspending) returns what the cache already holds for a
    listed item's key, or None. On a relist, an item whose resourceVersion equals the cached
    object's is replaced by the cached object as soon as it is decoded, before the transform: a
    relist of an unchanged cache (after a 410, say) then holds one page of new objects at a time
    instead of a second copy of the whole cache, and skips the transform of what did not change.
    The informers pass their indexer's lookup.

    ``page_size`` (client-go's ``WatchListPageSize``): given, every list asks for pages of that size,
    relists included; None (the default) pages by 500 on the first list and on lists from scratch,
    but relists at a known resourceVersion unpaginated, so the server can answer from its watch
    cache (unless the first list came back paginated); 0 never pages.
    ``min_watch_timeout`` raises the watch timeout's floor; values under client-go's 5 minutes are
    not honoured (the timeout is random in [floor, 2 * floor)).
    ``max_internal_error_retry_duration`` (client-go's ``MaxInternalErrorRetryDuration``, seconds,
    0 by default): for that long after the first of a streak of internal errors (a 500 ERROR event
    or an undecodable watch line), the reflector watches again from its last resourceVersion
    instead of relisting.
    """

    def __init__(
        self,
        client: RestClient,
        gvr: GroupVersionResource,
        store: Any,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        tweak_list_options: TweakListOptions | None = None,
        resync_period: float = 0.0,
        clock: Clock | None = None,
        name: str | None = None,
        watch_inactivity_timeout: float | None = DEFAULT_WATCH_INACTIVITY_TIMEOUT,
        use_streaming_list: bool = False,
        page_size: int | None = None,
        backoff: Backoff | None = None,
        min_watch_timeout: float = _MIN_WATCH_TIMEOUT,
        should_resync: Callable[[], bool] | None = None,
        max_internal_error_retry_duration: float = 0.0,
        metadata_only: bool = False,
        transform: Callable[[Any], Any] | None = None,
        known_object: Callable[[Any], Any] | None = None,
    ) -> None:
        if not isinstance(gvr, GroupVersionResource):
            raise TypeError(f"gvr must be a GroupVersionResource, got {type(gvr).__name__}")
        for method in ("add", "update", "delete", "replace", "resync"):
            if not callable(getattr(store, method, None)):
                raise TypeError(f"the reflector's store has no {method}() method: {type(store).__name__}")
        if resync_period < 0:
            raise ValueError(f"resync_period must not be negative, got {resync_period}")
        if page_size is not None and (
            isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 0
        ):
            raise ValueError(f"page_size must be None or an int >= 0, got {page_size!r}")
        if max_internal_error_retry_duration < 0:
            raise ValueError(
                "max_internal_error_retry_duration must not be negative, "
                f"got {max_internal_error_retry_duration}"
            )
        if watch_inactivity_timeout is not None and watch_inactivity_timeout <= 0:
            raise ValueError(f"watch_inactivity_timeout must be positive, got {watch_inactivity_timeout}")
        self.client = RestClient.wrap(client)
        self.gvr = gvr
        self.store = store
        self.namespace = namespace
        self.name = name or f"reflector({gvr}{'/' + namespace if namespace else ''})"
        self.resync_period = float(resync_period)
        self.watch_inactivity_timeout = watch_inactivity_timeout
        self.use_streaming_list = use_streaming_list
        self.page_size = page_size
        self.min_watch_timeout = max(float(min_watch_timeout), _MIN_WATCH_TIMEOUT)
        self.max_internal_error_retry_duration = float(max_internal_error_retry_duration)
        self.should_resync = should_resync
        self.stats = ReflectorStats()
        self._clock = clock or default_clock()
        self._backoff = backoff or Backoff(clock=self._clock)
        self._lw = ListWatch(
            self.client,
            gvr,
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            tweak_list_options=tweak_list_options,
            metadata_only=metadata_only,  # cachescale: PartialObjectMetadata lists and watches
        )
        if transform is not None and not callable(transform):
            raise TypeError("transform must be callable")
        self.transform = transform
        if known_object is not None and not callable(known_object):
            raise TypeError("known_object must be callable")
        self.known_object = known_object
        self._lw.item_hook = self._prepare_item
        self._lw.on_list_restart = self._list_restarted
        self._counted = (0, 0)
        self._error_handler: WatchErrorHandler = default_watch_error_handler
        self._update_rv: Callable[[str], Any] | None = getattr(store, "update_resource_version", None)
        self._last_sync_rv = ""
        self._rv_unavailable = False
        self._paginated_result = False
        self._streaming_refused = False
        self._listed_once = False
        self._running = False

    # -- public ----------------------------------------------------------------------------------

    def last_sync_resource_version(self) -> str:
        """The resourceVersion of the last list, event or bookmark applied ("" before the first)."""
        return self._last_sync_rv

    def set_watch_error_handler(self, handler: WatchErrorHandler) -> None:
        """Call ``handler(reflector, exc)`` for every failed list or watch (instead of logging)."""
        if not callable(handler):
            raise TypeError("the watch error handler must be callable")
        self._error_handler = handler

    async def run(self) -> None:
        """List and watch until cancelled. Suspends for the reflector's whole life."""
        if self._running:
            raise RuntimeError(f"{self.name} is already running")
        self._running = True
        log.debug("%s: starting (resync every %ss)", self.name, self.resync_period)
        try:
            while True:
                try:
                    await self._list_and_watch()
                except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
                    raise
                except Exception as exc:
                    self._report(exc)
                await self._backoff.wait()
        finally:
            self._running = False

    # -- list ------------------------------------------------------------------------------------

    def _relist_rv(self) -> str:
        if self._rv_unavailable:
            return ""
        return self._last_sync_rv or "0"

    def _list_page_size(self, rv: str) -> int:
        """client-go's choice of the pager's page size for a list at ``rv``."""
        if self.page_size is not None:
            return self.page_size  # asked for explicitly: every list, relists included
        if self._paginated_result or rv in ("", "0"):
            return DEFAULT_PAGE_SIZE
        # Relisting at a known RV without a limit lets the server answer from its watch cache.
        return 0

    async def _list(self) -> None:
        rv = self._relist_rv()
        page_size = self._list_page_size(rv)
        stats = self.stats
        # Items are counted as they are decoded: a list restarted (below, or by the pager after
        # a 410 on a continue token) must not count the items it had decoded twice.
        self._counted = (stats.invalid_objects, stats.relist_reused)
        try:
            try:
                result = await self._lw.list(rv, page_size)
            except ApiError as exc:
                if not (isinstance(exc, GoneError) or is_too_large_resource_version(exc)):
                    raise
                # The RV we listed at is compacted or not yet known: a consistent read instead.
                self._rv_unavailable = True
                rv = ""
                self._list_restarted()
                result = await self._lw.list("", page_size)  # the same pager, as in client-go
        except Exception:
            self.stats.list_errors += 1
            raise
        if rv == "0" and result.paginated:
            self._paginated_result = True
        self._rv_unavailable = False
        with gc_paused():  # a bulk step that allocates a container or two per object
            # Every item went through _prepare_item as it was decoded (ListWatch.item_hook).
            self.store.replace(result.items, result.resource_version)
        self._synced(result.resource_version)

    def _list_restarted(self) -> None:
        self.stats.invalid_objects, self.stats.relist_reused = self._counted

    def _prepare_item(self, item: Any, list_kind: str) -> Any:
        """One list item, called as soon as it is decoded: an item a Go client could not decode
        (:func:`metadata_problem`) is logged, counted and skipped; the others get the kind and
        apiVersion they lack, then ``transform`` (once: the informer's FIFO does not transform
        again), so the untransformed list is never held whole."""
        meta = item.get("metadata") if item.__class__ is dict else None
        problem = metadata_problem(meta)
        if problem is not None:
            self.stats.invalid_objects += 1
            log.warning(
                "%s: skipping a listed %s with %s: %.200s", self.name, self.gvr, problem, _snippet(item)
            )
            return SKIP
        if self._listed_once and self.known_object is not None:
            cached = self._unchanged(item, meta)  # type: ignore[arg-type]
            if cached is not None:
                return cached
        share_strings(meta)  # type: ignore[arg-type]
        if "kind" not in item and list_kind.endswith("List") and len(list_kind) > 4:
            item["kind"] = list_kind[:-4]
            item["apiVersion"] = self.gvr.api_version
        transform = self.transform
        return item if transform is None else transform(item)

    def _unchanged(self, item: Any, meta: dict[str, Any]) -> Any:
        """On a relist: the cached object when ``item`` is the version the cache holds, else None."""
        assert self.known_object is not None
        cached = self.known_object(item)
        if cached.__class__ is not dict:
            return None
        cached_meta = cached.get("metadata")
        if (
            cached_meta.__class__ is dict
            and cached_meta.get("resourceVersion") == meta["resourceVersion"]
            and cached_meta.get("uid") == meta.get("uid")
        ):
            self.stats.relist_reused += 1
            return cached
        return None

    def _prepare_initial_event(self, obj: Any) -> Any:
        """A streaming list's object as it arrives (already checked): the cached object if it did
        not change (on a relist), else ``transform(obj)``."""
        if self._listed_once and self.known_object is not None:
            cached = self._unchanged(obj, obj["metadata"])
            if cached is not None:
                return cached
        transform = self.transform
        return obj if transform is None else transform(obj)

    def _checked_items(self, items: list[Any], list_kind: str) -> list[Any]:
        """:meth:`_prepare_item` on every item of an already decoded list, the skipped ones left out."""
        prepare = self._prepare_item
        return [obj for obj in (prepare(item, list_kind) for item in items) if obj is not SKIP]

    def _synced(self, rv: str) -> None:
        if self._listed_once:
            self.stats.relists += 1
        self._listed_once = True
        self.stats.lists += 1
        self._last_sync_rv = rv

    # -- list and watch --------------------------------------------------------------------------

    async def _list_and_watch(self) -> None:
        async with AsyncExitStack() as stack:
            stream: WatchStream | None = None
            if self.use_streaming_list and not self._streaming_refused:
                try:
                    stream = await self._streaming_list(stack)
                except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
                    raise
                except Exception as exc:
                    if isinstance(exc, BadWatchInput):
                        exc = self._bad_input(exc)
                    if refuses_streaming_list(exc):
                        self._streaming_refused = True
                    log.warning(
                        "%s: the streaming list of %s failed (%s); falling back to list and watch",
                        self.name,
                        self.gvr,
                        exc,
                    )
                    await stack.aclose()
                    stream = None
            if stream is None:
                await self._list()
            resync_task = None
            if self.resync_period > 0:
                resync_task = asyncio.create_task(self._resync_loop(), name=f"{self.name}-resync")
            try:
                await self._watch(stack, stream)
            finally:
                if resync_task is not None:
                    resync_task.cancel()
                    await asyncio.gather(resync_task, return_exceptions=True)

    async def _resync_loop(self) -> None:
        while True:
            await self._clock.sleep(self.resync_period)
            if self.should_resync is None or self.should_resync():
                self.stats.resyncs += 1
                self.store.resync()

    def _watch_query(self, rv: str) -> dict[str, Any]:
        return {
            "resourceVersion": rv,
            "timeoutSeconds": int(self.min_watch_timeout * (random.random() + 1.0)),  # [5, 10) min
            "allowWatchBookmarks": True,
        }

    def _stall_timeout(self, query: dict[str, Any]) -> float:
        limit = float(query.get("timeoutSeconds") or self.min_watch_timeout * 2) + _STALL_GRACE
        if self.watch_inactivity_timeout is not None:
            return min(limit, self.watch_inactivity_timeout)
        return limit

    async def _open_watch(self, stack: AsyncExitStack, query: dict[str, Any]) -> WatchStream:
        stream = await stack.enter_async_context(
            self._lw.watch(query, inactivity_timeout=self._stall_timeout(query), clock=self._clock)
        )
        self.stats.watches += 1
        return stream

    async def _watch(self, outer: AsyncExitStack, stream: WatchStream | None) -> None:
        """Watch from the last synced RV until an error calls for a relist (then raise it).

        client-go's watch loop: a watch that ends normally (server timeout, broken connection,
        inactivity) is replaced from the last RV; 429 backs off and watches again; internal errors
        (a 500 ERROR event, an undecodable line) watch again only within
        ``max_internal_error_retry_duration``; any other error ends ListAndWatch, so the next
        round relists.
        """
        stack: AsyncExitStack = outer
        retry = _InternalErrorRetry(self.max_internal_error_retry_duration, self._clock)
        while True:
            if stream is None:
                stack = AsyncExitStack()
                try:
                    stream = await self._open_watch(stack, self._watch_query(self._last_sync_rv))
                except TooManyRequestsError as exc:
                    await self._retry_watch_later(exc, exc.retry_after)
                    continue
                except (aiohttp.ClientError, OSError) as exc:
                    if not is_connection_refused(exc):
                        raise
                    await self._retry_watch_later(exc, None)
                    continue
            # After a failure the backoff starts once the old connection is closed.
            backoff: tuple[BaseException | None, float | None] | None = None
            ended: BaseException | None = None
            try:
                await self._handle_watch(stream)
            except WatchStalledError as exc:
                self.stats.stalls += 1
                self.stats.watch_restarts += 1
                log.warning("%s: watch of %s stalled (%s); replacing it", self.name, self.gvr, exc)
            except TooManyRequestsError as exc:
                backoff = (exc, exc.retry_after)
            except (BadWatchInput, ServerError) as exc:
                if not retry.retryable(exc):
                    raise  # any other ERROR event ends ListAndWatch: relist
                ended = exc
            except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, ConnectionError) as exc:
                # A broken connection ends the watch like a server timeout does (client-go: EOF).
                log.debug("%s: watch of %s broke: %s", self.name, self.gvr, exc)
                self.stats.watch_restarts += 1
            else:
                self.stats.watch_restarts += 1
            finally:
                await stack.aclose()
                stream = None
            retry.after(ended)
            if ended is not None:
                if not retry.should_retry():
                    raise ended  # relist (counted and reported by run())
                # An internal error within max_internal_error_retry_duration: watch again.
                if isinstance(ended, BadWatchInput):
                    self._notify(self._bad_input(ended))
                    backoff = (None, None)
                else:
                    backoff = (ended, None)
            if backoff is not None:
                await self._retry_watch_later(*backoff)

    async def _retry_watch_later(self, exc: BaseException | None, retry_after: float | None) -> None:
        if exc is not None:
            self.stats.watch_errors += 1
            log.info("%s: watch of %s failed (%s); backing off", self.name, self.gvr, exc)
            self._notify(exc)
        self.stats.watch_restarts += 1
        if retry_after is not None:
            retry_after = min(retry_after, 120.0)
        await self._backoff.wait(retry_after)

    async def _handle_watch(self, stream: WatchStream) -> None:
        """Apply the events of one watch until it ends normally (return) or fails (raise)."""
        started = self._clock.now()
        count = 0
        store = self.store
        add, update, delete = store.add, store.update, store.delete
        loads = orjson.loads
        update_rv = self._update_rv
        stats = self.stats
        transform = self.transform
        while True:
            lines = await stream.read_lines()
            if not lines:
                break
            for line in lines:
                try:
                    event = loads(line)
                    etype = event["type"]
                    meta = event["object"]["metadata"]
                    rv = meta["resourceVersion"]
                except orjson.JSONDecodeError:
                    if not line.strip():
                        continue  # blank keep-alive lines
                    raise BadWatchInput("decode", "a watch line that is not JSON", line) from None
                except (KeyError, TypeError):
                    raise_for_odd_event(event, line)
                if type(rv) is not str:
                    raise BadWatchInput("invalid", f"a {etype} event with a non-string resourceVersion", line)
                if etype == "BOOKMARK":
                    stats.bookmarks += 1
                else:
                    problem = metadata_problem(meta)
                    if problem is not None:
                        if etype in ("ADDED", "MODIFIED", "DELETED"):
                            raise BadWatchInput("invalid", f"a {etype} event object with {problem}", line)
                        raise_for_odd_event(event, line)
                    obj = event["object"]
                    share_strings(meta)
                    try:
                        if transform is not None:
                            obj = transform(obj)  # once, before queueing (the FIFO does not)
                        if etype == "MODIFIED":
                            update(obj)
                        elif etype == "ADDED":
                            add(obj)
                        elif etype == "DELETED":
                            delete(obj)
                        else:
                            raise_for_odd_event(event, line)
                    except (InvalidObjectError, TypeError, ValueError, KeyError) as exc:
                        stats.store_errors += 1
                        log.error("%s: the store refused a %s %s: %s", self.name, self.gvr, etype, exc)
                    stats.events += 1
                self._last_sync_rv = rv
                if update_rv is not None:
                    update_rv(rv)
                count += 1
        if count == 0 and self._clock.now() - started < 1.0:
            raise _VeryShortWatch(
                f"very short watch of {self.gvr}: closed in under a second without any event"
            )

    # -- streaming list --------------------------------------------------------------------------

    async def _streaming_list(self, stack: AsyncExitStack) -> WatchStream | None:
        """Open a watch with sendInitialEvents; return it positioned after the initial events."""
        while True:
            query = self._watch_query("" if self._rv_unavailable else self._last_sync_rv)
            query["sendInitialEvents"] = True
            query["resourceVersionMatch"] = "NotOlderThan"
            stream = await self._open_watch(stack, query)
            try:
                rv, collected, bookmarks = await read_initial_events(stream, self._prepare_initial_event)
            except (GoneError, ApiError) as exc:
                if isinstance(exc, GoneError) or is_too_large_resource_version(exc):
                    self._rv_unavailable = True
                    await stack.aclose()
                    continue
                raise
            if rv is None:
                # The stream ended before the initial events did: start over with a clean slate.
                await stack.aclose()
                raise _VeryShortWatch(f"the streaming list of {self.gvr} ended before its bookmark")
            self.stats.bookmarks += bookmarks
            self._rv_unavailable = False
            with gc_paused():
                objs = list(collected.values())  # prepared as they arrived
                collected.clear()
                self.store.replace(objs, rv)
            self._synced(rv)
            return stream

    # -- errors ----------------------------------------------------------------------------------

    def _bad_input(self, exc: BadWatchInput) -> DecodeError:
        """Count and log input the server sent that we cannot use; return it as a DecodeError."""
        if exc.kind == "decode":
            self.stats.decode_errors += 1
        elif exc.kind == "invalid":
            self.stats.invalid_objects += 1
        else:
            self.stats.unknown_errors += 1
        log.warning(
            "%s: bad input on the watch of %s (%s), after resourceVersion %r. Line: %r",
            self.name,
            self.gvr,
            exc.reason,
            self._last_sync_rv,
            exc.snippet,
        )
        return DecodeError(f"watch of {self.gvr}: {exc.reason}", snippet=exc.snippet)

    def _report(self, exc: BaseException) -> None:
        """A list or watch failed in a way that needs a relist: count it and tell the handler."""
        if isinstance(exc, BadWatchInput):
            exc = self._bad_input(exc)
        elif not isinstance(exc, _VeryShortWatch):
            self.stats.watch_errors += 1
        self._notify(exc)

    def _notify(self, exc: BaseException) -> None:
        try:
            self._error_handler(self, exc)
        except Exception:
            log.exception("%s: the watch error handler raised", self.name)
