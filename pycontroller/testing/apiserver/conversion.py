"""Serving one stored object at several apiVersions, and the decode-time type checks.

Custom resources (conversion strategy None) only change ``apiVersion``. Events are stored once as
core/v1 Events and also served as events.k8s.io/v1 Events, renaming fields like the real
server's conversion (``message`` <-> ``note``, ``involvedObject`` <-> ``regarding``,
``source`` <-> ``deprecatedSource``, ...).

:func:`check_types` refuses bodies whose well-known fields have the wrong JSON type with the real
server's 400 message prefix (``ConfigMap in version "v1" cannot be handled as a ConfigMap: ...``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .status import ApiFailure, bad_request

__all__ = ["check_types", "convert", "from_served"]

NEW_EVENTS = "events.k8s.io/v1"
# events.k8s.io/v1 field -> core/v1 field
_EVENT_FIELDS = {
    "regarding": "involvedObject",
    "note": "message",
    "reportingController": "reportingComponent",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}
_CORE_EVENT_FIELDS = {v: k for k, v in _EVENT_FIELDS.items()}

# Set by .webhooks: custom resources of CRDs with a conversion webhook, converted ahead of time.
webhook_lookup: Callable[[dict[str, Any], str], dict[str, Any] | None] | None = None


def _rename(obj: dict[str, Any], names: dict[str, str], api_version: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        out[names.get(key, key)] = value
    out["apiVersion"] = api_version
    return out


def convert(obj: dict[str, Any], api_version: str) -> dict[str, Any]:
    """``obj`` (as stored) as served at ``api_version``; a new dict (values are shared)."""
    if obj.get("kind") == "Event" and api_version == NEW_EVENTS and obj.get("apiVersion") == "v1":
        new = _rename(obj, _CORE_EVENT_FIELDS, api_version)
        for field in ("reportingController", "reportingInstance"):  # omitempty in events.k8s.io/v1
            if new.get(field) == "":
                del new[field]
        return new
    if webhook_lookup is not None and (converted := webhook_lookup(obj, api_version)) is not None:
        return converted
    return {**obj, "apiVersion": api_version}


def from_served(obj: dict[str, Any], served: str, stored: str) -> dict[str, Any]:
    """A body written at apiVersion ``served`` in its stored form (``stored`` apiVersion)."""
    if served == NEW_EVENTS and stored == "v1":
        return _rename(obj, _EVENT_FIELDS, stored)
    if obj.get("apiVersion") != stored:
        if webhook_lookup is not None and (converted := webhook_lookup(obj, stored)) is not None:
            return converted
        return {**obj, "apiVersion": stored}
    return obj


def _fail(kind: str, version: str, where: str, detail: str) -> ApiFailure:
    return bad_request(f'{kind} in version "{version}" cannot be handled as a {kind}: {where}: {detail}')


def _string_map(value: Any, kind: str, version: str, where: str) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise _fail(kind, version, where, f"ReadMapCB: expect {{ or n, but found {_json_type(value)}")
    for v in value.values():
        if v is not None and not isinstance(v, str):
            raise _fail(kind, version, where, f'ReadString: expects " or n, but found {_json_type(v)}')


def _json_type(value: Any) -> str:
    if isinstance(value, str):
        return '"'
    if isinstance(value, list):
        return "["
    if isinstance(value, dict):
        return "{"
    return str(value).lower() if isinstance(value, bool) else str(value)[:1]


def check_types(obj: dict[str, Any], builtin: bool) -> None:
    """400 for wrongly typed metadata (any resource) and well-known built-in fields."""
    kind = str(obj.get("kind", ""))
    version = str(obj.get("apiVersion", "")).rpartition("/")[2]
    meta = obj.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise _fail(
            kind,
            version,
            f"v1.{kind}.ObjectMeta",
            f"readObjectStart: expect {{ or n, but found {_json_type(meta)}",
        )
    meta = meta or {}
    for field in ("name", "namespace", "generateName", "resourceVersion", "uid"):
        value = meta.get(field)
        if value is not None and not isinstance(value, str):
            raise _fail(
                kind,
                version,
                f"v1.{kind}.ObjectMeta",
                f'v1.ObjectMeta.{field.capitalize()}: ReadString: expects " or n, but found {_json_type(value)}',
            )
    for field in ("labels", "annotations"):
        _string_map(
            meta.get(field), kind, version, f"v1.{kind}.ObjectMeta: v1.ObjectMeta.{field.capitalize()}"
        )
    finalizers = meta.get("finalizers")
    if finalizers is not None and (
        not isinstance(finalizers, list) or not all(isinstance(f, str) for f in finalizers)
    ):
        raise _fail(
            kind, version, f"v1.{kind}.ObjectMeta: v1.ObjectMeta.Finalizers", "expects an array of strings"
        )
    if not builtin:
        return
    if kind in ("ConfigMap", "Secret"):
        for field in ("data", "binaryData", "stringData"):
            _string_map(obj.get(field), kind, version, f"v1.{kind}.{field[0].upper()}{field[1:]}")
    for field in ("spec", "status"):
        value = obj.get(field)
        if value is not None and not isinstance(value, dict):
            raise _fail(
                kind,
                version,
                f"v1.{kind}.{field.capitalize()}",
                f"readObjectStart: expect {{ or n, but found {_json_type(value)}",
            )
