"""List and watch one resource over the raw REST client: the reflector's view of the API server.

:class:`ListWatch` builds the query of every list and watch (namespace, label and field selectors, the
user's ``tweak_list_options``), pages through lists with continue tokens the way client-go's pager
does (a 410 on a continue token falls back to one full list with the original options), and opens
watches as
:class:`WatchStream` objects.

A :class:`WatchStream` reads the chunked watch body itself, one JSON object per line, and hands out
whole lines in batches (``await stream.read_lines()``), so decoding stays in the caller's tight loop
with one suspension per network chunk rather than per event. It also watches the watch: when no byte
arrives for ``inactivity_timeout`` seconds of the injected clock (bookmarks count as bytes), the
next read raises :class:`WatchStalledError` and the caller replaces the watch.

The last section says what a watch may carry and how the reflector classifies it: ERROR events
become their :class:`~pycontroller.errors.ApiError`, anything unusable a :class:`BadWatchInput`
(with the line's start, for the log); :func:`read_initial_events` consumes a streaming list up to
its ``k8s.io/initial-events-end`` bookmark; :func:`share_strings` interns repeated strings of
cached objects; the ``is_*`` predicates sort errors the way client-go does.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any, NoReturn

import aiohttp
import orjson

from pycontroller.cache.list_decode import ItemHook, ListDecoder
from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.clock import Clock, TimerHandle, default_clock
from pycontroller.errors import ApiError, DecodeError, GoneError, PyControllerError, api_error_from_status

__all__ = [
    "INITIAL_EVENTS_END_ANNOTATION",
    "BadWatchInput",
    "ListPage",
    "ListWatch",
    "TweakListOptions",
    "WatchStalledError",
    "WatchStream",
    "gc_paused",
    "is_connection_refused",
    "is_too_large_resource_version",
    "metadata_problem",
    "raise_for_odd_event",
    "read_initial_events",
    "refuses_streaming_list",
    "share_strings",
]

_LIST_READ_BUFSIZE = 1 << 18

TweakListOptions = Callable[[dict[str, Any]], "dict[str, Any] | None"]
"""Called with the query parameters (API names: labelSelector, limit, ...) of every list and watch;
mutates them in place or returns a replacement dict."""


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a bulk step; pauses may overlap and nest.

    Decoding a list of 100k objects and queueing it allocates millions of containers; the cyclic
    collector then traverses the growing heap again and again, which doubled the client CPU per
    listed object at 100k (13 -> 7 us measured). JSON decodes to trees, so nothing collectable is
    missed: collection simply resumes afterwards. The collector is process-wide; a pause only delays
    it, for other threads too, for the length of the step.

    cachescale: a pause may now span the awaits of one list page's read (the items are decoded as
    they arrive), so pauses of concurrent lists overlap: the collector is re-enabled when the last
    one ends, and only if it was enabled when the first began. Measured at 100k ConfigMaps: pausing
    per network chunk instead still spent half the list's CPU in full collections (29 vs 14 us per
    object), growing with the number of objects.
    """
    global _pauses, _resume
    if _pauses == 0:
        _resume = gc.isenabled()
        gc.disable()
    _pauses += 1
    try:
        yield
    finally:
        _pauses -= 1
        if _pauses == 0 and _resume:
            gc.enable()


_pauses = 0  # gc_paused blocks in progress (all on the event loop's thread, or nested)
_resume = False  # whether the collector was enabled when the outermost pause began


class WatchStalledError(PyControllerError):
    """A watch delivered no bytes (not even a bookmark) for longer than its inactivity timeout."""


class ListPage:
    """The outcome of :meth:`ListWatch.list`: every item, the list's resourceVersion and kind."""

    __slots__ = ("items", "kind", "paginated", "resource_version")

    def __init__(self, items: list[Any], resource_version: str, kind: str, paginated: bool) -> None:
        self.items = items
        self.resource_version = resource_version
        self.kind = kind
        self.paginated = paginated


class ListWatch:
    """Lists and watches ``gvr`` (in ``namespace``, or all namespaces) with fixed selectors.

    Every method can suspend; errors are :class:`pycontroller.errors.ApiError` subclasses for
    non-2xx answers, :class:`DecodeError` for a body that is not a list, and aiohttp's errors for the
    transport.
    """

    def __init__(
        self,
        client: RestClient,
        gvr: GroupVersionResource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        tweak_list_options: TweakListOptions | None = None,
        metadata_only: bool = False,
    ) -> None:
        self.client = client
        # Metadata-only (cachescale): ask for PartialObjectMetadataList / PartialObjectMetadata,
        # as client-go's metadata informers do; None keeps the client's JSON default.
        self.list_accept: str | None = None
        self.watch_accept: str | None = None
        if metadata_only:
            from pycontroller.cache.options import METADATA_ONLY_ACCEPT, METADATA_ONLY_WATCH_ACCEPT

            self.list_accept = METADATA_ONLY_ACCEPT
            self.watch_accept = METADATA_ONLY_WATCH_ACCEPT
        self.gvr = gvr
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.tweak_list_options = tweak_list_options
        self.path = gvr.path(namespace)
        #: Seconds of silence tolerated while reading a list answer.
        self.list_read_timeout = 60.0
        #: Called on every list item as it is decoded (see :data:`ItemHook`); None: items as decoded.
        self.item_hook: ItemHook | None = None
        #: Called when a list starts over from its first page (a 410 on a continue token), so the
        #: item hook's side effects on the items decoded so far can be undone; None: nothing.
        self.on_list_restart: Callable[[], Any] | None = None

    def query(self, **params: Any) -> dict[str, Any]:
        """The query for one call: selectors, then ``params`` (None values dropped), then the tweak."""
        query: dict[str, Any] = {}
        if self.label_selector:
            query["labelSelector"] = self.label_selector
        if self.field_selector:
            query["fieldSelector"] = self.field_selector
        for key, value in params.items():
            if value is not None:
                query[key] = value
        if self.tweak_list_options is not None:
            replaced = self.tweak_list_options(query)
            if replaced is not None:
                query = replaced
        return query

    async def list(self, resource_version: str, page_size: int) -> ListPage:
        """List everything at ``resource_version``, ``page_size`` items a page (0: no paging).

        Like client-go's pager, continue requests carry no resourceVersion, and a 410 on a continue
        token (the snapshot was compacted mid-list) falls back to one unpaginated list with the
        original options (the same ``resource_version``).
        """
        items: list[Any] = []
        continue_token: str | None = None
        paginated = False
        while True:
            query = self.query(
                resourceVersion=None if continue_token else resource_version,
                limit=page_size or None,
                **{"continue": continue_token},
            )
            try:
                page = await self._get(query)
            except GoneError:
                if not continue_token:
                    raise
                # The snapshot expired mid-list: one full list (no limit, no continue token) with
                # the original options, resourceVersion included, as client-go's pager does.
                items = []
                if self.on_list_restart is not None:
                    self.on_list_restart()
                page = await self._get(self.query(resourceVersion=resource_version))
                page_items, rv, kind, _ = _unpack_list(page, self.path)
                return ListPage(page_items, rv, kind, paginated)
            page_items, rv, kind, continue_token = _unpack_list(page, self.path)
            if items:
                items.extend(page_items)
            else:
                items = page_items
            if not continue_token:
                return ListPage(items, rv, kind, paginated)
            paginated = True

    async def _get(self, query: dict[str, Any]) -> Any:
        """GET one list page, decoding its items as they arrive (cyclic GC paused per chunk).

        cachescale: items are decoded chunk by chunk (:mod:`pycontroller.cache.list_decode`), so
        no whole copy of the body is held and decoding overlaps the transfer.
        """
        decoder = ListDecoder(self.path, self.item_hook)
        async with self.client.stream(
            self.path,
            query=query,
            read_timeout=self.list_read_timeout,
            accept=self.list_accept,
            # The decoder takes whatever arrived: a smaller buffer than a watch's (whose lines
            # must fit) bounds the body held unread when the server sends faster than we decode,
            # as a real server's whole unpaginated RV=0 answer does (4 MiB of it otherwise).
            read_bufsize=_LIST_READ_BUFSIZE,
        ) as resp:
            with gc_paused():  # for the whole page: see gc_paused
                async for chunk in resp.content.iter_any():
                    decoder.feed(chunk)
                return decoder.finish()

    @contextlib.asynccontextmanager
    async def watch(
        self,
        query: Mapping[str, Any],
        *,
        inactivity_timeout: float | None,
        clock: Clock | None = None,
    ) -> AsyncIterator[WatchStream]:
        """Open a watch (``query`` gets the selectors and tweak added). Yields a :class:`WatchStream`.

        Raises the matching ApiError when the server refuses the watch; closes the connection on exit.
        """
        params = self.query(watch="true", **query)
        async with self.client.stream(self.path, query=params, accept=self.watch_accept) as response:
            stream = WatchStream(response, inactivity_timeout=inactivity_timeout, clock=clock)
            try:
                yield stream
            finally:
                stream.close()


def _unpack_list(page: Any, path: str) -> tuple[list[Any], str, str, str | None]:
    if not isinstance(page, dict):
        raise DecodeError(f"list {path}: expected a JSON object, got {type(page).__name__}")
    items = page.get("items")
    if items is None:
        items = []
    elif not isinstance(items, list):
        raise DecodeError(f"list {path}: 'items' is {type(items).__name__}, not a list")
    meta = page.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
    rv = meta.get("resourceVersion")
    token = meta.get("continue") or None
    return items, rv if isinstance(rv, str) else "", str(page.get("kind") or ""), token


class WatchStream:
    """The body of one watch, read as batches of complete lines.

    ``read_lines()`` suspends until at least one complete line (or the end) arrives and returns every
    complete line buffered, possibly including empty ones; it returns an empty list at the end of
    the stream. It raises :class:`WatchStalledError` once no byte came for ``inactivity_timeout``
    seconds, and aiohttp's errors when the connection breaks. ``close()`` is idempotent.
    """

    __slots__ = (
        "_clock",
        "_content",
        "_last",
        "_partial",
        "_response",
        "_timeout",
        "_timer",
        "_unread",
        "stalled",
    )

    def __init__(
        self,
        response: aiohttp.ClientResponse,
        *,
        inactivity_timeout: float | None,
        clock: Clock | None = None,
    ) -> None:
        self._response = response
        self._content = response.content
        self._clock = clock or default_clock()
        self._partial: list[bytes] = []
        self._unread: list[bytes] = []
        self._timeout = inactivity_timeout if inactivity_timeout and inactivity_timeout > 0 else None
        self._last = self._clock.now()
        self._timer: TimerHandle | None = None
        self.stalled = False
        if self._timeout is not None:
            self._timer = self._clock.call_at(self._last + self._timeout, self._check_activity)

    def _check_activity(self) -> None:
        self._timer = None
        assert self._timeout is not None
        now = self._clock.now()
        if now - self._last >= self._timeout:
            self.stalled = True
            # Wakes a pending read with this error; the caller then closes the watch.
            self._content.set_exception(WatchStalledError(f"no data for {self._timeout:g}s on the watch"))
            return
        self._timer = self._clock.call_at(self._last + self._timeout, self._check_activity)

    def unread(self, lines: list[bytes]) -> None:
        """Give back lines a caller read but did not use; the next ``read_lines()`` returns them first."""
        self._unread = lines + self._unread

    async def read_lines(self) -> list[bytes]:
        if self._unread:
            lines, self._unread = self._unread, []
            return lines
        content = self._content
        while True:
            chunk = await content.readany()
            if not chunk:
                if self.stalled:
                    raise WatchStalledError(f"no data for {self._timeout:g}s on the watch")
                if self._partial:
                    tail = b"".join(self._partial)
                    self._partial.clear()
                    return [tail]
                return []
            self._last = self._clock.now()
            if b"\n" not in chunk:
                self._partial.append(chunk)
                continue
            lines = chunk.split(b"\n")
            if self._partial:
                self._partial.append(lines[0])
                lines[0] = b"".join(self._partial)
                self._partial.clear()
            tail = lines.pop()
            if tail:
                self._partial.append(tail)
            return lines

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._response.close()


# -- what a watch may carry -------------------------------------------------------------------------

INITIAL_EVENTS_END_ANNOTATION = "k8s.io/initial-events-end"


class BadWatchInput(DecodeError):
    """A watch line the reflector cannot use; ``kind`` is "decode", "invalid" or "unknown".

    ``snippet`` is the start of the line (at most 200 characters) for the log; ``reason`` the bare
    description without it.
    """

    def __init__(self, kind: str, reason: str, line: bytes) -> None:
        super().__init__(reason, snippet=line[:200].decode("utf-8", "replace"))
        self.kind = kind
        self.reason = reason


_intern = sys.intern


def share_strings(meta: dict[str, Any]) -> None:
    """Make the namespace and label values of ``meta`` the shared (interned) string objects.

    A namespace or a label value repeats across thousands of cached objects; the JSON decoder makes
    a new string for every occurrence. Sharing them saves ~50 bytes each per object (about 10% of a
    small ConfigMap) for ~0.3 us. Equal strings are replaced by identical ones: nothing observable
    changes.
    """
    ns = meta.get("namespace")
    if ns.__class__ is str:
        meta["namespace"] = _intern(ns)
    labels = meta.get("labels")
    if labels.__class__ is dict:
        for key, value in labels.items():
            if value.__class__ is str:
                labels[key] = _intern(value)


_STRING_FIELDS = ("namespace", "resourceVersion", "uid")
_STRING_MAPS = ("labels", "annotations")


def metadata_problem(meta: Any) -> str | None:
    """Why ``meta`` is not an object's metadata a Go client could decode, or None when it is fine.

    A Go client decodes metadata into ObjectMeta: ``name`` a non-empty string (the cache's key
    needs it), ``namespace``, ``resourceVersion`` and ``uid`` strings when present, ``labels`` and
    ``annotations`` maps of strings when present (null counts as absent, as in Go). An object
    failing this is bad input: the reflector logs and counts it and never caches it. Never raises.
    """
    if meta.__class__ is not dict:
        return "metadata that is not an object"
    name = meta.get("name")
    if name.__class__ is not str or not name:
        return "no metadata.name" if name is None or name == "" else "a metadata.name that is not a string"
    for field in _STRING_FIELDS:
        value = meta.get(field)
        if value is not None and value.__class__ is not str:
            return f"a metadata.{field} that is not a string"
    for field in _STRING_MAPS:
        value = meta.get(field)
        if value is None:
            continue
        if value.__class__ is not dict:
            return f"metadata.{field} that is not a map of strings"
        for item in value.values():
            if item.__class__ is not str:
                return f"metadata.{field} that is not a map of strings"
    return None


def is_connection_refused(exc: BaseException) -> bool:
    """A connection refused (the server is down): client-go backs off and watches again."""
    if isinstance(exc, ConnectionRefusedError):
        return True
    if isinstance(exc, aiohttp.ClientConnectorError):
        return exc.os_error.errno == errno.ECONNREFUSED or isinstance(exc.os_error, ConnectionRefusedError)
    return False


def is_too_large_resource_version(exc: BaseException) -> bool:
    """The server does not know this resourceVersion yet (a cause, or the 504 message of old servers)."""
    if not isinstance(exc, ApiError):
        return False
    causes = exc.details.get("causes") or []
    for cause in causes if isinstance(causes, list) else []:
        if isinstance(cause, dict) and cause.get("reason") == "ResourceVersionTooLarge":
            return True
    return exc.status == 504 and "too large resource version" in exc.message.lower()


def refuses_streaming_list(exc: BaseException) -> bool:
    """A server that does not support streaming lists answers 400/403/404/405/422."""
    return isinstance(exc, ApiError) and exc.status in (400, 403, 404, 405, 422)


def raise_for_odd_event(event: Any, line: bytes) -> NoReturn:
    """Raise for an event without the usual shape: an ERROR Status as its ApiError, else BadWatchInput."""
    if not isinstance(event, dict):
        raise BadWatchInput("unknown", "a watch line that is not an event object", line)
    etype = event.get("type")
    obj = event.get("object")
    if etype == "ERROR":
        if isinstance(obj, dict) and type(obj.get("code")) is int and obj.get("kind", "Status") == "Status":
            raise api_error_from_status(obj["code"], obj)
        raise BadWatchInput("unknown", "an ERROR event of an unknown shape", line)
    if etype in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK"):
        raise BadWatchInput("invalid", f"a {etype} event without metadata.resourceVersion", line)
    raise BadWatchInput("unknown", f"an event of unknown type {etype!r}", line)


async def read_initial_events(
    stream: WatchStream, prepare: Callable[[Any], Any] | None = None
) -> tuple[str | None, dict[str, Any], int]:
    """Read a streaming list's initial events up to the ``k8s.io/initial-events-end`` bookmark.

    ``prepare(obj)`` (optional) replaces every added or modified object as it arrives (the
    reflector's transform), so the untransformed objects are never all held at once.

    Returns (that bookmark's resourceVersion, or None when the stream ended first; the objects by
    key; the number of bookmarks seen). Lines after the bookmark stay in the stream for the watch.
    Raises BadWatchInput for bad lines and the ApiError of an ERROR event.
    """
    loads = orjson.loads
    collected: dict[str, Any] = {}
    bookmarks = 0
    while True:
        lines = await stream.read_lines()
        if not lines:
            return None, collected, bookmarks
        for index, line in enumerate(lines):
            try:
                event = loads(line)
                etype = event["type"]
                obj = event["object"]
                meta = obj["metadata"]
                rv = meta["resourceVersion"]
            except orjson.JSONDecodeError:
                if not line.strip():
                    continue
                raise BadWatchInput("decode", "a watch line that is not JSON", line) from None
            except (KeyError, TypeError):
                raise_for_odd_event(event, line)
            if etype == "BOOKMARK":
                bookmarks += 1
                annotations = meta.get("annotations") or {}
                if annotations.get(INITIAL_EVENTS_END_ANNOTATION) == "true":
                    # Events after the bookmark in the same chunk belong to the watch.
                    stream.unread(lines[index + 1 :])
                    return str(rv), collected, bookmarks
                continue
            problem = metadata_problem(meta)
            if problem is not None:
                if etype not in ("ADDED", "MODIFIED", "DELETED"):
                    raise_for_odd_event(event, line)
                raise BadWatchInput("invalid", f"a {etype} event object with {problem}", line)
            share_strings(meta)
            ns = meta.get("namespace")
            name = meta["name"]
            key = f"{ns}/{name}" if ns else name
            if etype == "DELETED":
                collected.pop(key, None)
            elif etype in ("ADDED", "MODIFIED"):
                collected[key] = obj if prepare is None else prepare(obj)
            else:
                raise BadWatchInput("unknown", f"an event of unknown type {etype!r}", line)
