"""The HTTP side: one aiohttp handler dispatching discovery, CRUD, list and watch requests.

Every failure is answered with a ``Status`` body (never an HTML page or a traceback); an
unexpected exception becomes a 500 InternalError Status and is logged, so no request can crash the
server. Bodies are limited to ``max_body_bytes`` (413), must be JSON (400 otherwise), and patches
must use one of the patch media types (415).
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import contextlib
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from . import discovery
from .faults import Faults
from .routing import Route, parse_route
from .selectors import parse_filter
from .status import ApiFailure, bad_request, expired, status_body
from .storage import Stored, Table
from .watch import WatchControl, Watcher

if TYPE_CHECKING:
    from .registry import Registry

__all__ = ["Handlers"]

log = logging.getLogger("pycontroller.testing.apiserver")

JSON = "application/json"
_PATCH_TYPES = {
    "application/merge-patch+json": "merge",
    "application/json-patch+json": "json",
    "application/strategic-merge-patch+json": "strategic",
}
_NOT_FOUND = ApiFailure(404, "NotFound", "the server could not find the requested resource", {})
_WRITE_OPTIONS = {
    "create": "CreateOptions",
    "update": "UpdateOptions",
    "patch": "PatchOptions",
    "delete": "DeleteOptions",
    "deletecollection": "DeleteOptions",
}
_CONTINUE_TOO_OLD = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new "
    "list without the continue parameter, or use the continue value from the response to continue the list."
)


def _json(data: bytes, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=data, status=status, content_type=JSON, headers=headers)


def _list_options_invalid(message: str) -> ApiFailure:
    field, _, text = message.partition(": ")
    return ApiFailure(
        422,
        "Invalid",
        f'ListOptions.meta.k8s.io "" is invalid: {message}',
        {
            "group": "meta.k8s.io",
            "kind": "ListOptions",
            "causes": [{"reason": "FieldValueForbidden", "message": text, "field": field}],
        },
    )


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


class Handlers:
    """Request handling for one FakeAPIServer (state lives in the registry, faults and control)."""

    def __init__(self, registry: Registry, faults: Faults, control: WatchControl) -> None:
        self.registry = registry
        self.faults = faults
        self.control = control
        self.watchers: set[Watcher] = set()
        self.max_body_bytes = 3 * 1024 * 1024
        self.too_large_wait = 3.0
        self.address = "127.0.0.1:0"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._dispatch(request)
        except ApiFailure as failure:
            return _json(failure.body(), failure.code, failure.headers)
        except web.HTTPRequestEntityTooLarge:
            too_large = ApiFailure(
                413, "RequestEntityTooLarge", f"Request entity too large: limit is {self.max_body_bytes}"
            )
            return _json(too_large.body(), 413)
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception as exc:
            log.exception("fake API server: %s %s failed", request.method, request.path)
            body = status_body(500, "InternalError", f"Internal error occurred: {type(exc).__name__}: {exc}")
            return _json(orjson.dumps(body), 500)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        if (
            not parts
            or parts[0] not in ("api", "apis")
            or (parts[0] == "api" and len(parts) > 1 and parts[1] != "v1")
        ):
            return self._plain(parts)
        if len(parts) <= 3 - (parts[0] == "api"):
            return self._discovery(parts)
        route = parse_route(request.method, parts, _flag(request.query.get("watch")))
        if route is None:
            if request.method not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                raise ApiFailure(
                    405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
                )
            raise _NOT_FOUND
        latency, failure = self.faults.check(route.verb, route.plural, route.group, request.path)
        if latency:
            await asyncio.sleep(latency)
        if failure is not None:
            if route.verb == "watch" and failure.code == 410:
                return await self._error_stream(request, failure)
            raise failure
        resolved = self.registry.resolve(route.group, route.version, route.plural)
        if resolved is None:
            raise _NOT_FOUND
        table, api_version = resolved
        if route.namespace is not None and not table.rdef.namespaced:
            raise _NOT_FOUND
        if route.subresource is not None and not (
            (route.subresource == "status" and table.rdef.has_status(route.version))
            or (route.subresource == "finalize" and table.rdef.plural == "namespaces")
        ):
            raise _NOT_FOUND
        if route.subresource is not None and route.verb not in ("get", "update", "patch"):
            raise ApiFailure(
                405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
            )
        verb_handler = getattr(self, "_" + route.verb)
        dry_run = request.query.getall("dryRun", [])
        if dry_run and route.verb in _WRITE_OPTIONS:
            if any(v != "All" for v in dry_run):
                values = ", ".join(f'"{v}"' for v in dry_run)
                raise ApiFailure(
                    422,
                    "Invalid",
                    f'{_WRITE_OPTIONS[route.verb]}.meta.k8s.io "" is invalid: dryRun: Unsupported value: '
                    f'[]string{{{values}}}: supported values: "All"',
                )
        result: web.StreamResponse = await verb_handler(request, route, table, api_version)
        return result

    @contextlib.contextmanager
    def _writing(self, request: web.Request) -> Iterator[None]:
        """Around one synchronous registry write: applies ?dryRun=All (never spans an await)."""
        self.registry.dry_run = "dryRun" in request.query  # values were checked by _dispatch
        try:
            yield
        finally:
            self.registry.dry_run = False

    # -- discovery and plain endpoints --------------------------------------------------------------

    def _plain(self, parts: list[str]) -> web.StreamResponse:
        path = "/".join(parts)
        if path in ("healthz", "readyz", "livez"):
            return web.Response(text="ok", content_type="text/plain")
        if path == "version":
            return _json(orjson.dumps(discovery.VERSION_INFO))
        if path == "openapi/v2":
            # An empty OpenAPI document: kubectl validates nothing against it (kinds without a
            # schema pass) and gets the content type kube-apiserver uses for the protobuf form.
            return web.Response(body=b"", content_type="application/octet-stream")
        if not parts:
            paths = ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version"]
            return _json(orjson.dumps({"paths": paths}))
        raise _NOT_FOUND

    def _discovery(self, parts: list[str]) -> web.StreamResponse:
        tables = self.registry.served()
        doc: dict[str, Any] | None
        if parts == ["api"]:
            doc = discovery.api_versions(self.address)
        elif parts == ["api", "v1"]:
            doc = discovery.resource_list(tables, "", "v1")
        elif parts == ["apis"]:
            doc = discovery.group_list(tables)
        elif len(parts) == 2:
            doc = discovery.group_document(tables, parts[1])
        else:
            doc = discovery.resource_list(tables, parts[1], parts[2])
        if doc is None:
            raise _NOT_FOUND
        return _json(orjson.dumps(doc))

    # -- bodies -----------------------------------------------------------------------------------------

    async def _body(self, request: web.Request, kind: str) -> Any:
        if request.content_length is not None and request.content_length > self.max_body_bytes:
            raise web.HTTPRequestEntityTooLarge(
                max_size=self.max_body_bytes, actual_size=request.content_length
            )
        data = await request.read()
        if len(data) > self.max_body_bytes:
            raise web.HTTPRequestEntityTooLarge(max_size=self.max_body_bytes, actual_size=len(data))
        if not data:
            return None
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise bad_request(
                f"the object provided is unrecognized (must be of type {kind}): couldn't get version/kind; "
                f"json parse error: {exc}"
            ) from None

    def _check_json(self, request: web.Request) -> None:
        ctype = request.headers.get("Content-Type", "")
        media = ctype.split(";", 1)[0].strip().lower()
        if media not in ("", JSON, "*/*"):
            raise ApiFailure(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include: application/json",
            )

    # -- verbs ------------------------------------------------------------------------------------------

    async def _get(self, request: web.Request, route: Route, table: Table, av: str) -> web.StreamResponse:
        assert route.name is not None
        return _json(self.registry.get(table, route.namespace, route.name).bytes_for(av))

    async def _create(self, request: web.Request, route: Route, table: Table, av: str) -> web.StreamResponse:
        if table.rdef.namespaced and route.namespace is None:
            raise _NOT_FOUND
        self._check_json(request)
        body = await self._body(request, table.rdef.kind)
        with self._writing(request):
            stored = self.registry.create(table, route.namespace, body, av)
        return _json(stored.bytes_for(av), 201)

    async def _update(self, request: web.Request, route: Route, table: Table, av: str) -> web.StreamResponse:
        assert route.name is not None
        self._check_json(request)
        body = await self._body(request, table.rdef.kind)
        existed = (route.namespace or "", route.name) in table.objects
        with self._writing(request):
            stored = self.registry.update(
                table, route.namespace, route.name, body, subresource=route.subresource, api_version=av
            )
        return _json(stored.bytes_for(av), 200 if existed else 201)

    async def _patch(self, request: web.Request, route: Route, table: Table, av: str) -> web.StreamResponse:
        assert route.name is not None
        media = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        patch_type = _PATCH_TYPES.get(media)
        if patch_type is None or (patch_type == "strategic" and not table.rdef.builtin):
            accepted = (
                "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
            )
            if table.rdef.builtin:
                accepted += ", application/strategic-merge-patch+json"
            raise ApiFailure(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types include: {accepted}",
            )
        try:
            body = await self._body(request, table.rdef.kind)
        except ApiFailure as exc:
            raise bad_request(
                f"error decoding patch: {exc.message.rsplit('json parse error: ', 1)[-1]}"
            ) from None
        if body is None:
            raise bad_request("the patch body is empty")
        with self._writing(request):
            stored = self.registry.patch(
                table,
                route.namespace,
                route.name,
                patch_type,
                body,
                subresource=route.subresource,
                api_version=av,
            )
        return _json(stored.bytes_for(av))

    async def _delete_options(self, request: web.Request) -> dict[str, Any]:
        body = await self._body(request, "DeleteOptions")
        options = dict(body) if isinstance(body, dict) else {}
        if "propagationPolicy" in request.query:
            options["propagationPolicy"] = request.query["propagationPolicy"]
        return options

    async def _delete(self, request: web.Request, route: Route, table: Table, av: str) -> web.StreamResponse:
        assert route.name is not None
        options = await self._delete_options(request)
        with self._writing(request):
            stored, gone = self.registry.delete(table, route.namespace, route.name, options)
        rdef = table.rdef
        if gone and rdef.plural != "pods":
            details: dict[str, Any] = {"name": route.name}
            if rdef.group:
                details["group"] = rdef.group
            details["kind"] = rdef.plural
            details["uid"] = stored.obj["metadata"].get("uid")
            body = {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": details,
            }
            return _json(orjson.dumps(body))
        return _json(stored.bytes_for(av))

    async def _deletecollection(
        self, request: web.Request, route: Route, table: Table, av: str
    ) -> web.StreamResponse:
        options = await self._delete_options(request)
        filt = parse_filter(
            request.query.get("labelSelector"), request.query.get("fieldSelector"), table.rdef.key
        )
        with self._writing(request):
            deleted = self.registry.delete_collection(table, route.namespace, filt, options)
        items = [s.item_bytes(av, table.rdef.builtin) for s in deleted]
        return _json(self._list_body(table, av, items, self.registry.rv, None, None))

    # -- list -------------------------------------------------------------------------------------------

    def _list_body(
        self, table: Table, av: str, items: list[bytes], rv: int, cont: str | None, remaining: int | None
    ) -> bytes:
        meta: dict[str, Any] = {}
        if cont:
            meta["continue"] = cont
        elif not table.rdef.builtin:
            meta["continue"] = ""  # custom resource lists always carry it, like the real server's
        meta["resourceVersion"] = str(rv)
        if remaining is not None:
            meta["remainingItemCount"] = remaining
        head = (
            b'{"kind":"'
            + table.rdef.list_kind.encode()
            + b'","apiVersion":"'
            + av.encode()
            + b'","metadata":'
        )
        return head + orjson.dumps(meta) + b',"items":[' + b",".join(items) + b"]}"

    async def _target_rv(self, rv: int) -> None:
        """Wait (up to too_large_wait) for the store to reach ``rv``; 504 Timeout if it does not."""
        if rv > self.registry.rv and not await self.registry.wait_for_rv(rv, self.too_large_wait):
            raise _too_large(rv, self.registry.rv)

    async def _list(self, request: web.Request, route: Route, table: Table, av: str) -> web.StreamResponse:
        q = request.query
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
                    f'resourceVersionMatch: Unsupported value: "{match}": supported values: "Exact", "NotOlderThan"'
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
        items: list[bytes] = []
        cont = None
        remaining = None
        if filt.trivial:
            end = hi if not limit else min(hi, lo + limit)
            items = [s.item_bytes(av, builtin) for s in snapshot[lo:end]]
            if end < hi:
                last = snapshot[end - 1].key
                cont = _encode_continue(snap_rv, (last[0], last[1] + "\x00"))
                remaining = hi - end
        else:
            last_key: tuple[str, str] = ("", "")
            for s in snapshot[lo:hi]:
                if filt.matches(s.obj):
                    if limit and len(items) >= limit:
                        cont = _encode_continue(snap_rv, (last_key[0], last_key[1] + "\x00"))
                        break
                    items.append(s.item_bytes(av, builtin))
                    last_key = s.key
        return _json(self._list_body(table, av, items, snap_rv, cont, remaining))

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
        field_selector = q.get("fieldSelector")
        if route.name is not None:
            extra = f"metadata.name={route.name}"
            field_selector = f"{field_selector},{extra}" if field_selector else extra
        filt = parse_filter(q.get("labelSelector"), field_selector, table.rdef.key)
        rv_param = q.get("resourceVersion") or ""
        match = q.get("resourceVersionMatch") or ""
        initial_events = _flag(q.get("sendInitialEvents"))
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
        bookmarks = _flag(q.get("allowWatchBookmarks")) and (bool(rv_param) or initial_events)
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
            raise _NOT_FOUND
        watcher = Watcher(
            table,
            av,
            route.namespace,
            filt,
            self.control,
            bookmarks=bookmarks,
            deadline=deadline,
            store_rv=lambda: registry.rv,
        )
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
            if not watcher.overflowed:
                await response.write_eof()
            return response
        except (ConnectionResetError, ConnectionError):
            return web.Response(status=499)  # the client went away; nothing more to send
        finally:
            watcher.close()
            self.watchers.discard(watcher)


def _flag(value: str | None) -> bool:
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
