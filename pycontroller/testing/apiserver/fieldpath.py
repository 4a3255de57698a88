"""Field sets as server-side apply tracks them (structured-merge-diff's ``fieldpath``), and FieldsV1.

A path is a tuple of path elements; an element is one of

* ``(0, name)``: a field of a map (``f:name`` in FieldsV1, ``.name`` in messages),
* ``(1, ((key, value), ...))``: an item of a list of maps, by its key fields sorted by name
  (``k:{"name":"web"}``, ``[name="web"]``),
* ``(2, value)``: an item of a set list, by its scalar value (``v:"a"``, ``[="a"]``),
* ``(3, index)``: an item of an atomic-less list without keys, by position (``i:0``, ``[0]``).

A :class:`FieldSet` is a trie: ``members`` are the elements that are in the set themselves,
``children`` the elements under which deeper paths are in the set (never an empty set). Sets are
built with :meth:`FieldSet.insert` and are immutable afterwards: the algebra shares subtrees. The FieldsV1 encoding is the
real server's byte for byte: elements sorted (fields by name, then keys, values, indexes), a member
that also has children marked with ``".": {}``. Everything here is synchronous and pure.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

__all__ = [
    "FIELD",
    "INDEX",
    "KEY",
    "VALUE",
    "FieldSet",
    "PathElement",
    "element_from_string",
    "element_to_string",
    "path_string",
]

FIELD, KEY, VALUE, INDEX = 0, 1, 2, 3
PathElement = tuple[int, Any]


def _value_order(value: Any) -> tuple[Any, ...]:
    """structured-merge-diff's value order: numbers < strings < booleans < lists < maps < null."""
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, (int, float)):
        return (0, float(value))
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, (list, tuple)):
        return (3, tuple(_value_order(v) for v in value))
    if isinstance(value, dict):
        return (4, tuple((k, _value_order(v)) for k, v in sorted(value.items())))
    return (5,)


def _order(pe: PathElement) -> tuple[Any, ...]:
    kind, data = pe
    if kind == KEY:
        return (KEY, tuple((name, _value_order(value)) for name, value in data))
    if kind == VALUE:
        return (VALUE, _value_order(data))
    return pe


def _sorted(elements: Any) -> list[PathElement]:
    items = list(elements)
    if len(items) < 2:
        return items
    if all(pe[0] != VALUE for pe in items):
        try:  # fields and keys of one scalar type order as plain tuples do (kinds differ first)
            return sorted(items)
        except TypeError:
            pass
    return sorted(items, key=_order)


def _json(value: Any) -> str:
    text: str = orjson.dumps(value).decode()
    return text


def element_to_string(pe: PathElement) -> str:
    """The FieldsV1 key of one element: ``f:name``, ``k:{...}``, ``v:value`` or ``i:index``."""
    kind, data = pe
    if kind == FIELD:
        return "f:" + str(data)
    if kind == KEY:
        return "k:{" + ",".join(f"{_json(name)}:{_json(value)}" for name, value in data) + "}"
    if kind == VALUE:
        return "v:" + _json(data)
    return f"i:{data}"


def element_from_string(text: str) -> PathElement:
    """Parse one FieldsV1 key; raises ValueError for an unknown or malformed element."""
    prefix, sep, rest = text.partition(":")
    if not sep:
        raise ValueError(f"invalid path element {text!r}")
    if prefix == "f":
        return (FIELD, rest)
    try:
        if prefix == "k":
            fields = orjson.loads(rest)
            if not isinstance(fields, dict):
                raise ValueError(f"invalid key {text!r}")
            return (KEY, tuple((k, _frozen(v)) for k, v in fields.items()))
        if prefix == "v":
            return (VALUE, _frozen(orjson.loads(rest)))
        if prefix == "i":
            return (INDEX, int(rest))
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"invalid path element {text!r}: {exc}") from None
    raise ValueError(f"unknown path element type {prefix!r}")


def _frozen(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, _frozen(v)) for k, v in value.items())
    return value


def _shown(value: Any) -> str:
    """Go's value.ToString: strings quoted, numbers and booleans bare."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _json(value)
    if isinstance(value, tuple):
        return "[" + ",".join(_shown(v) for v in value) + "]"
    return str(value)


def path_string(path: tuple[PathElement, ...]) -> str:
    """A path as the real server prints it in conflicts: ``.spec.containers[name="web"].image``."""
    out = []
    for kind, data in path:
        if kind == FIELD:
            out.append("." + data)
        elif kind == KEY:
            out.append("[" + ",".join(f"{name}={_shown(value)}" for name, value in data) + "]")
        elif kind == VALUE:
            out.append(f"[={_shown(data)}]")
        else:
            out.append(f"[{data}]")
    return "".join(out)


class FieldSet:
    """A set of field paths (a trie); built by :meth:`insert`, then treated as immutable."""

    __slots__ = ("children", "members")

    def __init__(self) -> None:
        self.members: set[PathElement] = set()
        self.children: dict[PathElement, FieldSet] = {}

    # -- building ---------------------------------------------------------------------------------

    def insert(self, path: tuple[PathElement, ...]) -> None:
        """Add ``path`` (in place; the empty path is ignored, as by the real implementation)."""
        if not path:
            return
        node = self
        for pe in path[:-1]:
            child = node.children.get(pe)
            if child is None:
                child = node.children[pe] = FieldSet()
            node = child
        node.members.add(path[-1])

    def copy(self) -> FieldSet:
        out = FieldSet()
        out.members = set(self.members)
        out.children = {pe: c.copy() for pe, c in self.children.items()}
        return out

    # -- queries ----------------------------------------------------------------------------------

    def empty(self) -> bool:
        return not self.members and not self.children  # children are never empty sets

    def has(self, path: tuple[PathElement, ...]) -> bool:
        node: FieldSet | None = self
        for pe in path[:-1]:
            node = node.children.get(pe) if node is not None else None
        return node is not None and bool(path) and path[-1] in node.members

    def with_prefix(self, pe: PathElement) -> FieldSet:
        return self.children.get(pe) or FieldSet()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldSet):
            return NotImplemented
        return self.members == other.members and self.children == other.children

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"FieldSet({self.to_fields()!r})"

    def paths(self) -> Iterator[tuple[PathElement, ...]]:
        """Every member path: this level's members first (sorted), then each child's, like Iterate."""
        yield from self._paths(())

    def _paths(self, prefix: tuple[PathElement, ...]) -> Iterator[tuple[PathElement, ...]]:
        for pe in _sorted(self.members):
            yield (*prefix, pe)
        for pe in _sorted(self.children):
            yield from self.children[pe]._paths((*prefix, pe))

    def go_paths(self) -> list[tuple[PathElement, ...]]:
        """Every member path as structured-merge-diff v4.0.2 hands them out (kube-apiserver 1.20).

        Its Iterate appends to a shared prefix slice, so a path handed out early can be overwritten
        by a later sibling's element when the slice had spare capacity; conflict messages of the
        real server show these paths. This replays Go's slice growth to report the same ones.
        """
        found: list[_GoSlice] = []
        self._go_iterate(_GoSlice([], 0, 0), found)
        return [tuple(s.array[: s.length]) for s in found]

    def _go_iterate(self, prefix: _GoSlice, found: list[_GoSlice]) -> None:
        for pe in _sorted(self.members):
            found.append(prefix.append(pe))
        for pe in _sorted(self.children):
            self.children[pe]._go_iterate(prefix.append(pe), found)

    # -- algebra ----------------------------------------------------------------------------------

    def union(self, other: FieldSet) -> FieldSet:
        if other.empty():
            return self
        if self.empty():
            return other
        out = FieldSet()
        out.members = self.members | other.members
        out.children = dict(self.children)
        for pe, b in other.children.items():
            a = out.children.get(pe)
            out.children[pe] = b if a is None else a.union(b)
        return out

    def intersection(self, other: FieldSet) -> FieldSet:
        out = FieldSet()
        out.members = self.members & other.members
        for pe, a in self.children.items():
            b = other.children.get(pe)
            if b is not None:
                both = a.intersection(b)
                if not both.empty():
                    out.children[pe] = both
        return out

    def difference(self, other: FieldSet) -> FieldSet:
        """Members of self not in other; subtrees are subtracted path by path."""
        if other.empty() or self.empty():
            return self
        out = FieldSet()
        out.members = self.members - other.members
        for pe, a in self.children.items():
            b = other.children.get(pe)
            if b is None:
                out.children[pe] = a
            else:
                rest = a.difference(b)
                if not rest.empty():
                    out.children[pe] = rest
        return out

    def recursive_difference(self, other: FieldSet) -> FieldSet:
        """Like :meth:`difference`, but a member of ``other`` also removes everything under it."""
        if other.empty() or self.empty():
            return self
        out = FieldSet()
        out.members = self.members - other.members
        for pe, a in self.children.items():
            if pe in other.members:
                continue
            b = other.children.get(pe)
            if b is None:
                out.children[pe] = a
            else:
                rest = a.recursive_difference(b)
                if not rest.empty():
                    out.children[pe] = rest
        return out

    # -- FieldsV1 ---------------------------------------------------------------------------------

    def to_fields(self) -> dict[str, Any]:
        """The FieldsV1 document (a dict whose key order is the real server's)."""
        return self._emit(False)

    def _emit(self, include_self: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if include_self and (self.members or self.children):
            out["."] = {}
        members, children = self.members, self.children
        for pe in _sorted(members | children.keys() if children else members):
            kind, data = pe
            # fields are most elements: their key is built here, not through element_to_string
            key = "f:" + data if kind == FIELD and type(data) is str else element_to_string(pe)
            child = children.get(pe)
            if child is None or child.empty():
                out[key] = {}
            else:
                out[key] = child._emit(pe in members)
        return out

    @classmethod
    def from_fields(cls, fields: Any) -> FieldSet:
        """Parse a FieldsV1 document; raises ValueError when it is not one."""
        if not isinstance(fields, dict):
            raise ValueError("FieldsV1 must be a JSON object")
        found, _ = _read(fields)
        return found or cls()


class _GoSlice:
    """A Go slice of 32-byte path elements: appends share the backing array while it has room."""

    __slots__ = ("array", "capacity", "length")

    # Go's malloc size classes (bytes) up to 8 KiB: growslice rounds a new backing array up to one
    _CLASSES = (
        32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288, 320, 352, 384,
        416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792, 2048,
        2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192,
    )  # fmt: skip

    def __init__(self, array: list[Any], length: int, capacity: int) -> None:
        self.array = array
        self.length = length
        self.capacity = capacity

    def append(self, pe: PathElement) -> _GoSlice:
        if self.length < self.capacity:
            self.array[self.length] = pe
            return _GoSlice(self.array, self.length + 1, self.capacity)
        need = self.length + 1
        capacity = max(need, 2 * self.capacity)
        size = capacity * 32
        capacity = next((c for c in self._CLASSES if c >= size), size) // 32
        array = self.array[: self.length] + [None] * (capacity - self.length)
        array[self.length] = pe
        return _GoSlice(array, need, capacity)


def _read(fields: dict[str, Any]) -> tuple[FieldSet | None, bool]:
    children: FieldSet | None = None
    is_member = False
    for key, sub in fields.items():
        if key == ".":
            is_member = True
            continue
        pe = element_from_string(key)
        if not isinstance(sub, dict):
            raise ValueError(f"FieldsV1 entry {key!r} must be a JSON object")
        grand, child_member = _read(sub)
        if child_member:
            if children is None:
                children = FieldSet()
            children.members.add(pe)
        if grand is not None:
            if children is None:
                children = FieldSet()
            children.children[pe] = grand
    if children is None:
        is_member = True
    return children, is_member


def set_from_paths(paths: list[tuple[PathElement, ...]]) -> FieldSet:
    out = FieldSet()
    for path in paths:
        out.insert(path)
    return out
