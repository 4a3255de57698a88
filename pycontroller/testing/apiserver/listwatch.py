"""List and watch requests: consistent snapshots, pagination, resourceVersion semantics, streams.

Lists read a snapshot of the table at one resourceVersion (the current one, an exact older one
rebuilt from history, or the one a continue token carries) and join the stored bytes of the
matching items. Watches register a :class:`Watcher` after queueing the initial state or the
replayed history, without suspending in between, so no event is lost or duplicated.
"""

from __future__ import annotations

import base64
import bisect
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from .objects import CRD_KEY
from .partial import PartialRequest, partial_request
from .printing import Printer, wants_table
from .routing import Route
from .selectors import Filter, parse_filter
from .status import ApiFailure, bad_request, expired, json_response, resource_not_found
from .storage import Stored, Table
from .watch import WatchControl, Watcher

if TYPE_CHECKING:
    from .registry import Registry

__all__ = ["ListWatchSupport", "flag"]

JSON = "application/json"
_CONTINUE_TOO_OLD = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new "
    "list without the continue parameter, or use the continue value from the response to continue the list."
)


async def send_bytes(request: web.Request, body: bytes) -> web.StreamResponse:
    """A 200 JSON answer; large bodies are streamed so they are not copied again with the headers."""
    if len(body) < 1 << 20:
        return json_response(body)
    response = web.StreamResponse(status=200, headers={"Content-Type": JSON})
    response.content_length = len(body)
    await response.prepare(request)
    await response.write(body)
    await response.write_eof()
    return response


#: Lists of more items than this are streamed in slices of this many (no full body in memory).
_STREAM_ITEMS = 2000


async def send_stream(
    request: web.Request, prefix: bytes, stored: list[Stored], av: str, builtin: bool
) -> web.StreamResponse:
    """A 200 JSON list written ``_STREAM_ITEMS`` items at a time (chunked), so no whole body exists.

    ``prefix`` is the body up to ``"items":[``; the snapshot ``stored`` is immutable, so writes that
    suspend in between still send one consistent list.
    """
    response = web.StreamResponse(status=200, headers={"Content-Type": JSON})
    response.enable_chunked_encoding()
    await response.prepare(request)
    head = prefix
    for start in range(0, len(stored), _STREAM_ITEMS):
        chunk = b",".join([s.item_bytes(av, builtin) for s in stored[start : start + _STREAM_ITEMS]])
        await response.write(head + chunk)
        head = b","
    await response.write(b"]}")
    await response.write_eof()
    return response


def _list_options_invalid(message: str, reason: str = "FieldValueForbidden") -> ApiFailure:
    field, _, text = message.partition(": ")
    return ApiFailure(
        422,
        "Invalid",
        f'ListOptions.meta.k8s.io "" is invalid: {message}',
        {
            "group": "meta.k8s.io",
            "kind": "ListOptions",
            "causes": [{"reason": reason, "message": text, "field": field}],
        },
    )


def _page(
    snapshot: Sequence[Stored], lo: int, hi: int, limit: int, filt: Filter, snap_rv: int
) -> tuple[Sequence[Stored], str | None, int | None]:
    """One list page of ``snapshot[lo:hi]``: the stored objects ``filt`` matches, at most ``limit``
    (0: all), the continue token after them (None at the end), and how many objects remain after
    the page (only known without a filter, as the real server's ``remainingItemCount``)."""
    if filt.trivial:
        end = hi if not limit else min(hi, lo + limit)
        if end < hi:
            last = snapshot[end - 1].key
            return snapshot[lo:end], _encode_continue(snap_rv, (last[0], last[1] + "\x00")), hi - end
        return snapshot[lo:end], None, None
    chosen: list[Stored] = []
    last_key = ("", "")
    for s in snapshot[lo:hi]:
        if filt.matches(s.obj):
            if limit and len(chosen) >= limit:
                return chosen, _encode_continue(snap_rv, (last_key[0], last_key[1] + "\x00")), None
            chosen.append(s)
            last_key = s.key
    return chosen, None, None


def _too_large(rv: int, current: int) -> ApiFailure:
    return ApiFailure(
        504,
        "Timeout",
        f"Timeout: Too large resource version: {rv}, current: {current}",
        {
            "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
            "retryAfterSeconds": 1,
        },
        {"Retry-After": "1"},
    )


class ListWatchSupport:
    """Mixin of :class:`Handlers`: the list and watch verbs."""

    if TYPE_CHECKING:  # provided by Handlers
        registry: Registry
        control: WatchControl
        watchers: set[Watcher]
        too_large_wait: float

    def printer_for(self, request: web.Request, table: Table, av: str) -> Printer | None:
        """A Table printer when the request's Accept header asks for Tables (kubectl get)."""
        table_version = wants_table(request.headers.get("Accept", ""))
        if table_version is None:
            return None
        rdef = table.rdef
        crd = None
        if not rdef.builtin:
            stored = self.registry.tables[CRD_KEY].objects.get(("", f"{rdef.plural}.{rdef.group}"))
            crd = stored.obj if stored is not None else None
        include = request.query.get("includeObject") or "Metadata"
        return Printer(rdef.key, table_version, include, crd, av.rpartition("/")[2])

    # -- list -------------------------------------------------------------------------------------------

    def _list_body(
        self,
        table: Table,
        av: str,
        items: list[bytes],
        rv: int,
        cont: str | None,
        remaining: int | None,
        partial: PartialRequest | None = None,
    ) -> bytes:
        meta: dict[str, Any] = {}
        if cont:
            meta["continue"] = cont
        elif not table.rdef.builtin:
            meta["continue"] = ""  # custom resource lists always carry it, like the real server's
        meta["resourceVersion"] = str(rv)
        if remaining is not None:
            meta["remainingItemCount"] = remaining
        if partial is not None:  # metadata only (cachescale): a PartialObjectMetadataList
            prefix = partial.list_prefix(meta)
        else:
            prefix = b"".join(
                (
                    b'{"kind":"',
                    table.rdef.list_kind.encode(),
                    b'","apiVersion":"',
                    av.encode(),
                    b'","metadata":',
                    orjson.dumps(meta),
                    b',"items":[',
                )
            )
        if not items:
            return prefix + b"]}"
        # one copy of the (possibly huge) body: glue prefix and suffix onto the end items
        items[0] = prefix + items[0]
        items[-1] = items[-1] + b"]}"
        return b",".join(items)

    async def _target_rv(self, rv: int) -> None:
        """Wait (up to too_large_wait) for the store to reach ``rv``; 504 Timeout if it does not."""
        if rv > self.registry.rv and not await self.registry.wait_for_rv(rv, self.too_large_wait):
            raise _too_large(rv, self.registry.rv)

    async def _list(self, request: web.Request, route: Route, table: Table, av: str) -> web.StreamResponse:
        q = request.query
        partial = partial_request(request.headers.get("Accept", ""))
        if partial is not None:
            partial.require(table.rdef, True)
        filt = parse_filter(q.get("labelSelector"), q.get("fieldSelector"), table.rdef.key)
        rv_param = q.get("resourceVersion") or ""
        match = q.get("resourceVersionMatch") or ""
        token = q.get("continue") or ""
        try:
            limit = int(q.get("limit") or 0)
        except ValueError:
            raise bad_request(f"invalid limit: {q.get('limit')!r}") from None
        limit = max(limit, 0)  # a negative limit means no limit
        if match:
            if not rv_param:
                raise _list_options_invalid(
                    "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"
                )
            if match not in ("NotOlderThan", "Exact"):
                raise _list_options_invalid(
                    f'resourceVersionMatch: Unsupported value: "{match}": supported values: "Exact", "NotOlderThan", ""',
                    "FieldValueNotSupported",
                )
            if match == "Exact" and rv_param == "0":
                raise _list_options_invalid(
                    'resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"'
                )
        start: tuple[str, str] | None = None
        current = self.registry.rv
        if token:
            if rv_param:
                raise bad_request("specifying resource version is not allowed when using continue")
            snap_rv, start = _decode_continue(token)
            if snap_rv < table.compacted:
                failure = expired(_CONTINUE_TOO_OLD)
                # like the real server: a token to go on, inconsistently, from the current state
                failure.metadata["continue"] = _encode_continue(current, start)
                raise failure
        elif not rv_param:
            snap_rv = current
        elif rv_param == "0":
            snap_rv = current
            limit = 0  # served from the "watch cache": the real server ignores limit here
        else:
            n = _parse_rv(rv_param)
            await self._target_rv(n)
            current = self.registry.rv
            if match == "Exact" or (not match and limit):
                if n < table.compacted:
                    raise expired("The resourceVersion for the provided list is too old.")
                snap_rv = n
            else:
                snap_rv = current
        snapshot = table.snapshot(snap_rv, current) if snap_rv < current else table.sorted_now()
        lo, hi = 0, len(snapshot)
        ns = route.namespace
        if ns is not None:
            lo = bisect.bisect_left(snapshot, (ns, ""), key=_key)
            hi = bisect.bisect_left(snapshot, (ns + "\x00", ""), key=_key)
        if start is not None:
            lo = max(lo, bisect.bisect_left(snapshot, start, key=_key))
        builtin = table.rdef.builtin
        printer = self.printer_for(request, table, av)
        if printer is not None:
            chosen, cont, _ = _page(snapshot, lo, hi, limit, filt, snap_rv)
            meta: dict[str, Any] = {"resourceVersion": str(snap_rv)}
            if cont:
                meta["continue"] = cont
            objects = [orjson.loads(s.bytes_for(av)) for s in chosen]
            return json_response(orjson.dumps(printer.table(objects, meta)))
        if partial is not None:
            # metadata only: each item is built from the stored object's metadata (not cached)
            chosen, cont, remaining = _page(snapshot, lo, hi, limit, filt, snap_rv)
            item = partial.item
            items = [item(s.obj) for s in chosen]
            body = self._list_body(table, av, items, snap_rv, cont, remaining, partial)
            return await send_bytes(request, body)
        if filt.trivial and not limit and hi - lo > _STREAM_ITEMS:
            # A whole (namespace of the) big table: streamed in slices, neither built whole nor
            # cached (cachescale): a cached body kept another copy of every object, and building
            # one doubled the server's memory while it was sent (10.4 KB per ConfigMap at 100k).
            empty = self._list_body(table, av, [], snap_rv, None, None)
            return await send_stream(request, empty[:-2], snapshot[lo:hi], av, builtin)
        chosen, cont, remaining = _page(snapshot, lo, hi, limit, filt, snap_rv)
        items = [s.item_bytes(av, builtin) for s in chosen]
        return await send_bytes(request, self._list_body(table, av, items, snap_rv, cont, remaining))

    # -- watch ------------------------------------------------------------------------------------------

    async def _error_stream(self, request: web.Request, failure: ApiFailure) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"Content-Type": JSON})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b'{"type":"ERROR","object":' + failure.body() + b"}\n")
        await response.write_eof()
        return response

    async def _watch(self, request: web.Request, route: Route, table: Table, av: str) -> web.StreamResponse:
        q = request.query
        partial = partial_request(request.headers.get("Accept", ""))
        if partial is not None:
            partial.require(table.rdef, False)
        field_selector = q.get("fieldSelector")
        if route.name is not None:
            extra = f"metadata.name={route.name}"
            field_selector = f"{field_selector},{extra}" if field_selector else extra
        filt = parse_filter(q.get("labelSelector"), field_selector, table.rdef.key)
        rv_param = q.get("resourceVersion") or ""
        match = q.get("resourceVersionMatch") or ""
        initial_events = flag(q.get("sendInitialEvents"))
        if initial_events and match != "NotOlderThan":
            raise _list_options_invalid(
                "resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"
            )
        if match and not initial_events:
            raise _list_options_invalid(
                "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch"
            )
        try:
            timeout = float(q["timeoutSeconds"]) if q.get("timeoutSeconds") else None
        except ValueError:
            raise bad_request(f"invalid timeoutSeconds: {q.get('timeoutSeconds')!r}") from None
        deadline = time.monotonic() + timeout if timeout and timeout > 0 else None
        # Like the real server, only watches served from the watch cache (a resourceVersion given)
        # get bookmarks; an unversioned watch is an etcd watch without them.
        bookmarks = flag(q.get("allowWatchBookmarks")) and (bool(rv_param) or initial_events)
        registry = self.registry
        replay_from: int | None = None
        if rv_param and rv_param != "0":
            n = _parse_rv(rv_param)
            if n > registry.rv and not await registry.wait_for_rv(n, self.too_large_wait):
                return await self._error_stream(request, _too_large(n, registry.rv))
            if n < table.compacted and not initial_events:
                failure = expired(f"too old resource version: {n} ({table.compacted + 1})")
                return await self._error_stream(request, failure)
            replay_from = n
        if registry.tables.get(table.rdef.key) is not table:
            raise resource_not_found()
        watcher = Watcher(
            table,
            av,
            route.namespace,
            filt,
            self.control,
            printer=self.printer_for(request, table, av),
            bookmarks=bookmarks,
            deadline=deadline,
            store_rv=lambda: registry.rv,
            partial=partial,
        )
        watcher.start_rv = registry.rv if replay_from is None else replay_from
        # Fill the queue and register without suspending in between, so no event is missed.
        if replay_from is None or initial_events:
            for stored in table.sorted_now():
                if route.namespace is not None and stored.key[0] != route.namespace:
                    continue
                if filt.trivial or filt.matches(stored.obj):
                    watcher.queue.append(watcher.line("ADDED", stored))
            if initial_events:
                watcher.queue.append(watcher.bookmark({"k8s.io/initial-events-end": "true"}))
        else:
            for event in table.events_after(replay_from):
                watcher.offer(event)
        table.watchers.add(watcher)
        self.watchers.add(watcher)
        watcher.registered = True
        self.control.watch_changed(+1)
        try:
            response = web.StreamResponse(
                status=200, headers={"Content-Type": JSON, "Cache-Control": "no-cache, private"}
            )
            response.enable_chunked_encoding()
            await response.prepare(request)
            await watcher.run(request, response)
            await response.write_eof()
            return response
        except (ConnectionResetError, ConnectionError):
            return web.Response(status=499)  # the client went away; nothing more to send
        finally:
            watcher.close()
            self.watchers.discard(watcher)


def flag(value: str | None) -> bool:
    """Go's strconv.ParseBool truths (the real server's query booleans)."""
    return value in ("1", "t", "T", "true", "TRUE", "True")


def _key(stored: Stored) -> tuple[str, str]:
    return stored.key


def _parse_rv(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise bad_request(f'invalid resource version "{value}"') from None
    if n < 0:
        raise bad_request(f'invalid resource version "{value}"')
    return n


def _encode_continue(rv: int, start: tuple[str, str]) -> str:
    ns, name = start
    key = f"{ns}/{name}" if ns else name
    raw = orjson.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": key, "ns": ns, "name": name})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[int, tuple[str, str]]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return int(data["rv"]), (str(data["ns"]), str(data["name"]))
    except Exception:
        raise bad_request("invalid continue token: continue key is not valid") from None
