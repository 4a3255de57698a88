"""Structural schemas of CRDs: pruning, defaulting and validation of custom resources on write.

Like the real server (apiextensions, 1.20): fields the schema does not know are dropped unless
``x-kubernetes-preserve-unknown-fields`` (or ``additionalProperties``) keeps them, ``default``
values fill absent fields, and the common OpenAPI v3 keywords are checked (type, required,
enum, minimum/maximum, exclusive bounds, min/maxLength, pattern, min/maxItems,
min/maxProperties, nullable, x-kubernetes-int-or-string). Causes use the real messages
(``spec.replicas in body should be less than or equal to 10``); properties are visited in
sorted order, as the real validator reports them. ``apiVersion``, ``kind`` and ``metadata`` at
the root are never pruned.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from .validation import Cause

__all__ = ["apply_schema"]

_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _type_ok(kind: str, value: Any, schema: dict[str, Any]) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, (int, str)) and not isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    expected = _TYPES.get(kind)
    return expected is None or isinstance(value, expected)


def _prune_and_default(value: Any, schema: dict[str, Any], root: bool = False) -> Any:
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        keep_unknown = schema.get("x-kubernetes-preserve-unknown-fields") or extra not in (None, False)
        out: dict[str, Any] = {}
        for key, item in value.items():
            if root and key in ("apiVersion", "kind", "metadata"):
                out[key] = item
            elif key in props:
                if item is None and not props[key].get("nullable"):
                    continue  # nulls of non-nullable fields are dropped, like the real server does
                out[key] = _prune_and_default(item, props[key])
            elif isinstance(extra, dict):
                if item is None and not extra.get("nullable"):
                    continue
                out[key] = _prune_and_default(item, extra)
            elif keep_unknown:
                out[key] = item
        for key, sub in props.items():
            if key not in out and "default" in sub:
                out[key] = copy.deepcopy(sub["default"])
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        items = schema["items"]
        return [_prune_and_default(v, items) for v in value if v is not None or items.get("nullable")]
    return value


def _should(causes: list[Cause], path: str, value: Any, rule: str) -> None:
    """Record the real validator's "Invalid value: V: PATH in body should RULE" cause."""
    causes.append(
        ("FieldValueInvalid", path, f"Invalid value: {_shown(value)}: {path} in body should {rule}")
    )


def _validate(value: Any, schema: dict[str, Any], path: str, causes: list[Cause]) -> None:
    if value is None:
        if not schema.get("nullable") and schema.get("type"):
            causes.append(
                (
                    "FieldValueInvalid",
                    path,
                    f'Invalid value: "null": {path} in body must be of type {schema["type"]}: "null"',
                )
            )
        return
    kind = schema.get("type")
    if kind and not _type_ok(kind, value, schema):
        actual = _json_type(value)
        causes.append(
            (
                "FieldValueInvalid",
                path,
                f'Invalid value: "{actual}": {path} in body must be of type {kind}: "{actual}"',
            )
        )
        return
    enum = schema.get("enum")
    if enum is not None and value not in enum:
        supported = ", ".join(_shown(v) for v in enum)
        causes.append(
            (
                "FieldValueNotSupported",
                path,
                f"Unsupported value: {_shown(value)}: supported values: {supported}",
            )
        )
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "maximum" in schema:
            if schema.get("exclusiveMaximum") and value >= schema["maximum"]:
                _should(causes, path, value, f"be less than {schema['maximum']}")
            elif value > schema["maximum"]:
                _should(causes, path, value, f"be less than or equal to {schema['maximum']}")
        if "minimum" in schema:
            if schema.get("exclusiveMinimum") and value <= schema["minimum"]:
                _should(causes, path, value, f"be greater than {schema['minimum']}")
            elif value < schema["minimum"]:
                _should(causes, path, value, f"be greater than or equal to {schema['minimum']}")
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            _should(causes, path, value, f"be at most {schema['maxLength']} chars long")
        if "minLength" in schema and len(value) < schema["minLength"]:
            _should(causes, path, value, f"be at least {schema['minLength']} chars long")
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            try:
                matched = re.search(pattern, value) is not None
            except re.error:
                # A pattern Python's re cannot compile (RE2 syntax it lacks) is not enforced rather
                # than refusing every object: the fake is lenient where it cannot be exact.
                matched = True
            if not matched:
                _should(causes, path, value, f"match '{pattern}'")
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            causes.append(
                (
                    "FieldValueTooMany",
                    path,
                    f"Too many: {len(value)}: must have at most {schema['maxItems']} items",
                )
            )
        if "minItems" in schema and len(value) < schema["minItems"]:
            causes.append(
                (
                    "FieldValueInvalid",
                    path,
                    f"Invalid value: {len(value)}: {path} in body should have at least {schema['minItems']} items",
                )
            )
        items = schema.get("items")
        if isinstance(items, dict):
            for item in value:
                _validate(item, items, path, causes)  # the real 1.20 validator names the list, not the index
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key in sorted(value):
            if key in props:
                _validate(value[key], props[key], f"{path}.{key}" if path else key, causes)
            elif isinstance(extra, dict):
                _validate(value[key], extra, f"{path}.{key}" if path else key, causes)
        for key in schema.get("required") or []:
            if key not in value:
                causes.append(("FieldValueRequired", f"{path}.{key}" if path else key, "Required value"))
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            causes.append(
                (
                    "FieldValueTooMany",
                    path,
                    f"Too many: {len(value)}: must have at most {schema['maxProperties']} items",
                )
            )
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            causes.append(
                (
                    "FieldValueInvalid",
                    path,
                    f"Invalid value: {len(value)}: {path} in body should have at least {schema['minProperties']} properties",
                )
            )


def apply_schema(obj: dict[str, Any], schema: dict[str, Any] | None) -> tuple[dict[str, Any], list[Cause]]:
    """``obj`` pruned and defaulted by ``schema`` (openAPIV3Schema), and what it fails."""
    if not isinstance(schema, dict):
        return obj, []
    pruned = _prune_and_default(obj, schema, root=True)
    causes: list[Cause] = []
    body = {k: v for k, v in pruned.items() if k not in ("apiVersion", "kind", "metadata")}
    props = {
        k: v
        for k, v in (schema.get("properties") or {}).items()
        if k not in ("apiVersion", "kind", "metadata")
    }
    _validate(
        body,
        {
            **schema,
            "properties": props,
            "required": [r for r in schema.get("required") or [] if r != "metadata"],
        },
        "",
        causes,
    )
    return pruned, causes
