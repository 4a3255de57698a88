"""CRD conversion webhooks in the fake server (see :mod:`.webhooks`).

Objects are converted by calling the CRD's webhook with one ConversionReview per batch, always with
the real server's fixed 30 s timeout: for every get, list and watch start at another version (what
it will serve), and at each write for every served version (the watch events). The storage and
watch paths are synchronous, so conversions are computed before they are needed and remembered by
content (everything but metadata, plus labels and annotations); :func:`lookup`, installed as
:data:`.conversion.webhook_lookup`, finds them.
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import orjson

from . import conversion
from .objects import CRD_KEY
from .routing import Route
from .status import ApiFailure
from .storage import Stored, Table
from .webhook_client import CallFailed

if TYPE_CHECKING:
    from .registry import Registry

__all__ = ["CONVERSION_TIMEOUT", "ConversionCalls", "lookup"]

log = logging.getLogger("pycontroller.testing.apiserver")

CONVERSION_TIMEOUT = 30

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


class ConversionCalls:
    """Mixin of :class:`.webhooks.WebhookCaller`: converting custom resources through webhooks."""

    if TYPE_CHECKING:
        registry: Registry

        async def _post(self, config: dict[str, Any], review: dict[str, Any], timeout: int) -> Any: ...

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
        except CallFailed as exc:
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
        # Every read asks the webhook again, as the real server does (a webhook that is down fails
        # the read); only watch events after the start come from the conversions made at each write.
        objects = list({id(s.obj): s.obj for s in wanted}.values())
        if objects:
            await self._convert(conv, table, objects, av)
