"""Typed values for server-side apply: schemas, field sets of objects, compare, merge, remove.

This is structured-merge-diff v4 (as vendored by kube-apiserver 1.20) in Python over plain dicts:

* :func:`builtin_type` gives the type of a built-in kind from ``smd_schema.json`` (generated from the
  real server's OpenAPI by :mod:`.gen_smd_schema`); :func:`crd_type` converts a CRD's structural
  schema (``x-kubernetes-list-type``, ``x-kubernetes-list-map-keys``, ``x-kubernetes-map-type``,
  ``x-kubernetes-preserve-unknown-fields``), with the built-in ObjectMeta as its ``metadata``.
* :func:`to_field_set` (the fields an applied configuration sets), :func:`compare` (added,
  modified and removed fields between two objects), :func:`merge` (an applied configuration over
  a live object, lists merged by their keys) and :func:`remove_items`.

Built-in objects are Go structs on the real server: fields that are not pointers (``spec``,
``status``, ``metadata``, a pod template, a container's ``resources``...) and lists without
``omitempty`` (a pod's ``containers``) exist even when a client did not send them. They matter for
which paths a write adds (a path that exists on both sides is not "added"), so :data:`_ZERO` lists
them per definition and :func:`compare` sees them where the real server would. Functions never
mutate their inputs. :class:`SmdError` reports a value the schema cannot type (such as a keyed list
item without its key).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import orjson

from .fieldpath import FIELD, INDEX, KEY, VALUE, FieldSet, PathElement, path_string

__all__ = [
    "MISSING",
    "SmdError",
    "Type",
    "builtin_type",
    "compare",
    "crd_type",
    "merge",
    "remove_items",
    "to_field_set",
]

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()

_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

# Go struct fields that are present in a zero object: value structs ({}) and lists/maps/times that
# are serialized without omitempty (None). Every field named metadata/spec/status that refers to a
# definition is a value struct, and so is every "template" except a ReplicationController's.
_ZERO: dict[str, dict[str, Any]] = {
    _META: {"creationTimestamp": None},
    "io.k8s.api.core.v1.Container": {"resources": {}},
    "io.k8s.api.core.v1.EphemeralContainer": {"resources": {}},
    "io.k8s.api.core.v1.PodSpec": {"containers": None},
    "io.k8s.api.core.v1.PersistentVolumeClaimSpec": {"resources": {}},
    "io.k8s.api.core.v1.ServiceStatus": {"loadBalancer": {}},
    "io.k8s.api.core.v1.Event": {
        "involvedObject": {},
        "source": {},
        "firstTimestamp": None,
        "lastTimestamp": None,
        "eventTime": None,
    },
    "io.k8s.api.events.v1.Event": {"regarding": {}, "deprecatedSource": {}, "eventTime": None},
    "io.k8s.api.apps.v1.DeploymentSpec": {"strategy": {}},
    "io.k8s.api.apps.v1.StatefulSetSpec": {"updateStrategy": {}},
    "io.k8s.api.apps.v1.DaemonSetSpec": {"updateStrategy": {}},
    "io.k8s.api.batch.v1beta1.CronJobSpec": {"jobTemplate": {}},
    "io.k8s.api.rbac.v1.Role": {"rules": None},
    "io.k8s.api.core.v1.LimitRangeSpec": {"limits": None},
    # lists serialized without omitempty (every other list of a built-in type is omitempty)
    "io.k8s.api.rbac.v1.PolicyRule": {"verbs": None},
    "io.k8s.api.rbac.v1beta1.PolicyRule": {"verbs": None},
    "io.k8s.api.networking.v1.HTTPIngressRuleValue": {"paths": None},
    "io.k8s.api.networking.v1beta1.HTTPIngressRuleValue": {"paths": None},
    "io.k8s.api.extensions.v1beta1.HTTPIngressRuleValue": {"paths": None},
    "io.k8s.api.core.v1.NodeSelector": {"nodeSelectorTerms": None},
    "io.k8s.api.core.v1.ContainerImage": {"names": None},
    "io.k8s.api.discovery.v1beta1.EndpointSlice": {"endpoints": None},
    "io.k8s.api.discovery.v1beta1.Endpoint": {"addresses": None},
    "io.k8s.api.admissionregistration.v1.ValidatingWebhook": {"admissionReviewVersions": None},
    "io.k8s.api.admissionregistration.v1.MutatingWebhook": {"admissionReviewVersions": None},
    "io.k8s.api.storage.v1.CSINodeSpec": {"drivers": None},
    "io.k8s.api.rbac.v1.ClusterRole": {"rules": None},
    "io.k8s.api.rbac.v1.RoleBinding": {"roleRef": {}},
    "io.k8s.api.rbac.v1.ClusterRoleBinding": {"roleRef": {}},
    "io.k8s.api.networking.v1.NetworkPolicySpec": {"podSelector": {}},
    "io.k8s.api.networking.v1.IngressStatus": {"loadBalancer": {}},
    "io.k8s.api.autoscaling.v1.HorizontalPodAutoscalerSpec": {"scaleTargetRef": {}},
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionSpec": {
        "names": {},
        "versions": None,
    },
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionStatus": {
        "acceptedNames": {},
        "storedVersions": None,
    },
}
_POINTER_TEMPLATES = {"io.k8s.api.core.v1.ReplicationControllerSpec"}


class SmdError(ValueError):
    """A value that does not fit its schema (``path``: where, as the real server prints it)."""

    def __init__(self, path: tuple[PathElement, ...], message: str) -> None:
        super().__init__(f"{path_string(path)}: {message}" if path else message)


class Type:
    """A resolved type: ``kind`` is "s" (scalar), "u" (untyped), "l" (list) or "m" (map/struct)."""

    __slots__ = ("_types", "atomic", "elem", "fields", "key_defaults", "keys", "kind", "rel", "zero")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.fields: dict[str, Any] = {}
        self.elem: Any = None
        self.atomic = False
        self.rel = "atomic"
        self.keys: list[str] = []
        self.key_defaults: dict[str, Any] = {}
        self.zero: dict[str, Any] = {}
        self._types: dict[str, Type] = {}

    def field(self, name: str) -> Type:
        """The type of field ``name`` (the element type for names that are not fields)."""
        found = self._types.get(name)
        if found is None:
            ref = self.fields.get(name)
            if ref is None:
                found = _resolve(self.elem) if self.elem is not None else _UNTYPED
            else:
                found = _resolve(ref)
            if len(self._types) < 1024:
                self._types[name] = found
        return found


_SCALAR = Type("s")
_UNTYPED = Type("u")


@functools.cache
def _data() -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(Path(__file__).with_name("smd_schema.json").read_bytes())
    return data


_resolved: dict[Any, Type] = {}


def _resolve(ref: Any) -> Type:
    """The Type of a compact type reference (cached; references are long-lived JSON values)."""
    if isinstance(ref, Type):
        return ref
    if ref == "s":
        return _SCALAR
    if ref == "u" or ref is None:
        return _UNTYPED
    key = ref if isinstance(ref, str) else id(ref)
    found = _resolved.get(key)
    if found is not None:
        return found
    name = None
    node = ref
    if isinstance(ref, str):
        name = ref[1:]
        node = _data()["definitions"].get(name, "u")
        if isinstance(node, str):
            out = _resolve(node)
            _resolved[key] = out
            return out
    if isinstance(node, list) and node[0] == "l":
        out = Type("l")
        out.elem, out.rel, out.keys = node[1], node[2], list(node[3])
        if "protocol" in out.keys:
            out.key_defaults = {"protocol": "TCP"}  # as kube-apiserver 1.20 keys container/service ports
    elif isinstance(node, list):
        out = Type("m")
        out.elem = node[1]
    else:
        out = Type("m")
        out.fields = node.get("f") or {}
        out.elem = node.get("e")
        out.atomic = bool(node.get("a"))
        if name is not None:
            zero = dict(_ZERO.get(name, {}))
            for field in ("metadata", "spec", "status") + (
                () if name in _POINTER_TEMPLATES else ("template",)
            ):
                ftype = out.fields.get(field)
                if isinstance(ftype, str) and ftype.startswith("#") and _is_struct(ftype):
                    zero.setdefault(field, {})
            out.zero = zero
    _resolved[key] = out
    return out


def _is_struct(ref: str) -> bool:
    node = _data()["definitions"].get(ref[1:])
    return isinstance(node, dict) and "f" in node


def builtin_type(api_version: str, kind: str) -> Type | None:
    """The type of a built-in ``kind`` at ``api_version`` (None when the real server has none)."""
    name = _data()["kinds"].get(f"{api_version}/{kind}")
    return None if name is None else _resolve("#" + name)


def _crd_ref(schema: Any) -> Any:
    """The Type of a structural-schema node (built eagerly: CRD types are not cached by identity)."""
    if not isinstance(schema, dict):
        return _UNTYPED
    if schema.get("x-kubernetes-int-or-string"):
        return _SCALAR
    kind = schema.get("type")
    if kind == "array":
        out = Type("l")
        out.elem = _crd_ref(schema.get("items"))
        list_type = schema.get("x-kubernetes-list-type") or "atomic"
        out.rel = list_type if list_type in ("set", "map") else "atomic"
        out.keys = list(schema.get("x-kubernetes-list-map-keys") or []) if list_type == "map" else []
        item_props = (schema.get("items") or {}).get("properties") or {}
        for key in out.keys:
            if isinstance(item_props.get(key), dict) and "default" in item_props[key]:
                out.key_defaults[key] = item_props[key]["default"]
        return out
    props = schema.get("properties")
    extra = schema.get("additionalProperties")
    if kind == "object" or isinstance(props, dict) or isinstance(extra, dict):
        out = Type("m")
        if isinstance(props, dict):
            out.fields = {k: _crd_ref(v) for k, v in props.items()}
        if isinstance(extra, dict):
            out.elem = _crd_ref(extra)
        elif schema.get("x-kubernetes-preserve-unknown-fields") or not isinstance(props, dict):
            out.elem = "u"
        out.atomic = schema.get("x-kubernetes-map-type") == "atomic"
        if schema.get("x-kubernetes-embedded-resource"):
            out.fields = {**out.fields, "apiVersion": "s", "kind": "s", "metadata": "#" + _META}
        return out
    if kind in ("string", "integer", "number", "boolean"):
        return _SCALAR
    return _UNTYPED


_crd_cache: dict[str, Type] = {}


def crd_type(schema: dict[str, Any] | None) -> Type:
    """The type of custom resources written with ``schema`` (a CRD version's openAPIV3Schema)."""
    cache_key = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS).decode() if schema else ""
    found = _crd_cache.get(cache_key)
    if found is not None:
        return found
    root = _crd_ref(schema) if schema else _UNTYPED
    out = Type("m")
    if root.kind == "m":
        out.fields, out.elem, out.atomic = dict(root.fields), root.elem, root.atomic
    else:
        out.elem = "u"
    out.fields.update(apiVersion="s", kind="s", metadata="#" + _META)
    if len(_crd_cache) > 256:
        _crd_cache.clear()
    _crd_cache[cache_key] = out
    return out


# -- typing values -------------------------------------------------------------------------------


def _atom(t: Type, value: Any) -> Type:
    if t.kind != "u":
        return t
    if isinstance(value, dict):
        return _DEDUCED_MAP
    return _UNTYPED


_DEDUCED_MAP = Type("m")
_DEDUCED_MAP.elem = "u"


def _field_type(t: Type, name: str) -> Type:
    return t.field(name)


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, _freeze(v)) for k, v in value.items())
    return value


def item_element(t: Type, index: int, item: Any, path: tuple[PathElement, ...]) -> PathElement:
    """The path element of ``item`` (at ``index``) in a list of type ``t``."""
    if t.rel == "map" and t.keys:
        if item is None:
            raise SmdError(path, f"element {index}: associative list with keys may not have a null element")
        if not isinstance(item, dict):
            raise SmdError(path, f"element {index}: associative list with keys may not have non-map elements")
        fields = []
        for key in t.keys:
            if key in item:
                fields.append((key, _freeze(item[key])))
            elif key in t.key_defaults:
                fields.append((key, _freeze(t.key_defaults[key])))
            else:
                raise SmdError(
                    path,
                    f"element {index}: associative list with keys has an element that omits key field "
                    f'"{key}" (and doesn\'t have default value)',
                )
        fields.sort()
        return (KEY, tuple(fields))
    if t.rel in ("set", "map"):
        if isinstance(item, dict):
            raise SmdError(
                path, f"element {index}: associative list without keys has an element that's a map type"
            )
        if isinstance(item, list):
            raise SmdError(path, f"element {index}: not supported: associative list with lists as elements")
        if item is None:
            raise SmdError(
                path, f"element {index}: associative list without keys has an element that's an explicit null"
            )
        return (VALUE, item)
    return (INDEX, index)


def _items(t: Type, items: list[Any], path: tuple[PathElement, ...], side: str) -> dict[PathElement, Any]:
    out: dict[PathElement, Any] = {}
    for i, item in enumerate(items):
        pe = item_element(t, i, item, path)
        if pe in out:
            prefix = f"{side}: " if side else ""
            raise SmdError(path, f"{prefix}duplicate entries for key {path_string((pe,))}")
        out[pe] = item
    return out


# -- field sets ----------------------------------------------------------------------------------


def to_field_set(value: Any, t: Type) -> FieldSet:
    """Every leaf field and list/map item ``value`` sets (what an applier comes to own)."""
    out = FieldSet()
    _tfs(value, t, (), out)
    return out


def _tfs(value: Any, t: Type, path: tuple[PathElement, ...], out: FieldSet) -> None:
    t = _atom(t, value)
    if t.kind == "l":
        if t.rel == "atomic" or not isinstance(value, list):
            if t.rel == "atomic":
                out.insert(path)
            return
        for pe, item in _items(t, value, path, "").items():
            sub = (*path, pe)
            _tfs(item, _resolve(t.elem), sub, out)
            out.insert(sub)
        return
    if t.kind == "m":
        if t.atomic:
            out.insert(path)
            return
        if not isinstance(value, dict):
            return
        for key, item in value.items():
            sub = (*path, (FIELD, key))
            _tfs(item, _field_type(t, key), sub, out)
            if key not in t.fields:
                out.insert(sub)
        return
    out.insert(path)


class Comparison:
    """Fields a write added, modified and removed (structured-merge-diff's Comparison)."""

    __slots__ = ("added", "modified", "removed")

    def __init__(self) -> None:
        self.added = FieldSet()
        self.modified = FieldSet()
        self.removed = FieldSet()

    def same(self) -> bool:
        return self.added.empty() and self.modified.empty() and self.removed.empty()


def compare(lhs: Any, rhs: Any, t: Type, typed: bool = True, skip_managed: bool = True) -> Comparison:
    """What changes from ``lhs`` to ``rhs``; ``typed``: both are built-in objects (Go structs)."""
    out = Comparison()
    _Compare(out, typed, skip_managed).walk(lhs, rhs, t, ())
    return out


class _Compare:
    def __init__(self, out: Comparison, typed: bool, skip_managed: bool) -> None:
        self.out = out
        self.typed = typed
        self.skip_managed = skip_managed

    def leaf(self, lhs: Any, rhs: Any, path: tuple[PathElement, ...]) -> None:
        if lhs is MISSING:
            self.out.added.insert(path)
        elif rhs is MISSING:
            self.out.removed.insert(path)
        elif lhs != rhs or (type(lhs) is not type(rhs) and not _same_number(lhs, rhs)):
            self.out.modified.insert(path)

    def post(self, lhs: Any, rhs: Any, path: tuple[PathElement, ...]) -> None:
        if lhs is MISSING:
            self.out.added.insert(path)
        elif rhs is MISSING:
            self.out.removed.insert(path)

    def walk(self, lhs: Any, rhs: Any, t: Type, path: tuple[PathElement, ...]) -> None:
        t = _atom(t, rhs if rhs is not MISSING else lhs)
        if t.kind == "l":
            left = lhs if isinstance(lhs, list) else None
            right = rhs if isinstance(rhs, list) else None
            if t.rel == "atomic" or (not left and not right):
                self.leaf(lhs, rhs, path)
                return
            elem = _resolve(t.elem)
            litems = _items(t, left or [], path, "lhs")
            ritems = _items(t, right or [], path, "rhs")
            for pe, item in litems.items():
                self.walk(item, ritems.get(pe, MISSING), elem, (*path, pe))
            for pe, item in ritems.items():
                if pe not in litems:
                    self.walk(MISSING, item, elem, (*path, pe))
            self.post(lhs, rhs, path)
            return
        if t.kind == "m":
            lmap = lhs if isinstance(lhs, dict) else None
            rmap = rhs if isinstance(rhs, dict) else None
            zero = t.zero if self.typed else {}
            if t.atomic or (not lmap and not rmap and not (zero and (lmap is not None or rmap is not None))):
                self.leaf(lhs, rhs, path)
                return
            keys = dict.fromkeys(lmap or ())
            keys.update(dict.fromkeys(rmap or ()))
            if zero:
                keys.update(dict.fromkeys(zero))
            skip = self.skip_managed and len(path) == 1 and path[0] == (FIELD, "metadata")
            for key in keys:
                if skip and key == "managedFields":
                    continue
                lv = lmap.get(key, MISSING) if lmap is not None else MISSING
                rv = rmap.get(key, MISSING) if rmap is not None else MISSING
                if zero and key in zero:
                    if lv is MISSING and lmap is not None:
                        lv = zero[key]
                    if rv is MISSING and rmap is not None:
                        rv = zero[key]
                if lv is MISSING and rv is MISSING:
                    continue
                self.walk(lv, rv, _field_type(t, key), (*path, (FIELD, key)))
            self.post(lhs, rhs, path)
            return
        self.leaf(lhs, rhs, path)


def _same_number(a: Any, b: Any) -> bool:
    return (
        isinstance(a, (int, float))
        and isinstance(b, (int, float))
        and not isinstance(a, bool)
        and not isinstance(b, bool)
        and a == b
    )


# -- merge and remove ----------------------------------------------------------------------------


def merge(lhs: Any, rhs: Any, t: Type) -> Any:
    """``rhs`` (an applied configuration) merged over ``lhs``: rhs wins for leaves, lists merge by key."""
    return _merge(lhs, rhs, t, ())


def _merge(lhs: Any, rhs: Any, t: Type, path: tuple[PathElement, ...]) -> Any:
    t = _atom(t, rhs if rhs is not MISSING else lhs)
    if t.kind == "l":
        left = lhs if isinstance(lhs, list) else None
        right = rhs if isinstance(rhs, list) else None
        if t.rel == "atomic" or (not left and not right):
            return rhs if rhs is not MISSING else lhs
        elem = _resolve(t.elem)
        litems = _items(t, left or [], path, "lhs")
        ritems = _items(t, right or [], path, "rhs")
        out = []
        for pe, item in litems.items():
            merged = _merge(item, ritems.get(pe, MISSING), elem, (*path, pe))
            if merged is not MISSING:
                out.append(merged)
        for pe, item in ritems.items():
            if pe not in litems:
                merged = _merge(MISSING, item, elem, (*path, pe))
                if merged is not MISSING:
                    out.append(merged)
        return out if out else MISSING
    if t.kind == "m":
        lmap = lhs if isinstance(lhs, dict) else None
        rmap = rhs if isinstance(rhs, dict) else None
        if t.atomic or (not lmap and not rmap):
            return rhs if rhs is not MISSING else lhs
        out_map: dict[str, Any] = {}
        for key in dict.fromkeys([*(lmap or ()), *(rmap or ())]):
            lv = lmap.get(key, MISSING) if lmap is not None else MISSING
            rv = rmap.get(key, MISSING) if rmap is not None else MISSING
            merged = _merge(lv, rv, _field_type(t, key), (*path, (FIELD, key)))
            if merged is not MISSING:
                out_map[key] = merged
        return out_map if out_map else MISSING
    return rhs if rhs is not MISSING else lhs


def remove_items(value: Any, remove: FieldSet, t: Type) -> Any:
    """``value`` without the fields and items in ``remove``; containers it empties disappear."""
    if remove.empty():
        return value
    return _remove(value, remove, t, ())


def _remove(value: Any, remove: FieldSet, t: Type, path: tuple[PathElement, ...]) -> Any:
    # like structured-merge-diff's removingWalker, a list or map that is (or becomes) empty turns
    # into null: built-in objects lose it in the Go round trip, custom resources fail validation
    t = _atom(t, value)
    if t.kind == "l":
        if not isinstance(value, list):
            return value
        if not value or t.rel == "atomic":
            return None
        elem = _resolve(t.elem)
        out = []
        for i, item in enumerate(value):
            pe = item_element(t, i, item, path)
            if pe in remove.members:
                continue
            sub = remove.children.get(pe)
            out.append(_remove(item, sub, elem, (*path, pe)) if sub is not None else item)
        return out if out else None
    if t.kind == "m":
        if not isinstance(value, dict):
            return value
        if not value or t.atomic:
            return None
        out_map: dict[str, Any] = {}
        for key, item in value.items():
            pe = (FIELD, key)
            if pe in remove.members:
                continue
            sub = remove.children.get(pe)
            if sub is not None:
                item = _remove(item, sub, _field_type(t, key), (*path, pe))
            out_map[key] = item
        return out_map if out_map else None
    return value


def drop_empty(value: Any, t: Type) -> Any:
    """``value`` as a Go struct would serialize it: empty maps and lists of omitempty fields removed.

    Returns ``value`` itself when nothing is dropped (never mutates it); for built-in objects only.
    """
    t = _atom(t, value)
    if t.kind == "m" and isinstance(value, dict) and not t.atomic:
        out: dict[str, Any] | None = None
        for key, item in value.items():
            ft = t.field(key)
            new = item
            if (
                (item is None or (isinstance(item, (dict, list)) and not item))
                and key in t.fields
                and not _kept_empty(t, key, ft, item)
            ):
                new = MISSING
            elif isinstance(item, (dict, list)) and item:
                new = drop_empty(item, ft)
            if new is not item:
                if out is None:
                    out = dict(value)
                if new is MISSING:
                    del out[key]
                else:
                    out[key] = new
        return value if out is None else out
    if t.kind == "l" and isinstance(value, list) and t.rel != "atomic":
        elem = _resolve(t.elem)
        items = [drop_empty(item, elem) if isinstance(item, (dict, list)) else item for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value


def _kept_empty(t: Type, key: str, ft: Type, item: Any) -> bool:
    """Whether an empty value (or null) of field ``key`` survives a Go round trip.

    Maps and lists of built-in types are ``omitempty`` (labels, data, env, finalizers...) except
    the few listed in ``_ZERO`` (a pod's containers, a Role's rules, a LimitRange's limits...).
    """
    if key in t.zero:  # value structs, and fields serialized without omitempty
        return True
    if ft.kind == "m":
        return bool(ft.fields) and item is not None  # a pointer to a struct: {} stays {}
    if ft.kind == "l":  # omitempty, unless listed in _ZERO
        return False
    return True


def reconcile(fields: FieldSet, live: Any, t: Type) -> FieldSet:
    """``fields`` brought in line with the schema (structured-merge-diff's ReconcileFieldSetWithSchema).

    A manager that owns a granular map, struct or keyed list as a leaf (as when it was atomic, or
    for an empty map) comes to own everything the live object has under it; a manager that owns
    fields inside something atomic owns the atomic thing instead. Returns ``fields`` when nothing
    changes.
    """
    add: list[tuple[PathElement, ...]] = []
    remove: list[tuple[PathElement, ...]] = []
    live_set: list[FieldSet] = []

    def granular(path: tuple[PathElement, ...]) -> None:
        if not live_set:
            live_set.append(to_field_set(live, t))
        node: FieldSet | None = live_set[0]
        for pe in path:
            node = node.children.get(pe) if node is not None else None
        if node is not None:
            add.append(path)
            for sub in node.paths():
                add.append((*path, *sub))

    def walk(node: FieldSet | None, t: Type, path: tuple[PathElement, ...], is_atomic: bool) -> None:
        if t.kind == "l":
            if not is_atomic and t.rel == "atomic":
                remove.append(path)
                add.append(path)
                return
            if is_atomic and t.rel != "atomic":
                granular(path)
            elem = _resolve(t.elem)
            visit(node, lambda pe: elem, path)
        elif t.kind == "m":
            if not is_atomic and t.atomic:
                if node is not None and not node.empty():
                    remove.append(path)
                    add.append(path)
                return
            if is_atomic and not t.atomic:
                granular(path)

            def field_type(pe: PathElement) -> Type | None:
                if pe[0] != FIELD:
                    return None
                if pe[1] in t.fields or t.elem is not None:
                    return t.field(pe[1])
                return None

            visit(node, field_type, path)

    def visit(node: FieldSet | None, type_of: Any, path: tuple[PathElement, ...]) -> None:
        if node is None:
            return
        for pe, child in node.children.items():
            if pe in node.members:
                continue
            sub = type_of(pe)
            if sub is not None:
                walk(child, sub, (*path, pe), False)
        for pe in node.members:
            sub = type_of(pe)
            if sub is not None:
                member_child = node.children.get(pe)
                walk(member_child, sub, (*path, pe), member_child is None)

    walk(fields, t, (), False)
    if not add and not remove:
        return fields
    out = fields
    if remove:
        removed = FieldSet()
        for path in remove:
            removed.insert(path)
        out = out.recursive_difference(removed)
    added = FieldSet()
    for path in add:
        added.insert(path)
    return out.union(added)


def changed_from_zero(zero: Any, new: Any, t: Type, typed: bool) -> FieldSet:
    """``compare(zero, new)``'s added and modified fields, for a create (a faster equivalent).

    ``zero`` is the empty object of the type, so nothing can be removed; the set is built in place
    instead of path by path.
    """
    out = FieldSet()
    _from_zero(zero, new, t, typed, out, None, ())
    return out


def _from_zero(
    lhs: Any,
    rhs: Any,
    t: Type,
    typed: bool,
    parent: FieldSet,
    pe: PathElement | None,
    path: tuple[PathElement, ...],
) -> None:
    t = _atom(t, rhs)
    if t.kind == "l":
        right = rhs if isinstance(rhs, list) else None
        left = lhs if isinstance(lhs, list) else None
        if t.rel == "atomic" or (not left and not right):
            if pe is not None and (lhs is MISSING or lhs != rhs):
                parent.members.add(pe)
            return
        child = FieldSet()
        elem = _resolve(t.elem)
        litems = _items(t, left or [], path, "lhs")
        for item_pe, item in _items(t, right or [], path, "rhs").items():
            _from_zero(litems.get(item_pe, MISSING), item, elem, typed, child, item_pe, (*path, item_pe))
        if pe is not None:
            if child.members or child.children:
                parent.children[pe] = child
            if lhs is MISSING:
                parent.members.add(pe)
        return
    if t.kind == "m":
        lmap = lhs if isinstance(lhs, dict) else None
        rmap = rhs if isinstance(rhs, dict) else None
        zero = t.zero if typed else {}
        if t.atomic or (not lmap and not rmap and not (zero and (lmap is not None or rmap is not None))):
            if pe is not None and (lhs is MISSING or lhs != rhs):
                parent.members.add(pe)
            return
        child = FieldSet()
        keys = rmap.keys() if rmap is not None else ()
        for key in (*keys, *(k for k in zero if rmap is None or k not in rmap)):
            lv = lmap.get(key, MISSING) if lmap is not None else MISSING
            rv = rmap.get(key, MISSING) if rmap is not None else MISSING
            if zero and key in zero:
                if lv is MISSING and lmap is not None:
                    lv = zero[key]
                if rv is MISSING and rmap is not None:
                    rv = zero[key]
            if rv is MISSING or (lv is not MISSING and lv is rv):
                continue
            key_pe = (FIELD, key)
            _from_zero(lv, rv, t.field(key), typed, child, key_pe, (*path, key_pe))
        if pe is not None:
            if child.members or child.children:
                parent.children[pe] = child
            if lhs is MISSING:
                parent.members.add(pe)
        else:
            parent.members |= child.members
            parent.children.update(child.children)
        return
    if pe is not None and (lhs is MISSING or lhs != rhs):
        parent.members.add(pe)
