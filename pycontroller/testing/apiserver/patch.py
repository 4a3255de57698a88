"""The three patch formats: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge.

Strategic merge follows the Kubernetes directives for the built-in types the fake serves: lists
merge element-wise by their merge keys (containers by ``name``, container ports by
``containerPort``, service ports by ``port``, conditions by ``type``, ...), ``metadata.finalizers``
merges as a set, ``$patch: replace|delete``, ``$retainKeys``, ``$deleteFromPrimitiveList/<field>``
and ``$setElementOrder/<field>`` are honoured. Other lists are replaced, as by a merge patch.

Every function returns a new document and never mutates its inputs. Malformed patches raise
:class:`PatchError` (a ValueError); the server answers those with the real server's codes.
"""

from __future__ import annotations

import copy
from typing import Any

from .status import ApiFailure, bad_request

__all__ = ["PatchError", "apply_patch", "json_patch", "merge_patch", "strategic_merge_patch"]


class PatchError(ValueError):
    """A patch that cannot be applied; ``code`` is the HTTP status the server answers with."""

    def __init__(self, message: str, code: int = 422) -> None:
        super().__init__(message)
        self.code = code


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# -- JSON patch ------------------------------------------------------------------------------------


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise PatchError(f"invalid JSON pointer {path!r}", 400)
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str], op: str) -> tuple[Any, str]:
    node = doc
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise PatchError(f"{op} operation does not apply: doc is missing path: /{'/'.join(parts)}")
    return node, parts[-1]


def _get(doc: Any, parts: list[str], op: str) -> Any:
    if not parts:
        return doc
    node, last = _parent(doc, parts, op)
    if isinstance(node, dict) and last in node:
        return node[last]
    if isinstance(node, list) and last.isdigit() and int(last) < len(node):
        return node[int(last)]
    raise PatchError(f"{op} operation does not apply: doc is missing path: /{'/'.join(parts)}")


def _remove(doc: Any, parts: list[str], op: str) -> Any:
    node, last = _parent(doc, parts, op)
    if isinstance(node, dict) and last in node:
        return node.pop(last)
    if isinstance(node, list) and last.isdigit() and int(last) < len(node):
        return node.pop(int(last))
    raise PatchError(f"{op} operation does not apply: doc is missing path: /{'/'.join(parts)}")


def _add(doc: Any, parts: list[str], value: Any, op: str, replace: bool = False) -> Any:
    if not parts:
        return value
    node, last = _parent(doc, parts, op)
    if isinstance(node, dict):
        if replace and last not in node:
            raise PatchError(f"replace operation does not apply: doc is missing key: /{'/'.join(parts)}")
        node[last] = value
    elif isinstance(node, list):
        if last == "-" and not replace:
            node.append(value)
        elif last.isdigit() and int(last) <= len(node) - (1 if replace else 0):
            if replace:
                node[int(last)] = value
            else:
                node.insert(int(last), value)
        else:
            raise PatchError(f"{op} operation does not apply: index out of range: /{'/'.join(parts)}")
    else:
        raise PatchError(f"{op} operation does not apply: doc is missing path: /{'/'.join(parts)}")
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902: add, remove, replace, move, copy, test, applied in order to a copy of ``target``."""
    if not isinstance(operations, list):
        raise PatchError("json patch must be a list of operations", 400)
    doc = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict) or not isinstance(op.get("op"), str):
            raise PatchError(f"invalid JSON patch operation {op!r}", 400)
        kind = op["op"]
        path = _pointer(op.get("path"))
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f'{kind} operation missing "value"', 400)
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op["value"]), kind)
        elif kind == "replace":
            doc = _add(doc, path, copy.deepcopy(op["value"]), kind, replace=True)
        elif kind == "remove":
            _remove(doc, path, kind)
        elif kind in ("move", "copy"):
            source = _pointer(op.get("from"))
            value = _get(doc, source, kind)
            if kind == "move":
                _remove(doc, source, kind)
            else:
                value = copy.deepcopy(value)
            doc = _add(doc, path, value, kind)
        elif kind == "test":
            if _get(doc, path, kind) != op["value"]:
                raise PatchError(f"testing value /{'/'.join(path)} failed")
        else:
            raise PatchError(f"Unexpected kind: {kind}", 400)
    return doc


# -- strategic merge patch -------------------------------------------------------------------------

_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "imagePullSecrets": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "readinessGates": "conditionType",
    "topologySpreadConstraints": "topologyKey",
}
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


def _strategy(path: tuple[str, ...]) -> tuple[str, str | None] | None:
    """("merge", key) for keyed lists, ("set", None) for merged primitive lists, None to replace."""
    field = path[-1]
    if path == ("metadata", "finalizers"):
        return ("set", None)
    if field == "ports":
        if len(path) >= 2 and path[-2] in _CONTAINER_LISTS:
            return ("merge", "containerPort")
        if path == ("spec", "ports"):
            return ("merge", "port")
        return None
    key = _MERGE_KEYS.get(field)
    return ("merge", key) if key else None


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Apply a strategic merge patch to a built-in object (``target`` is not modified)."""
    if not isinstance(patch, dict):
        raise PatchError("strategic merge patch must be a JSON object", 400)
    return _smp_map(target if isinstance(target, dict) else {}, patch, ())


def _smp_map(target: dict[str, Any], patch: dict[str, Any], path: tuple[str, ...]) -> Any:
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    if directive is not None:
        raise PatchError(f"Unknown patch type: {directive}", 400)
    result = dict(target)
    retain = patch.get("$retainKeys")
    orders = {k.split("/", 1)[1]: v for k, v in patch.items() if k.startswith("$setElementOrder/")}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list) and isinstance(value, list):
                result[field] = [v for v in result[field] if v not in value]
            continue
        if value is None:
            result.pop(key, None)
            continue
        sub = (*path, key)
        current = result.get(key)
        if isinstance(value, dict):
            merged = _smp_map(current if isinstance(current, dict) else {}, value, sub)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _smp_list(current if isinstance(current, list) else [], value, sub, orders.get(key))
        else:
            result[key] = value
    for key, order in orders.items():
        if key not in patch and isinstance(result.get(key), list) and isinstance(order, list):
            strategy = _strategy((*path, key))
            if strategy is not None:  # an order-only directive: reorder the server's list
                result[key] = _normalize(result[key], [], order, list(result[key]), strategy[1])
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _ident(item: Any, key: str | None) -> Any:
    if key is None:
        return item
    return item.get(key) if isinstance(item, dict) else None


def _normalize(
    merged: list[Any], patch: list[Any], order: list[Any] | None, server: list[Any], key: str | None
) -> list[Any]:
    """The real server's element order after a merge (apimachinery's normalizeElementOrder).

    Items named by the patch (or by ``$setElementOrder``) come in that order, server-only items in
    the server's order, and the two are interleaved by their positions on the server; an item the
    server did not have goes before the server-only item it is compared with.
    """
    reference = order if order is not None else patch
    wanted = [_ident(v, key) for v in reference if not (isinstance(v, dict) and v.get("$patch") == "delete")]
    server_ids = [_ident(v, key) for v in server]
    patch_items = sorted(
        (v for v in merged if _ident(v, key) in wanted), key=lambda v: wanted.index(_ident(v, key))
    )
    server_only = [v for v in merged if _ident(v, key) not in wanted]
    server_only.sort(
        key=lambda v: server_ids.index(_ident(v, key)) if _ident(v, key) in server_ids else len(server_ids)
    )
    out: list[Any] = []
    i = j = 0
    while i < len(patch_items) or j < len(server_only):
        if i >= len(patch_items):
            out.append(server_only[j])
            j += 1
        elif j >= len(server_only):
            out.append(patch_items[i])
            i += 1
        else:
            left, right = _ident(patch_items[i], key), _ident(server_only[j], key)
            if (
                left in server_ids
                and right in server_ids
                and server_ids.index(left) > server_ids.index(right)
            ):
                out.append(server_only[j])
                j += 1
            else:
                out.append(patch_items[i])
                i += 1
    return out


def _smp_list(
    target: list[Any], patch: list[Any], path: tuple[str, ...], order: list[Any] | None = None
) -> list[Any]:
    strategy = _strategy(path)
    if strategy is None:
        return [copy.deepcopy(v) for v in patch if not (isinstance(v, dict) and "$patch" in v)]
    mode, key = strategy
    if mode == "set":
        result = list(target)
        for v in patch:
            if v not in result:
                result.append(v)
        return _normalize(result, patch, order, target, None)
    if any(isinstance(v, dict) and v.get("$patch") == "replace" for v in patch):
        return [copy.deepcopy(v) for v in patch if not (isinstance(v, dict) and "$patch" in v)]
    result = list(target)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise PatchError(f"map: {item!r} does not contain declared merge key: {key}", 400)
        index = next(
            (i for i, cur in enumerate(result) if isinstance(cur, dict) and cur.get(key) == item[key]),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                result.pop(index)
            continue
        if index is None:
            result.append({k: copy.deepcopy(v) for k, v in item.items() if not k.startswith("$")})
        else:
            merged = _smp_map(result[index], item, path)
            result[index] = merged
    return _normalize(result, patch, order, target, key)


def apply_patch(current: Any, body: Any, patch_type: str) -> dict[str, Any]:
    """``body`` applied to ``current`` (modified in place) as a ``"merge"``, ``"json"`` or
    ``"strategic"`` patch, with the real server's answers when it does not apply: 400 for a bad
    patch, its generic 422 for a JSON patch whose operations fail, 422 for a result that is not an
    object with metadata."""
    try:
        if patch_type == "merge":
            result = merge_patch(current, body)
        elif patch_type == "json":
            result = json_patch(current, body)
        else:
            result = strategic_merge_patch(current, body)
    except PatchError as exc:
        if exc.code == 400:
            raise bad_request(str(exc)) from None
        # the real server's generic answer to a JSON patch that does not apply
        raise ApiFailure(
            422, "Invalid", "the server rejected our request due to an error in our request", {}
        ) from None
    if not isinstance(result, dict) or not isinstance(result.get("metadata"), dict):
        raise ApiFailure(422, "Invalid", "the patched object is not a valid object")
    return result
