"""The ``scale`` subresource: an autoscaling/v1 Scale view of an object's replica count.

Served for Deployments and for custom resources whose CRD declares ``subresources.scale``
(``specReplicasPath``, ``statusReplicasPath``, optional ``labelSelectorPath``). Reading builds the
Scale from the stored object; writing (PUT or any patch of the Scale) changes only the
spec replicas of the object, through the registry's ordinary update (generation and events).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from pycontroller import labels

from . import patch as patches
from .status import bad_request, conflict, invalid, not_found

if TYPE_CHECKING:
    from .registry import Registry
    from .storage import Stored, Table

__all__ = ["get_for_scale", "read_scale", "write_scale"]


def _get_path(obj: Any, path: str) -> Any:
    node = obj
    for part in path.strip(".").split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _set_path(obj: dict[str, Any], path: str, value: Any) -> None:
    parts = path.strip(".").split(".")
    node = obj
    for part in parts[:-1]:
        child = node.get(part)
        child = dict(child) if isinstance(child, dict) else {}
        node[part] = child
        node = child
    node[parts[-1]] = value


def _selector(table: Table, obj: dict[str, Any]) -> str:
    paths = table.rdef.scale
    assert paths is not None
    if paths[2]:
        value = _get_path(obj, paths[2])
        return value if isinstance(value, str) else ""
    selector = (obj.get("spec") or {}).get("selector")
    if table.rdef.key == ("", "replicationcontrollers") and isinstance(selector, dict):
        return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))  # a plain map there
    try:
        return str(labels.selector_from_label_selector(selector)) if isinstance(selector, dict) else ""
    except ValueError:
        return ""


def get_for_scale(registry: Registry, table: Table, namespace: str | None, name: str) -> Stored:
    """The object behind a Scale; a missing one is 404 for ``<plural>/scale``, like the real server."""
    stored = table.objects.get((namespace or "", name))
    if stored is None:
        raise not_found(table.rdef.group, f"{table.rdef.plural}/scale", name)
    return stored


def read_scale(table: Table, stored: Stored) -> dict[str, Any]:
    """The Scale of ``stored``."""
    paths = table.rdef.scale
    assert paths is not None
    obj = stored.obj
    meta = obj["metadata"]
    scale_meta = {
        k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta
    }
    status: dict[str, Any] = {"replicas": _get_path(obj, paths[1]) or 0}
    selector = _selector(table, obj)
    if selector:
        status["selector"] = selector
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": scale_meta,
        "spec": {"replicas": _get_path(obj, paths[0]) or 0},
        "status": status,
    }


def write_scale(
    registry: Registry,
    table: Table,
    namespace: str | None,
    name: str,
    body: Any,
    patch_type: str | None = None,
) -> dict[str, Any]:
    """Apply a Scale (PUT, ``patch_type`` None) or a patch of it; returns the new Scale."""
    rdef = table.rdef
    paths = rdef.scale
    assert paths is not None
    old = get_for_scale(registry, table, namespace, name)
    current = read_scale(table, old)
    if patch_type is None:
        scale = body
    else:
        try:
            if patch_type == "merge":
                scale = patches.merge_patch(current, body)
            elif patch_type == "json":
                scale = patches.json_patch(current, body)
            else:
                scale = patches.strategic_merge_patch(current, body)
        except patches.PatchError as exc:
            raise bad_request(str(exc)) from None
    if not isinstance(scale, dict):
        raise bad_request("the object provided is unrecognized (must be of type Scale)")
    replicas = (scale.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or replicas < 0:
        raise invalid(
            "autoscaling",
            "Scale",
            name,
            [
                (
                    "FieldValueInvalid",
                    "spec.replicas",
                    f"Invalid value: {replicas}: must be greater than or equal to 0",
                )
            ],
        )
    want_rv = (scale.get("metadata") or {}).get("resourceVersion")
    if want_rv and want_rv != old.obj["metadata"]["resourceVersion"]:
        raise conflict(rdef.group, rdef.plural, name)
    obj = copy.deepcopy(old.obj)
    _set_path(obj, paths[0], replicas)
    registry.fields.keep(old.obj)  # 1.20: scale writes leave managedFields as they were
    stored = registry._write_update(table, old, obj, None)
    return read_scale(table, stored)
