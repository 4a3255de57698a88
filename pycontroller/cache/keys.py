"""Cache keys of Kubernetes objects, tombstones, and the namespace index function.

An object's key is ``"<namespace>/<name>"``, or ``"<name>"`` for a cluster-scoped object (client-go's
``MetaNamespaceKeyFunc``). Objects are plain dicts as decoded from JSON; one without a ``metadata``
mapping holding a non-empty string ``name`` cannot be keyed and raises
:class:`pycontroller.errors.InvalidObjectError`.

A :class:`DeletedFinalStateUnknown` tombstone stands for an object that was deleted while the watch
was down: the cache last knew ``obj`` under ``key`` but a relist no longer has it. Delete handlers
receive either the object or such a tombstone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, NamedTuple

from pycontroller.errors import InvalidObjectError

__all__ = [
    "NAMESPACE_INDEX",
    "DeletedFinalStateUnknown",
    "IndexFunc",
    "KeyFunc",
    "deletion_handling_meta_namespace_key_func",
    "meta_namespace_index_func",
    "meta_namespace_key_func",
    "split_meta_namespace_key",
]

#: The name under which informers index objects by namespace.
NAMESPACE_INDEX: Final = "namespace"

#: Computes an object's cache key; raises InvalidObjectError for objects it cannot key.
KeyFunc = Callable[[Any], str]
#: Computes the values an object is indexed under (a list, possibly empty).
IndexFunc = Callable[[Any], list[str]]


class DeletedFinalStateUnknown(NamedTuple):
    """A deleted object whose final state is unknown: ``key`` and the last ``obj`` the cache held.

    ``obj`` may be stale, or None when the cache had lost it too.
    """

    key: str
    obj: Any


def _invalid(obj: Any) -> InvalidObjectError:
    if not isinstance(obj, dict):
        return InvalidObjectError(f"expected an object (a dict), got {type(obj).__name__}")
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return InvalidObjectError(f"object has no metadata (kind={obj.get('kind')!r})")
    return InvalidObjectError(
        f"object has no metadata.name (kind={obj.get('kind')!r}, name={meta.get('name')!r}, "
        f"namespace={meta.get('namespace')!r})"
    )


def meta_namespace_key_func(obj: Any) -> str:
    """``"namespace/name"``, or ``"name"`` for a cluster-scoped object. Never suspends.

    Raises :class:`InvalidObjectError` for an object without ``metadata.name``.
    """
    try:
        meta = obj["metadata"]
        name = meta["name"]
        namespace = meta.get("namespace")
    except (KeyError, TypeError, AttributeError):
        raise _invalid(obj) from None
    if name.__class__ is not str or not name:
        raise _invalid(obj)
    if namespace:
        return f"{namespace}/{name}"
    return name


def deletion_handling_meta_namespace_key_func(obj: Any) -> str:
    """Like :func:`meta_namespace_key_func`, but a tombstone's key is its recorded ``key``."""
    if obj.__class__ is DeletedFinalStateUnknown:
        return obj.key
    return meta_namespace_key_func(obj)


def split_meta_namespace_key(key: str) -> tuple[str, str]:
    """Split a key into ``(namespace, name)``; namespace is ``""`` for cluster-scoped keys.

    Raises ``ValueError`` for a key with more than one ``/`` or an empty name.
    """
    parts = key.split("/")
    if len(parts) == 1 and parts[0]:
        return "", parts[0]
    if len(parts) == 2 and parts[1]:
        return parts[0], parts[1]
    raise ValueError(f"unexpected key format: {key!r} (want 'namespace/name' or 'name')")


def meta_namespace_index_func(obj: Any) -> list[str]:
    """The namespace index function: ``[namespace]``, or ``[]`` for a cluster-scoped object.

    Raises :class:`InvalidObjectError` for an object without metadata.
    """
    try:
        namespace = obj["metadata"].get("namespace")
    except (KeyError, TypeError, AttributeError):
        raise _invalid(obj) from None
    return [namespace] if namespace else []
