"""The HTTP side: one aiohttp handler dispatching discovery, CRUD, list and watch requests.

Every failure is answered with a ``Status`` body (never an HTML page or a traceback); an
unexpected exception becomes a 500 InternalError Status and is logged, so no request can crash the
server. Bodies are limited to ``max_body_bytes`` (413), must be JSON (400 otherwise), and patches
must use one of the patch media types (415).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from . import discovery
from .apply import apply_response, check_patch_options, request_manager
from .faults import Faults
from .listwatch import ListWatchSupport, flag
from .partial import partial_request
from .routing import Route, parse_route
from .scale import get_for_scale, read_scale, write_scale
from .selectors import parse_filter
from .status import ApiFailure, bad_request, json_response, not_found, resource_not_found, status_body
from .storage import Table
from .virtual import (
    KUBELET_SUBRESOURCES,
    component_statuses,
    create_virtual,
    kubelet_failure,
    post_subresource,
)
from .watch import WatchControl, Watcher

if TYPE_CHECKING:
    from .registry import Registry
    from .webhooks import WebhookCaller

__all__ = ["Handlers"]

log = logging.getLogger("pycontroller.testing.apiserver")

JSON = "application/json"
_PATCH_TYPES = {
    "application/merge-patch+json": "merge",
    "application/json-patch+json": "json",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}
_WRITE_OPTIONS = {
    "create": "CreateOptions",
    "update": "UpdateOptions",
    "patch": "PatchOptions",
    "delete": "DeleteOptions",
    "deletecollection": "DeleteOptions",
}


def _not_allowed() -> ApiFailure:
    return ApiFailure(
        405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
    )


class Handlers(ListWatchSupport):
    """Request handling for one FakeAPIServer (state lives in the registry, faults and control)."""

    def __init__(self, registry: Registry, faults: Faults, control: WatchControl) -> None:
        self.registry = registry
        self.faults = faults
        self.control = control
        self.watchers: set[Watcher] = set()
        self.max_body_bytes = 3 * 1024 * 1024
        self.too_large_wait = 3.0
        self.address = "127.0.0.1:0"
        self.webhooks: WebhookCaller | None = None  # admission and conversion webhooks (.webhooks)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._dispatch(request)
        except ApiFailure as failure:
            return json_response(failure.body(), failure.code, failure.headers)
        except web.HTTPRequestEntityTooLarge:
            too_large = ApiFailure(
                413, "RequestEntityTooLarge", f"Request entity too large: limit is {self.max_body_bytes}"
            )
            return json_response(too_large.body(), 413)
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception as exc:
            log.exception("fake API server: %s %s failed", request.method, request.path)
            body = status_body(500, "InternalError", f"Internal error occurred: {type(exc).__name__}: {exc}")
            return json_response(orjson.dumps(body), 500)

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
        route = parse_route(request.method, parts, flag(request.query.get("watch")))
        if route is None:
            if request.method not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                raise ApiFailure(
                    405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
                )
            raise resource_not_found()
        latency, failure = self.faults.check(route.verb, route.plural, route.group, request.path)
        if latency:
            await asyncio.sleep(latency)
        if failure is not None:
            if route.verb == "watch" and failure.code == 410:
                return await self._error_stream(request, failure)
            raise failure
        resolved = self.registry.resolve(route.group, route.version, route.plural)
        if resolved is None:
            raise resource_not_found()
        table, api_version = resolved
        if route.namespace is not None and not table.rdef.namespaced:
            raise resource_not_found()
        if route.namespace is None and table.rdef.namespaced and route.name is not None:
            raise resource_not_found()  # a namespaced object needs its namespace in the path
        rdef = table.rdef
        if route.subresource is None:
            if route.verb not in rdef.verbs:
                raise _not_allowed()
        else:
            sub = rdef.subresource(route.subresource, route.version)
            if sub is None:
                raise resource_not_found()
            if route.verb not in sub.verbs:
                raise _not_allowed()
            if route.subresource in KUBELET_SUBRESOURCES:
                raise kubelet_failure(rdef.plural, route.subresource)
        if not rdef.stored and route.verb == "list":  # componentstatuses: computed, never stored
            body = {
                "kind": rdef.list_kind,
                "apiVersion": api_version,
                "metadata": {},
                "items": component_statuses(),
            }
            return json_response(orjson.dumps(body))
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
        if self.webhooks is not None and self.webhooks.wants(route, table):
            return await self.webhooks.handle(self, request, route, table, api_version)
        verb_handler = getattr(self, "_" + route.verb)
        result: web.StreamResponse = await verb_handler(request, route, table, api_version)
        return result

    @contextlib.contextmanager
    def _writing(self, request: web.Request) -> Iterator[None]:
        """Around one synchronous registry write: applies ?dryRun=All (never spans an await)."""
        self.registry.dry_run = "dryRun" in request.query  # values were checked by _dispatch
        self.registry.fields.manager = request_manager(request)
        try:
            yield
        finally:
            self.registry.dry_run = False
            self.registry.fields.manager = ""

    # -- discovery and plain endpoints --------------------------------------------------------------

    def _plain(self, parts: list[str]) -> web.StreamResponse:
        path = "/".join(parts)
        if path in ("healthz", "readyz", "livez"):
            return web.Response(text="ok", content_type="text/plain")
        if path == "version":
            return json_response(orjson.dumps(discovery.VERSION_INFO))
        if path == "openapi/v2":
            # An empty OpenAPI document: kubectl validates nothing against it (kinds without a
            # schema pass) and gets the content type kube-apiserver uses for the protobuf form.
            return web.Response(body=b"", content_type="application/octet-stream")
        if not parts:
            paths = ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version"]
            return json_response(orjson.dumps({"paths": paths}))
        raise resource_not_found()

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
            raise resource_not_found()
        return json_response(orjson.dumps(doc))

    # -- bodies -----------------------------------------------------------------------------------------

    async def _patch_body(self, request: web.Request, kind: str) -> Any:
        """A PATCH request's decoded body; 400 (as the real server words it) when it is not JSON
        or empty."""
        try:
            body = await self._body(request, kind)
        except ApiFailure as exc:
            raise bad_request(
                f"error decoding patch: {exc.message.rsplit('json parse error: ', 1)[-1]}"
            ) from None
        if body is None:
            raise bad_request("the patch body is empty")
        return body

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

    def _require_json(self, request: web.Request) -> None:
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
        if route.subresource == "scale":
            stored = get_for_scale(self.registry, table, route.namespace, route.name)
            return json_response(orjson.dumps(read_scale(table, stored)))
        partial = partial_request(request.headers.get("Accept", ""))
        if partial is not None:  # metadata only: a PartialObjectMetadata (or a 406)
            partial.require(table.rdef, False)
        if not table.rdef.stored:  # componentstatuses
            item = next((c for c in component_statuses() if c["metadata"]["name"] == route.name), None)
            if item is None:
                raise not_found(table.rdef.group, table.rdef.plural, route.name)
            return json_response(orjson.dumps({"kind": table.rdef.kind, "apiVersion": av, **item}))
        stored = self.registry.get(table, route.namespace, route.name)
        if partial is not None:
            return json_response(partial.item(stored.obj))
        printer = self.printer_for(request, table, av)
        if printer is not None:
            meta = {"resourceVersion": stored.obj["metadata"]["resourceVersion"]}
            return json_response(orjson.dumps(printer.table([orjson.loads(stored.bytes_for(av))], meta)))
        return json_response(stored.bytes_for(av))

    async def _create(self, request: web.Request, route: Route, table: Table, av: str) -> web.StreamResponse:
        if table.rdef.namespaced and route.namespace is None:
            raise ApiFailure(
                405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
            )
        self._require_json(request)
        body = await self._body(request, table.rdef.kind)
        if route.subresource is not None:
            assert route.name is not None
            with self._writing(request):
                answer = post_subresource(
                    self.registry, table, route.namespace, route.name, route.subresource, body
                )
            return json_response(orjson.dumps(answer), 201)
        if not table.rdef.stored:
            with self._writing(request):
                answer = create_virtual(self.registry, table, route.namespace, body, av)
            return json_response(orjson.dumps(answer), 201)
        with self._writing(request):
            stored = self.registry.create(table, route.namespace, body, av)
        return json_response(stored.bytes_for(av), 201)

    async def _update(self, request: web.Request, route: Route, table: Table, av: str) -> web.StreamResponse:
        assert route.name is not None
        self._require_json(request)
        body = await self._body(request, table.rdef.kind)
        if route.subresource == "scale":
            with self._writing(request):
                scale = write_scale(self.registry, table, route.namespace, route.name, body)
            return json_response(orjson.dumps(scale))
        existed = (route.namespace or "", route.name) in table.objects
        with self._writing(request):
            stored = self.registry.update(
                table, route.namespace, route.name, body, subresource=route.subresource, api_version=av
            )
        return json_response(stored.bytes_for(av), 200 if existed else 201)

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
        check_patch_options(request, patch_type)
        if patch_type == "apply" and route.subresource != "scale":
            return await apply_response(self, request, route, table, av)
        body = await self._patch_body(request, table.rdef.kind)
        if route.subresource == "scale":
            with self._writing(request):
                scale = write_scale(self.registry, table, route.namespace, route.name, body, patch_type)
            return json_response(orjson.dumps(scale))
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
        return json_response(stored.bytes_for(av))

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
            return json_response(orjson.dumps(body))
        return json_response(stored.bytes_for(av))

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
        return json_response(self._list_body(table, av, items, self.registry.rv, None, None))
