"""RFC 6902 JSON Patch: the difference between two JSON documents as a list of operations.

:func:`diff` produces ``add``/``remove``/``replace`` operations that turn ``old`` into ``new``: maps
are compared key by key (recursively), lists of equal length element by element, lists whose
length changed are replaced whole (always a valid patch, and what the API server applies exactly).
:func:`apply` applies such a patch (used by tests and by the in-memory API server's webhook calls).
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["JsonPatchError", "apply", "diff"]


class JsonPatchError(ValueError):
    """A patch that is malformed or does not apply to the document."""


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def diff(old: Any, new: Any) -> list[dict[str, Any]]:
    """The operations turning ``old`` into ``new`` (an empty list when equal). Never suspends."""
    ops: list[dict[str, Any]] = []
    _diff(old, new, "", ops)
    return ops


def _diff(old: Any, new: Any, path: str, ops: list[dict[str, Any]]) -> None:
    if type(old) is not type(new):
        ops.append({"op": "replace", "path": path, "value": copy.deepcopy(new)})
        return
    if isinstance(old, dict):
        for key in old:
            if key not in new:
                ops.append({"op": "remove", "path": f"{path}/{_escape(key)}"})
        for key, value in new.items():
            sub = f"{path}/{_escape(key)}"
            if key not in old:
                ops.append({"op": "add", "path": sub, "value": copy.deepcopy(value)})
            else:
                _diff(old[key], value, sub, ops)
        return
    if isinstance(old, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            _diff(a, b, f"{path}/{index}", ops)
        return
    if not isinstance(old, list) and old == new:
        return
    ops.append({"op": "replace", "path": path, "value": copy.deepcopy(new)})


def _walk(doc: Any, tokens: list[str], path: str) -> Any:
    for token in tokens:
        if isinstance(doc, dict):
            if token not in doc:
                raise JsonPatchError(f"path {path!r}: no member {token!r}")
            doc = doc[token]
        elif isinstance(doc, list):
            try:
                doc = doc[int(token)]
            except (ValueError, IndexError):
                raise JsonPatchError(f"path {path!r}: no element {token!r}") from None
        else:
            raise JsonPatchError(f"path {path!r}: cannot descend into a {type(doc).__name__}")
    return doc


def apply(doc: Any, patch: list[dict[str, Any]]) -> Any:
    """``doc`` with ``patch`` applied (add, remove, replace, move, copy, test); ``doc`` is not changed.

    Raises :class:`JsonPatchError` for a malformed operation or a path that does not exist.
    """
    if not isinstance(patch, list):
        raise JsonPatchError("a JSON patch must be a list of operations")
    result = copy.deepcopy(doc)
    for op in patch:
        if not isinstance(op, dict) or not isinstance(op.get("path"), str):
            raise JsonPatchError(f"malformed operation {op!r}")
        result = _apply_one(result, op)
    return result


def _split(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise JsonPatchError(f"path {path!r} must start with '/'")
    return [_unescape(t) for t in path[1:].split("/")]


def _apply_one(doc: Any, op: dict[str, Any]) -> Any:
    kind = op.get("op")
    path = op["path"]
    tokens = _split(path)
    if kind == "test":
        if _walk(doc, tokens, path) != op.get("value"):
            raise JsonPatchError(f"test failed at {path!r}")
        return doc
    if kind in ("move", "copy"):
        source = op.get("from")
        if not isinstance(source, str):
            raise JsonPatchError(f"{kind} needs 'from'")
        value = copy.deepcopy(_walk(doc, _split(source), source))
        if kind == "move":
            doc = _apply_one(doc, {"op": "remove", "path": source})
        return _apply_one(doc, {"op": "add", "path": path, "value": value})
    if kind not in ("add", "remove", "replace"):
        raise JsonPatchError(f"unknown operation {kind!r}")
    if kind != "remove" and "value" not in op:
        raise JsonPatchError(f"{kind} at {path!r} needs a value")
    value = copy.deepcopy(op.get("value"))
    if not tokens:
        if kind == "remove":
            raise JsonPatchError("cannot remove the whole document")
        return value
    parent = _walk(doc, tokens[:-1], path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if kind != "add" and last not in parent:
            raise JsonPatchError(f"path {path!r}: no member {last!r}")
        if kind == "remove":
            del parent[last]
        else:
            parent[last] = value
    elif isinstance(parent, list):
        if last == "-" and kind == "add":
            parent.append(value)
            return doc
        try:
            index = int(last)
        except ValueError:
            raise JsonPatchError(f"path {path!r}: {last!r} is not an index") from None
        limit = len(parent) if kind == "add" else len(parent) - 1
        if not 0 <= index <= limit:
            raise JsonPatchError(f"path {path!r}: index {index} out of range")
        if kind == "add":
            parent.insert(index, value)
        elif kind == "remove":
            del parent[index]
        else:
            parent[index] = value
    else:
        raise JsonPatchError(f"path {path!r}: parent is a {type(parent).__name__}")
    return doc
