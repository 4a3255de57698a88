"""Predicates: filters deciding which watch events reach a controller's handler.

A :class:`Predicate` answers four questions, each ``True`` to let the event through:
``create(obj)``, ``update(old, new)``, ``delete(obj)`` and ``generic(obj)``. The built-ins follow
controller-runtime:

* :data:`generation_changed`: updates only when ``metadata.generation`` changed (spec edits, not
  status writes); creates and deletes pass.
* :data:`resource_version_changed`: updates only when ``metadata.resourceVersion`` changed (drops
  periodic resyncs, which deliver the same object twice).
* :data:`labels_changed` / :data:`annotations_changed`: updates only when those maps changed.
* :func:`label_selector`: every event only when the object's labels match (for updates, the new object).

Combine with :func:`and_`, :func:`or_` and :func:`not_`, or build one from functions with
:class:`Predicate` ``(create=..., update=..., delete=..., generic=...)``. Predicates must not mutate
objects (they are the cache's, shared). None of them suspends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "Predicate",
    "and_",
    "annotations_changed",
    "generation_changed",
    "label_selector",
    "labels_changed",
    "not_",
    "or_",
    "resource_version_changed",
]

ObjFn = Callable[[Any], bool]
UpdateFn = Callable[[Any, Any], bool]


def _meta(obj: Any) -> Mapping[str, Any]:
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    return meta if isinstance(meta, Mapping) else {}


class Predicate:
    """An event filter; any function left out lets its events through."""

    __slots__ = ("_create", "_delete", "_generic", "_name", "_update")

    def __init__(
        self,
        *,
        create: ObjFn | None = None,
        update: UpdateFn | None = None,
        delete: ObjFn | None = None,
        generic: ObjFn | None = None,
        name: str = "Predicate",
    ) -> None:
        for label, fn in (("create", create), ("update", update), ("delete", delete), ("generic", generic)):
            if fn is not None and not callable(fn):
                raise TypeError(f"Predicate {label}= must be callable, got {type(fn).__name__}")
        self._create = create
        self._update = update
        self._delete = delete
        self._generic = generic
        self._name = name

    def create(self, obj: Any) -> bool:
        return True if self._create is None else bool(self._create(obj))

    def update(self, old: Any, new: Any) -> bool:
        return True if self._update is None else bool(self._update(old, new))

    def delete(self, obj: Any) -> bool:
        return True if self._delete is None else bool(self._delete(obj))

    def generic(self, obj: Any) -> bool:
        return True if self._generic is None else bool(self._generic(obj))

    def __repr__(self) -> str:
        return self._name


def _field_changed(field: str) -> UpdateFn:
    def changed(old: Any, new: Any) -> bool:
        if old is None or new is None:
            return False
        return _meta(old).get(field) != _meta(new).get(field)

    return changed


def _map_changed(field: str) -> UpdateFn:
    def changed(old: Any, new: Any) -> bool:
        if old is None or new is None:
            return False
        return (_meta(old).get(field) or {}) != (_meta(new).get(field) or {})

    return changed


generation_changed = Predicate(update=_field_changed("generation"), name="generation_changed")
"""Pass updates whose ``metadata.generation`` changed (controller-runtime's GenerationChangedPredicate)."""

resource_version_changed = Predicate(
    update=_field_changed("resourceVersion"), name="resource_version_changed"
)
"""Pass updates whose ``metadata.resourceVersion`` changed (drops resyncs)."""

labels_changed = Predicate(update=_map_changed("labels"), name="labels_changed")
"""Pass updates whose ``metadata.labels`` changed."""

annotations_changed = Predicate(update=_map_changed("annotations"), name="annotations_changed")
"""Pass updates whose ``metadata.annotations`` changed."""


def label_selector(selector: str | Mapping[str, str]) -> Predicate:
    """Pass every event whose object's labels match ``selector``.

    ``selector`` is a Kubernetes label selector string (``"app=web,tier in (a,b),!legacy"``, parsed by
    :mod:`pycontroller.labels`) or a mapping of required label values. An unparsable string raises
    ``ValueError`` here, at construction.
    """
    matches: Callable[[Mapping[str, str]], bool]
    if isinstance(selector, Mapping):
        required = {str(k): str(v) for k, v in selector.items()}

        def matches(labels: Mapping[str, str]) -> bool:
            return all(labels.get(k) == v for k, v in required.items())

    elif isinstance(selector, str):
        from pycontroller import labels as _labels

        parsed = _labels.parse(selector)
        matches = parsed.matches
    else:
        raise TypeError(f"label_selector takes a selector string or a mapping, got {type(selector).__name__}")

    def check(obj: Any) -> bool:
        return matches(_meta(obj).get("labels") or {})

    return Predicate(
        create=check,
        update=lambda old, new: check(new),
        delete=check,
        generic=check,
        name=f"label_selector({selector!r})",
    )


def _check_all(preds: tuple[Predicate, ...], fname: str) -> None:
    for p in preds:
        if not isinstance(p, Predicate):
            raise TypeError(f"{fname}() takes Predicate objects, got {type(p).__name__}")


def and_(*predicates: Predicate) -> Predicate:
    """Pass an event only when every predicate passes it (no predicates: pass everything)."""
    _check_all(predicates, "and_")
    return Predicate(
        create=lambda o: all(p.create(o) for p in predicates),
        update=lambda a, b: all(p.update(a, b) for p in predicates),
        delete=lambda o: all(p.delete(o) for p in predicates),
        generic=lambda o: all(p.generic(o) for p in predicates),
        name=f"and_{predicates!r}",
    )


def or_(*predicates: Predicate) -> Predicate:
    """Pass an event when any predicate passes it (no predicates: pass nothing)."""
    _check_all(predicates, "or_")
    return Predicate(
        create=lambda o: any(p.create(o) for p in predicates),
        update=lambda a, b: any(p.update(a, b) for p in predicates),
        delete=lambda o: any(p.delete(o) for p in predicates),
        generic=lambda o: any(p.generic(o) for p in predicates),
        name=f"or_{predicates!r}",
    )


def not_(predicate: Predicate) -> Predicate:
    """Pass exactly the events ``predicate`` rejects."""
    _check_all((predicate,), "not_")
    return Predicate(
        create=lambda o: not predicate.create(o),
        update=lambda a, b: not predicate.update(a, b),
        delete=lambda o: not predicate.delete(o),
        generic=lambda o: not predicate.generic(o),
        name=f"not_({predicate!r})",
    )
