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
watch paths are synchronous, converted objects are computed before they are needed (at each write
for every served version, and for the objects a read or watch will serve) and looked up by content
by :func:`.conversion.convert`; only labels and annotations of a webhook's metadata are kept.

Not emulated: admission on deletecollection, the scale subresource and server-side apply patches;
the ``reinvocationPolicy``; validating webhooks see a create's uid and creationTimestamp from the
dry run (the stored object gets new ones).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import logging
import ssl
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
from aiohttp import web
from multidict import CIMultiDict

from pycontroller.labels import SelectorError, selector_from_label_selector

from . import conversion
from . import patch as patches
from .objects import CRD_KEY, NS_KEY
from .resources import ResourceDef
from .routing import Route
from .status import ApiFailure, bad_request, conflict
from .storage import Stored, Table

if TYPE_CHECKING:
    from .handlers import Handlers
    from .registry import Registry

__all__ = ["WebhookCaller"]

log = logging.getLogger("pycontroller.testing.apiserver")

GROUP = "admissionregistration.k8s.io"
VALIDATING_KEY = (GROUP, "validatingwebhookconfigurations")
MUTATING_KEY = (GROUP, "mutatingwebhookconfigurations")
ADMISSION_RESOURCES = (
    ResourceDef(
        GROUP,
        ("v1", "v1beta1"),
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        False,
        categories=("api-extensions",),
        generation_fields=("webhooks",),
    ),
    ResourceDef(
        GROUP,
        ("v1", "v1beta1"),
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        False,
        categories=("api-extensions",),
        generation_fields=("webhooks",),
    ),
)
CONVERSION_TIMEOUT = 30
_PATCH_TYPES = {
    "application/merge-patch+json": "merge",
    "application/json-patch+json": "json",
    "application/strategic-merge-patch+json": "strategic",
}
_OPTIONS_KIND = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions", "DELETE": "DeleteOptions"}
_USER = {"username": "system:admin", "groups": ["system:masters", "system:authenticated"]}


class _CallFailed(Exception):
    """A webhook could not be called or answered nonsense (failurePolicy decides)."""


# -- the conversion cache ---------------------------------------------------------------------------------

_CACHE_SIZE = 50_000
_cache: OrderedDict[tuple[str, str, bytes], dict[str, Any]] = OrderedDict()
_webhook_kinds: set[tuple[str, str]] = set()


def _content_key(obj: dict[str, Any], to: str) -> tuple[str, str, bytes]:
    meta = obj.get("metadata") or {}
    content = {k: v for k, v in obj.items() if k != "metadata"}
    content["metadata"] = {"labels": meta.get("labels"), "annotations": meta.get("annotations")}
    return (str(obj.get("kind", "")), to, orjson.dumps(content, option=orjson.OPT_SORT_KEYS))


def _remember(original: dict[str, Any], converted: dict[str, Any]) -> None:
    key = _content_key(original, str(converted.get("apiVersion", "")))
    _cache[key] = converted
    _cache.move_to_end(key)
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)


def _merge(original: dict[str, Any], converted: dict[str, Any]) -> dict[str, Any]:
    """The converted object with the original's metadata (only labels/annotations may change)."""
    out = dict(converted)
    meta = dict(original.get("metadata") or {})
    new_meta = converted.get("metadata") or {}
    for field in ("labels", "annotations"):
        if new_meta.get(field) is not None:
            meta[field] = new_meta[field]
        else:
            meta.pop(field, None)
    out["metadata"] = meta
    return out


def lookup(obj: dict[str, Any], api_version: str) -> dict[str, Any] | None:
    """``obj`` converted to ``api_version`` by its CRD's conversion webhook, if computed before."""
    group = api_version.rpartition("/")[0]
    kind = str(obj.get("kind", ""))
    if (group, kind) not in _webhook_kinds:
        return None
    converted = _cache.get(_content_key(obj, api_version))
    if converted is None:
        log.error(
            "fake API server: no webhook conversion of %s %s to %s was computed; serving it unconverted",
            kind,
            (obj.get("metadata") or {}).get("name"),
            api_version,
        )
        return None
    return _merge(obj, converted)


conversion.webhook_lookup = lookup


# -- matching ---------------------------------------------------------------------------------------------


def _matches_list(values: Any, value: str) -> bool:
    return isinstance(values, list) and ("*" in values or value in values)


def _resource_matches(resources: Any, resource: str, sub: str) -> bool:
    if not isinstance(resources, list):
        return False
    for entry in resources:
        res, _, entry_sub = str(entry).partition("/")
        if (res == "*" or res == resource) and (entry_sub == "*" or entry_sub == sub):
            return True
    return False


def _selects(selector: Any, labels: dict[str, str] | None) -> bool:
    if selector is None:
        return True
    try:
        return selector_from_label_selector(selector).matches(labels or {})
    except (SelectorError, TypeError):
        return False


class _Attributes:
    """What is being admitted (one request)."""

    def __init__(
        self,
        operation: str,
        table: Table,
        version: str,
        subresource: str,
        namespace: str,
        name: str,
        dry_run: bool,
        options: dict[str, Any] | None,
    ) -> None:
        self.operation = operation
        self.table = table
        self.version = version
        self.subresource = subresource
        self.namespace = namespace
        self.name = name
        self.dry_run = dry_run
        self.options = options


class WebhookCaller:
    """Calls the webhooks of one fake server (see the module docstring)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        for rdef in ADMISSION_RESOURCES:
            if rdef.key not in registry.tables:  # another module may already serve them
                registry.tables[rdef.key] = Table(rdef, registry.history_size)
        self.services: dict[tuple[str, str], str] = {}
        """(namespace, service name) -> base URL (``https://127.0.0.1:9443``) for service references."""
        self._contexts: dict[str, ssl.SSLContext] = {}

    # -- deciding ---------------------------------------------------------------------------------

    def _admission_configured(self) -> bool:
        tables = self.registry.tables
        return any(tables[key].objects for key in (VALIDATING_KEY, MUTATING_KEY) if key in tables)

    def _conversion_webhook(self, table: Table) -> dict[str, Any] | None:
        rdef = table.rdef
        if rdef.builtin:
            return None
        crd = self.registry.tables[CRD_KEY].objects.get(("", f"{rdef.plural}.{rdef.group}"))
        if crd is None:
            return None
        conv = (crd.obj.get("spec") or {}).get("conversion") or {}
        if conv.get("strategy") != "Webhook" or not isinstance(conv.get("webhook"), dict):
            return None
        _webhook_kinds.add((rdef.group, rdef.kind))
        webhook: dict[str, Any] = conv["webhook"]
        return webhook

    def wants(self, route: Route, table: Table) -> bool:
        """Whether this request needs webhooks (cheap; False leaves the request to the handlers)."""
        if route.verb in ("create", "update", "patch", "delete") and self._admission_configured():
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
        if route.verb == "delete":
            return await self._delete(handlers, request, route, table, av, warnings, dry_run)
        if route.verb == "patch":
            media = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
            if media not in _PATCH_TYPES:  # server-side apply and unknown types: the handlers' answer
                result = await verb_handler(request, route, table, av)
                return result
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
        attrs = _Attributes(
            operation, table, version, route.subresource or "", ns, name, dry_run, _options(operation)
        )
        obj = await self._mutate(attrs, obj, old_at_av, warnings)
        body_storage, write_av = obj, av  # without a conversion webhook the registry converts itself
        if conv is not None:
            write_av = storage_av
            if av != storage_av and obj.get("apiVersion") == av:
                body_storage = (await self._convert(conv, table, [obj], storage_av))[0]
        expected_rv = old.obj["metadata"]["resourceVersion"] if old is not None else None
        candidate = self._registry_write(route, table, body_storage, write_av, expected_rv, dry=True)
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
        stored = self._registry_write(route, table, body_storage, write_av, expected_rv, dry=False)
        return _json(stored.bytes_for(av), 201 if old is None and route.verb != "patch" else 200)

    def _registry_write(
        self,
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
        registry.dry_run = dry
        try:
            if route.verb == "create":
                return registry.create(table, route.namespace, body, write_av)
            assert route.name is not None
            if route.verb == "patch" and expected_rv is not None:
                body.setdefault("metadata", {})["resourceVersion"] = expected_rv
            return registry.update(
                table, route.namespace, route.name, body, subresource=route.subresource, api_version=write_av
            )
        finally:
            registry.dry_run = False

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
        if patch_type == "strategic" and not table.rdef.builtin:
            raise ApiFailure(
                415, "UnsupportedMediaType", "strategic merge patch is not supported for custom resources"
            )
        try:
            body = await handlers._body(request, table.rdef.kind)
        except ApiFailure as exc:
            raise bad_request(
                f"error decoding patch: {exc.message.rsplit('json parse error: ', 1)[-1]}"
            ) from None
        if body is None:
            raise bad_request("the patch body is empty")
        current = copy.deepcopy(await self._at(old.obj, av, table, conv))
        result: Any
        try:
            if patch_type == "merge":
                result = patches.merge_patch(current, body)
            elif patch_type == "json":
                result = patches.json_patch(current, body)
            else:
                result = patches.strategic_merge_patch(current, body)
        except patches.PatchError as exc:
            if exc.code == 400:
                raise bad_request(str(exc)) from None
            raise ApiFailure(
                422, "Invalid", "the server rejected our request due to an error in our request", {}
            ) from None
        if not isinstance(result, dict) or not isinstance(result.get("metadata"), dict):
            raise ApiFailure(422, "Invalid", "the patched object is not a valid object")
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
        attrs = _Attributes(
            "DELETE",
            table,
            av.rpartition("/")[2],
            route.subresource or "",
            route.namespace or "",
            route.name,
            dry_run,
            _options("DELETE"),
        )
        await self._mutate(attrs, None, None, warnings)  # the real server sends neither object here
        await self._validate(attrs, None, old_at_av, warnings)
        result: web.StreamResponse = await handlers._delete(request, route, table, av)
        return result

    # -- admission ----------------------------------------------------------------------------------

    def _matching(
        self, key: tuple[str, str], attrs: _Attributes, obj: Any, old: Any
    ) -> list[tuple[dict[str, Any], str]]:
        """(webhook, version to send at) for every matching webhook, by configuration name."""
        table = self.registry.tables.get(key)
        if table is None:
            return []
        rdef = attrs.table.rdef
        out = []
        for stored in table.sorted_now():
            for hook in stored.obj.get("webhooks") or []:
                if not isinstance(hook, dict):
                    continue
                version = self._rule_version(hook, attrs, rdef)
                if version is None:
                    continue
                if not self._selectors_match(hook, attrs, obj, old):
                    continue
                out.append((hook, version))
        return out

    @staticmethod
    def _rule_version(hook: dict[str, Any], attrs: _Attributes, rdef: ResourceDef) -> str | None:
        equivalent = hook.get("matchPolicy", "Equivalent") == "Equivalent"
        for rule in hook.get("rules") or []:
            if not isinstance(rule, dict):
                continue
            if not _matches_list(rule.get("operations"), attrs.operation):
                continue
            if not _matches_list(rule.get("apiGroups"), rdef.group):
                continue
            if not _resource_matches(rule.get("resources"), rdef.plural, attrs.subresource):
                continue
            scope = rule.get("scope", "*")
            if (scope == "Cluster" and rdef.namespaced) or (scope == "Namespaced" and not rdef.namespaced):
                continue
            versions = rule.get("apiVersions")
            if _matches_list(versions, attrs.version):
                return attrs.version
            if equivalent and isinstance(versions, list):
                for version in versions:
                    if version in rdef.versions:
                        return str(version)
        return None

    def _selectors_match(self, hook: dict[str, Any], attrs: _Attributes, obj: Any, old: Any) -> bool:
        labels = [((o or {}).get("metadata") or {}).get("labels") for o in (obj, old) if o is not None]
        if "objectSelector" in hook and not any(
            _selects(hook["objectSelector"], lab) for lab in labels or [{}]
        ):
            return False
        selector = hook.get("namespaceSelector")
        if selector is None or selector == {}:
            return True
        rdef = attrs.table.rdef
        if rdef.key == NS_KEY:
            return any(_selects(selector, lab) for lab in labels or [{}])
        if not rdef.namespaced:
            return True
        ns = self.registry.tables[NS_KEY].objects.get(("", attrs.namespace))
        ns_labels = (ns.obj["metadata"].get("labels") if ns is not None else None) or {}
        return _selects(selector, ns_labels)

    def _review_request(self, attrs: _Attributes, version: str, obj: Any, old: Any) -> dict[str, Any]:
        rdef = attrs.table.rdef
        request: dict[str, Any] = {
            "uid": str(uuid.uuid4()),
            "kind": {"group": rdef.group, "version": version, "kind": rdef.kind},
            "resource": {"group": rdef.group, "version": version, "resource": rdef.plural},
            "requestKind": {"group": rdef.group, "version": attrs.version, "kind": rdef.kind},
            "requestResource": {"group": rdef.group, "version": attrs.version, "resource": rdef.plural},
            "name": attrs.name,
            "operation": attrs.operation,
            "userInfo": dict(_USER),
            "object": obj,
            "oldObject": old,
            "dryRun": attrs.dry_run,
            "options": attrs.options,
        }
        if attrs.subresource:
            request["subResource"] = request["requestSubResource"] = attrs.subresource
        if attrs.namespace:
            request["namespace"] = attrs.namespace
        return request

    async def _admit(
        self, hook: dict[str, Any], version: str, attrs: _Attributes, obj: Any, old: Any
    ) -> dict[str, Any] | None:
        """Call one webhook; its ``response`` dict, or None when it failed and is ignored."""
        name = str(hook.get("name", ""))
        table = attrs.table
        conv = self._conversion_webhook(table)
        av = table.rdef.api_version(version)
        if version != attrs.version:  # matchPolicy Equivalent: sent at the rule's version
            obj = await self._at(obj, av, table, conv) if obj is not None else None
            old = await self._at(old, av, table, conv) if old is not None else None
        timeout = int(hook.get("timeoutSeconds") or 10)
        review_versions = [
            v for v in hook.get("admissionReviewVersions") or ["v1beta1"] if v in ("v1", "v1beta1")
        ]
        try:
            if not review_versions:
                raise _CallFailed(
                    f"webhook does not accept known AdmissionReview versions {hook.get('admissionReviewVersions')}"
                )
            request = self._review_request(attrs, version, obj, old)
            review = {
                "apiVersion": f"admission.k8s.io/{review_versions[0]}",
                "kind": "AdmissionReview",
                "request": request,
            }
            answer = await self._post(hook.get("clientConfig") or {}, review, timeout)
            response = answer.get("response") if isinstance(answer, dict) else None
            if not isinstance(response, dict):
                raise _CallFailed("the webhook's answer has no response")
            if response.get("uid") != request["uid"]:
                raise _CallFailed(f"expected response.uid={request['uid']!r}, got {response.get('uid')!r}")
            if not isinstance(response.get("allowed"), bool):
                raise _CallFailed("the webhook's response has no allowed field")
            return response
        except _CallFailed as exc:
            if hook.get("failurePolicy", "Fail") == "Ignore":
                log.warning("fake API server: ignoring failed webhook %s: %s", name, exc)
                return None
            message = f'failed calling webhook "{name}": {exc}'
            raise ApiFailure(
                500,
                "InternalError",
                f"Internal error occurred: {message}",
                {"causes": [{"message": message}]},
            ) from None

    @staticmethod
    def _verdict(hook: dict[str, Any], response: dict[str, Any], warnings: list[str]) -> None:
        warnings.extend(str(w) for w in response.get("warnings") or [])
        if response["allowed"]:
            return
        status = response.get("status") or {}
        name = hook.get("name", "")
        raw_code = status.get("code")
        code = raw_code if isinstance(raw_code, int) else 0
        message = status.get("message") or ""
        text = (
            f'admission webhook "{name}" denied the request: {message}'
            if message
            else f'admission webhook "{name}" denied the request without explanation'
        )
        failure = ApiFailure(code if code >= 400 else 400, str(status.get("reason") or ""), text)
        failure.details = status.get("details") if isinstance(status.get("details"), dict) else None
        raise failure

    async def _mutate(
        self, attrs: _Attributes, obj: dict[str, Any] | None, old: Any, warnings: list[str]
    ) -> dict[str, Any]:
        for hook, version in self._matching(MUTATING_KEY, attrs, obj, old):
            response = await self._admit(hook, version, attrs, obj, old)
            if response is None:
                continue
            self._verdict(hook, response, warnings)
            patch = response.get("patch")
            if patch and obj is not None:
                if response.get("patchType") != "JSONPatch":
                    raise ApiFailure(
                        500,
                        "InternalError",
                        f"Internal error occurred: unsupported patch type {response.get('patchType')!r}",
                    )
                try:
                    ops = orjson.loads(base64.b64decode(patch))
                    obj = patches.json_patch(copy.deepcopy(obj), ops)
                except (ValueError, patches.PatchError) as exc:
                    raise ApiFailure(
                        500,
                        "InternalError",
                        f"Internal error occurred: JSON patch of webhook {hook.get('name')!r}: {exc}",
                    ) from None
        return obj if obj is not None else {}

    async def _validate(self, attrs: _Attributes, obj: Any, old: Any, warnings: list[str]) -> None:
        hooks = self._matching(VALIDATING_KEY, attrs, obj, old)
        if not hooks:
            return
        results = await asyncio.gather(
            *(self._admit(hook, version, attrs, obj, old) for hook, version in hooks), return_exceptions=True
        )
        first_error: BaseException | None = None
        for (hook, _), result in zip(hooks, results, strict=True):
            if isinstance(result, BaseException):
                first_error = first_error or result
                continue
            if result is None:
                continue
            try:
                self._verdict(hook, result, warnings)
            except ApiFailure as denial:
                first_error = first_error or denial
        if first_error is not None:
            raise first_error

    # -- calling -------------------------------------------------------------------------------------

    def _ssl(self, ca_bundle: str | None) -> ssl.SSLContext:
        key = ca_bundle or ""
        ctx = self._contexts.get(key)
        if ctx is None:
            if ca_bundle:
                try:
                    ctx = ssl.create_default_context(cadata=base64.b64decode(ca_bundle).decode())
                except (ValueError, ssl.SSLError) as exc:
                    raise _CallFailed(f"bad caBundle: {exc}") from None
            else:
                ctx = ssl.create_default_context()
            self._contexts[key] = ctx
        return ctx

    def _url(self, config: dict[str, Any]) -> str:
        if config.get("url"):
            return str(config["url"])
        service = config.get("service")
        if not isinstance(service, dict):
            raise _CallFailed("clientConfig has neither url nor service")
        base = self.services.get((str(service.get("namespace")), str(service.get("name"))))
        if base is None:
            raise _CallFailed(
                f"service {service.get('namespace')}/{service.get('name')} is not mapped to a local URL "
                "(FakeAPIServer.webhook_services)"
            )
        return base.rstrip("/") + str(service.get("path") or "")

    async def _post(self, config: dict[str, Any], review: dict[str, Any], timeout: int) -> Any:
        url = self._url(config)
        full = f"{url}{'&' if '?' in url else '?'}timeout={timeout}s"
        ctx = self._ssl(config.get("caBundle"))
        try:
            async with (
                asyncio.timeout(timeout),
                aiohttp.ClientSession() as session,
                session.post(
                    full,
                    data=orjson.dumps(review),
                    headers={"Content-Type": "application/json", "Accept": "application/json"},
                    ssl=ctx,
                ) as resp,
            ):
                raw = await resp.read()
                if resp.status != 200:
                    raise _CallFailed(
                        f'Post "{full}": the server answered {resp.status}: {raw[:200].decode(errors="replace")}'
                    )
        except TimeoutError:
            raise _CallFailed(f'Post "{full}": context deadline exceeded') from None
        except (aiohttp.ClientError, OSError, ssl.SSLError) as exc:
            raise _CallFailed(f'Post "{full}": {exc}') from None
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise _CallFailed(f"the webhook's answer is not JSON: {exc}") from None

    # -- conversion -----------------------------------------------------------------------------------

    async def _at(
        self, obj: dict[str, Any], av: str, table: Table, conv: dict[str, Any] | None
    ) -> dict[str, Any]:
        """``obj`` at apiVersion ``av`` (through the conversion webhook when there is one)."""
        if obj.get("apiVersion") == av:
            return obj
        if conv is None:
            return conversion.convert(obj, av)
        hit = lookup(obj, av) if _cache.get(_content_key(obj, av)) is not None else None
        if hit is not None:
            return hit
        return (await self._convert(conv, table, [obj], av))[0]

    async def _convert(
        self, conv: dict[str, Any], table: Table, objects: list[dict[str, Any]], desired: str
    ) -> list[dict[str, Any]]:
        """Convert ``objects`` to ``desired`` with one ConversionReview; remembers the results."""
        rdef = table.rdef
        todo = [o for o in objects if o.get("apiVersion") != desired]
        if not todo:
            return objects
        source = str(todo[0].get("apiVersion"))

        def failed(message: str) -> ApiFailure:
            return ApiFailure(500, "", f"conversion webhook for {source}, Kind={rdef.kind} failed: {message}")

        versions = [v for v in conv.get("conversionReviewVersions") or [] if v in ("v1", "v1beta1")]
        if not versions:
            raise failed("no conversionReviewVersions the server supports")
        uid = str(uuid.uuid4())
        review = {
            "apiVersion": f"apiextensions.k8s.io/{versions[0]}",
            "kind": "ConversionReview",
            "request": {"uid": uid, "desiredAPIVersion": desired, "objects": todo},
        }
        try:
            answer = await self._post(conv.get("clientConfig") or {}, review, CONVERSION_TIMEOUT)
        except _CallFailed as exc:
            raise failed(str(exc)) from None
        response = answer.get("response") if isinstance(answer, dict) else None
        if not isinstance(response, dict):
            raise failed("the webhook's answer has no response")
        if response.get("uid") != uid:
            raise failed(f"expected response.uid={uid!r}, got {response.get('uid')!r}")
        result = response.get("result") or {}
        if result.get("status") != "Success":
            raise failed(str(result.get("message") or "conversion failed"))
        converted = response.get("convertedObjects")
        if not isinstance(converted, list) or len(converted) != len(todo):
            raise failed(f"expected {len(todo)} converted objects, got {len(converted or [])}")
        by_id = {}
        for original, new in zip(todo, converted, strict=True):
            if not isinstance(new, dict) or new.get("apiVersion") != desired:
                raise failed(f"invalid converted object: expected apiVersion {desired}")
            merged = _merge(original, new)
            _remember(original, merged)
            by_id[id(original)] = merged
        return [by_id.get(id(o), o) for o in objects]

    async def _warm(self, table: Table, route: Route, av: str, conv: dict[str, Any]) -> None:
        """Convert what a read or watch at ``av`` will serve, before the synchronous paths serve it."""
        wanted: Iterable[Stored]
        if route.name is not None:
            stored = table.objects.get((route.namespace or "", route.name))
            wanted = [stored] if stored is not None else []
        else:
            ns = route.namespace
            wanted = [s for s in table.objects.values() if ns is None or s.key[0] == ns]
            if route.verb == "watch":
                wanted = list(wanted) + [e.obj for e in table.history if ns is None or e.obj.key[0] == ns]
        missing = [s.obj for s in wanted if _cache.get(_content_key(s.obj, av)) is None]
        if missing:
            await self._convert(conv, table, missing, av)


class _Retry(Exception):
    """The object changed while webhooks were called: start the write again."""


def _options(operation: str) -> dict[str, Any] | None:
    kind = _OPTIONS_KIND.get(operation)
    return {"apiVersion": "meta.k8s.io/v1", "kind": kind} if kind else None


def _json(data: bytes, code: int) -> web.Response:
    return web.Response(body=data, status=code, content_type="application/json")
