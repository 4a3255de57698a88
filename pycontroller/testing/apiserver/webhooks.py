"""The fake server calls admission and conversion webhooks, like kube-apiserver.

**Admission.** The server serves ValidatingWebhookConfigurations and MutatingWebhookConfigurations
(admissionregistration.k8s.io v1 and v1beta1). While any exists, create/update/patch/delete
requests go through :meth:`WebhookCaller.handle`, in the real server's order:

1. the object as the request makes it (the body; for a patch, the live object patched);
2. mutating webhooks that match, by configuration name then in order; each gets an AdmissionReview
   (the first of the webhook's ``admissionReviewVersions`` we speak) and its JSONPatch is applied
   before the next is called;
3. the server's own defaulting and validation (a dry-run of the write);
4. validating webhooks that match, concurrently, with the object as it would be stored;
5. the write.

A webhook matches when a rule matches the operation, group, version (or, with ``matchPolicy:
Equivalent``, another served version of the same resource), resource/subresource and scope, and
``namespaceSelector`` (the namespace's labels; always for cluster-scoped objects) and
``objectSelector`` (the object's or old object's labels) select it. A denial becomes the real
server's Status: the webhook's ``status.code`` when it is >= 400, else 400, with ``admission webhook
"<name>" denied the request: <message>`` and the webhook's reason. A webhook that cannot be called
(refused, TLS failure, a bad answer, or slower than ``timeoutSeconds``, default 10; the URL carries
``?timeout=<n>s``) fails the request with 500 InternalError ``failed calling webhook ...`` under
``failurePolicy: Fail`` (the default) and is skipped under ``Ignore``. Warnings come back as
``Warning: 299 - "<text>"`` headers, on success and on denial.

``clientConfig.url`` is called as is; ``clientConfig.service`` is resolved through
:attr:`WebhookCaller.services`, which maps ``(namespace, name)`` to a base URL such as
``https://127.0.0.1:9443`` (``FakeAPIServer.webhook_services``); an unmapped service is a call
failure. ``caBundle`` is the only trusted CA (none: the system's).

**Conversion.** For a CRD whose ``spec.conversion.strategy`` is ``Webhook``, objects are converted
by calling its webhook (ConversionReview v1 or v1beta1, always with the real server's fixed 30 s
timeout) whenever a request's version differs from the storage version: bodies written at another
version are converted to the storage version before the write; answers, lists and watch events are
converted to the requested version. A failed conversion is a 500 ``conversion webhook for
<group>/<version>, Kind=<kind> failed: <message>`` and nothing is stored. Since the storage and
watch paths are synchronous, converted objects are computed before they are needed (every get,
list and watch start asks the webhook for what it will serve, so a webhook that is down fails the
read as on the real server; each write converts to every served version for the watch events) and
looked up by content by :func:`.conversion.convert`; only labels and annotations of a webhook's
metadata are kept.

A deletecollection calls mutating webhooks once (no name, no object), then validates and deletes
each matching object in key order, one at a time (the real server's single deletion worker): the
first denial fails the request, and that object and those after it stay.

Modules: this one runs a request through the steps; :mod:`.webhook_admission` matches and calls
admission webhooks, :mod:`.webhook_conversion` converts custom resources, :mod:`.webhook_client`
posts the reviews.

Not emulated: admission on the scale subresource and server-side apply patches;
the ``reinvocationPolicy``; validating webhooks see a create's uid and creationTimestamp from the
dry run (the stored object gets new ones).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web
from multidict import CIMultiDict

from . import patch as patches
from .apply import check_patch_options
from .routing import Route
from .selectors import parse_filter
from .status import ApiFailure, bad_request, conflict
from .storage import Stored, Table
from .webhook_admission import ADMISSION_RESOURCES, AdmissionCalls, Attributes, options_for
from .webhook_client import WebhookClient
from .webhook_conversion import ConversionCalls

if TYPE_CHECKING:
    from .handlers import Handlers
    from .registry import Registry

__all__ = ["WebhookCaller"]

_PATCH_TYPES = {
    "application/merge-patch+json": "merge",
    "application/json-patch+json": "json",
    "application/strategic-merge-patch+json": "strategic",
}


class WebhookCaller(AdmissionCalls, ConversionCalls, WebhookClient):
    """Calls the webhooks of one fake server (see the module docstring)."""

    def __init__(self, registry: Registry) -> None:
        super().__init__()
        self.registry = registry
        for rdef in ADMISSION_RESOURCES:
            if rdef.key not in registry.tables:  # another module may already serve them
                registry.tables[rdef.key] = Table(rdef, registry.history_size)

    def wants(self, route: Route, table: Table) -> bool:
        """Whether this request needs webhooks (cheap; False leaves the request to the handlers)."""
        if (
            route.verb in ("create", "update", "patch", "delete", "deletecollection")
            and self._admission_configured()
        ):
            return True
        return self._conversion_webhook(table) is not None

    # -- the request --------------------------------------------------------------------------------

    async def handle(
        self, handlers: Handlers, request: web.Request, route: Route, table: Table, av: str
    ) -> web.StreamResponse:
        """Serve one request with admission and conversion webhooks; answers like the handlers."""
        warnings: list[str] = []
        try:
            response = await self._handle(handlers, request, route, table, av, warnings)
        except ApiFailure as failure:
            response = web.Response(
                body=failure.body(),
                status=failure.code,
                content_type="application/json",
                headers=failure.headers,
            )
        if warnings:
            headers = CIMultiDict(response.headers)
            for text in warnings:
                headers.add("Warning", f'299 - "{text}"')
            response.headers.clear()
            response.headers.extend(headers)
        return response

    async def _handle(
        self,
        handlers: Handlers,
        request: web.Request,
        route: Route,
        table: Table,
        av: str,
        warnings: list[str],
    ) -> web.StreamResponse:
        conv = self._conversion_webhook(table)
        storage_av = table.rdef.stored_api_version
        verb_handler = getattr(handlers, "_" + route.verb)
        if route.verb in ("get", "list", "watch") or route.subresource == "scale":
            if conv is not None and av != storage_av:
                await self._warm(table, route, av, conv)
            result: web.StreamResponse = await verb_handler(request, route, table, av)
            return result
        dry_run = "dryRun" in request.query
        if route.verb == "create" and (route.subresource is not None or not table.rdef.stored):
            result = await verb_handler(request, route, table, av)  # reviews, evictions: not admitted here
            return result
        if route.verb == "delete":
            return await self._delete(handlers, request, route, table, av, warnings, dry_run)
        if route.verb == "deletecollection":
            return await self._delete_collection(handlers, request, route, table, av, warnings, dry_run)
        if route.verb == "patch":
            media = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
            if media not in _PATCH_TYPES or (_PATCH_TYPES[media] == "strategic" and not table.rdef.builtin):
                # server-side apply and unsupported types: the handlers' answer, without admission
                result = await verb_handler(request, route, table, av)
                return result
            check_patch_options(request, _PATCH_TYPES[media])
        if route.verb != "patch":
            handlers._require_json(request)
        for _attempt in range(5):  # a patch or update racing another write is retried, like GuaranteedUpdate
            try:
                return await self._write(handlers, request, route, table, av, conv, warnings, dry_run)
            except _Retry:
                continue
        raise ApiFailure(409, "Conflict", "the object kept changing while webhooks were called; try again")

    async def _write(
        self,
        handlers: Handlers,
        request: web.Request,
        route: Route,
        table: Table,
        av: str,
        conv: dict[str, Any] | None,
        warnings: list[str],
        dry_run: bool,
    ) -> web.StreamResponse:
        rdef = table.rdef
        storage_av = rdef.stored_api_version
        version = av.rpartition("/")[2]
        ns = route.namespace or ""
        old: Stored | None = None
        if route.verb == "create":
            body = await handlers._body(request, rdef.kind)
            if not isinstance(body, dict):
                raise bad_request(f"the object provided is unrecognized (must be of type {rdef.kind})")
            obj = copy.deepcopy(body)
            operation = "CREATE"
        else:
            assert route.name is not None
            old = table.objects.get((ns, route.name))
            if route.verb == "update":
                body = await handlers._body(request, rdef.kind)
                if not isinstance(body, dict):
                    raise bad_request(f"the object provided is unrecognized (must be of type {rdef.kind})")
                obj = copy.deepcopy(body)
            else:
                if old is None:
                    self.registry.get(table, route.namespace, route.name)  # raises the real 404
                    raise AssertionError("unreachable")
                obj = await self._patched(handlers, request, table, old, av, conv)
            operation = "UPDATE" if old is not None else "CREATE"
        obj.setdefault("apiVersion", av)
        obj.setdefault("kind", rdef.kind)
        if rdef.namespaced and ns:
            obj.setdefault("metadata", {}).setdefault("namespace", ns)
        old_at_av = await self._at(old.obj, av, table, conv) if old is not None else None
        name = str((obj.get("metadata") or {}).get("name") or route.name or "")
        attrs = Attributes(
            operation, table, version, route.subresource or "", ns, name, dry_run, options_for(operation)
        )
        obj = await self._mutate(attrs, obj, old_at_av, warnings)
        body_storage, write_av = obj, av  # without a conversion webhook the registry converts itself
        if conv is not None:
            write_av = storage_av
            if av != storage_av and obj.get("apiVersion") == av:
                body_storage = (await self._convert(conv, table, [obj], storage_av))[0]
        expected_rv = old.obj["metadata"]["resourceVersion"] if old is not None else None
        candidate = self._registry_write(
            handlers, request, route, table, body_storage, write_av, expected_rv, dry=True
        )
        if not (body_storage.get("metadata") or {}).get("name"):
            # generateName: store under the name the validating webhooks are shown
            body_storage = {**body_storage, "metadata": {**body_storage.get("metadata", {})}}
            body_storage["metadata"]["name"] = candidate.obj["metadata"]["name"]
        final = await self._at(candidate.obj, av, table, conv)
        if conv is not None:
            for other in rdef.versions:
                other_av = rdef.api_version(other)
                if other_av not in (av, storage_av):
                    await self._at(candidate.obj, other_av, table, conv)
        await self._validate(attrs, final, old_at_av, warnings)
        if dry_run:
            return _json(orjson.dumps(final), 201 if old is None else 200)
        current = table.objects.get((ns, name))
        if (
            current.obj["metadata"]["resourceVersion"] if current else None
        ) != expected_rv and old is not None:
            raise _Retry()
        stored = self._registry_write(
            handlers, request, route, table, body_storage, write_av, expected_rv, dry=False
        )
        return _json(stored.bytes_for(av), 201 if old is None and route.verb != "patch" else 200)

    def _registry_write(
        self,
        handlers: Handlers,
        request: web.Request,
        route: Route,
        table: Table,
        body: dict[str, Any],
        write_av: str,
        expected_rv: str | None,
        *,
        dry: bool,
    ) -> Stored:
        body = copy.deepcopy(body)
        registry = self.registry
        with handlers._writing(request):  # the request's field manager and ?dryRun
            registry.dry_run = registry.dry_run or dry
            if route.verb == "create":
                return registry.create(table, route.namespace, body, write_av)
            assert route.name is not None
            if route.verb == "patch" and expected_rv is not None:
                body.setdefault("metadata", {})["resourceVersion"] = expected_rv
            try:
                return registry.update(
                    table,
                    route.namespace,
                    route.name,
                    body,
                    subresource=route.subresource,
                    api_version=write_av,
                )
            except ApiFailure as exc:
                if exc.code == 409 and route.verb == "patch":
                    # the object changed while webhooks were called: a patch is applied again to the
                    # new state (the real server's GuaranteedUpdate); a stale resourceVersion the
                    # client put in its patch is refused by _patched on the next attempt
                    raise _Retry() from None
                raise

    async def _patched(
        self,
        handlers: Handlers,
        request: web.Request,
        table: Table,
        old: Stored,
        av: str,
        conv: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """The live object at ``av`` with the request's patch applied (the registry's patch rules)."""
        media = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        patch_type = _PATCH_TYPES[media]
        body = await handlers._patch_body(request, table.rdef.kind)
        current = copy.deepcopy(await self._at(old.obj, av, table, conv))
        result = patches.apply_patch(current, body, patch_type)
        meta = result["metadata"]
        if meta.get("resourceVersion") and meta["resourceVersion"] != old.obj["metadata"]["resourceVersion"]:
            raise conflict(table.rdef.group, table.rdef.plural, str(meta.get("name")))
        result["apiVersion"] = av
        result["kind"] = table.rdef.kind
        return result

    async def _delete(
        self,
        handlers: Handlers,
        request: web.Request,
        route: Route,
        table: Table,
        av: str,
        warnings: list[str],
        dry_run: bool,
    ) -> web.StreamResponse:
        assert route.name is not None
        conv = self._conversion_webhook(table)
        old = self.registry.get(table, route.namespace, route.name)
        old_at_av = await self._at(old.obj, av, table, conv)
        attrs = Attributes(
            "DELETE",
            table,
            av.rpartition("/")[2],
            route.subresource or "",
            route.namespace or "",
            route.name,
            dry_run,
            options_for("DELETE"),
        )
        await self._mutate(attrs, None, None, warnings)  # the real server sends neither object here
        await self._validate(attrs, None, old_at_av, warnings)
        result: web.StreamResponse = await handlers._delete(request, route, table, av)
        return result

    async def _delete_collection(
        self,
        handlers: Handlers,
        request: web.Request,
        route: Route,
        table: Table,
        av: str,
        warnings: list[str],
        dry_run: bool,
    ) -> web.StreamResponse:
        """Like the real registry: mutating webhooks once (no name, no objects), then each matching
        object is validated (no name either, the object as ``oldObject``) and deleted in key order; the
        first denial ends the request (that object and the ones after it stay)."""
        conv = self._conversion_webhook(table)
        options = await handlers._delete_options(request)
        filt = parse_filter(
            request.query.get("labelSelector"), request.query.get("fieldSelector"), table.rdef.key
        )
        version = av.rpartition("/")[2]
        ns = route.namespace or ""
        attrs = Attributes("DELETE", table, version, "", ns, "", dry_run, options_for("DELETE"))
        await self._mutate(attrs, None, None, warnings)
        chosen = [s for s in table.sorted_now() if (not ns or s.key[0] == ns) and filt.matches(s.obj)]
        deleted: list[Stored] = []
        first_error: BaseException | None = None
        for stored in chosen:
            # the real server reviews each object with the collection's attributes: no name, the old object
            item = Attributes("DELETE", table, version, "", ns, "", dry_run, options_for("DELETE"))
            try:
                await self._validate(item, None, await self._at(stored.obj, av, table, conv), warnings)
                current = table.objects.get(stored.key)
                if current is None:
                    continue  # deleted meanwhile
                with handlers._writing(request):
                    result, _ = self.registry.delete(table, stored.key[0] or None, stored.key[1], options)
                deleted.append(result)
            except ApiFailure as exc:
                first_error = exc
                break  # one deletion worker (the real default): nothing after the first failure
        if first_error is not None:
            raise first_error
        items = [s.item_bytes(av, table.rdef.builtin) for s in deleted]
        return _json(handlers._list_body(table, av, items, self.registry.rv, None, None), 200)


class _Retry(Exception):
    """The object changed while webhooks were called: start the write again."""


def _json(data: bytes, code: int) -> web.Response:
    return web.Response(body=data, status=code, content_type="application/json")
