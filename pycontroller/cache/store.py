"""A thread-safe, indexed store of objects: the informer's local cache (client-go's ``Indexer``).

The store maps keys (see :mod:`pycontroller.cache.keys`) to objects and keeps any number of
secondary indexes. An index is a named function from an object to the list of values it is indexed
under (``meta_namespace_index_func`` gives ``[namespace]``); ``by_index(name, value)`` then returns
every object indexed under ``value``.

Invariants, held whenever the lock is free:

* ``_items[k]`` is the object stored under key ``k``;
* for every index ``name`` and every stored key ``k``, ``k`` is in ``_indices[name][v]`` exactly for
  the values ``v`` in ``_indexers[name](_items[k])``, and no other key is in any bucket;
* no bucket is empty (a value whose last object left the index is removed, so
  ``list_index_func_values`` never reports a stale value).

Thread safety: every method takes an ``RLock``, so listers may read from worker threads while the
event loop writes. Writes are atomic: ``add``, ``update``, ``delete`` and ``replace`` call each
index function (once per object written, and once on the object it replaces or removes) and compute
everything before changing anything, so an object that cannot be keyed or indexed raises
(``InvalidObjectError`` from the key function, or whatever the index function raises) and leaves
the object and every index as they were.

Objects are shared, not copied: what ``get``/``list``/``by_index`` return is the cached object
itself, and callers must not mutate it (copy it first). Nothing here suspends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pycontroller.cache.keys import (
    NAMESPACE_INDEX,
    IndexFunc,
    KeyFunc,
    deletion_handling_meta_namespace_key_func,
    meta_namespace_index_func,
)

__all__ = [
    "NAMESPACE_INDEX",
    "Indexer",
    "Indexers",
    "meta_namespace_index_func",
]

#: Index name -> index function.
Indexers = Mapping[str, IndexFunc]

_NO_VALUES: list[str] = []
# Aliases: inside Indexer, ``list`` names the method.
_Objects = list[Any]
_Keys = list[str]


class Indexer:
    """A thread-safe key -> object store with named secondary indexes.

    ``Indexer(key_func=deletion_handling_meta_namespace_key_func, indexers=None, *, transformer=None)``;
    pass ``{NAMESPACE_INDEX: meta_namespace_index_func}`` to index by namespace (informers do).

    ``transformer`` (client-go's ``WithTransformer``) is applied to every object ``add``,
    ``update`` and ``replace`` store, after keying it and before indexing it (not to deletes);
    if it raises, the write raises and changes nothing.

    Like client-go's store, it tracks the resourceVersion of the last write
    (:meth:`last_store_sync_resource_version`): the object's own on ``add``/``update``/``delete``
    (unless it has none, e.g. a tombstone), the list's on ``replace``, the bookmark's on
    :meth:`bookmark`.
    """

    def __init__(
        self,
        key_func: KeyFunc = deletion_handling_meta_namespace_key_func,
        indexers: Indexers | None = None,
        *,
        transformer: Callable[[Any], Any] | None = None,
    ) -> None:
        if not callable(key_func):
            raise TypeError("key_func must be callable")
        if transformer is not None and not callable(transformer):
            raise TypeError("transformer must be callable")
        self.key_func: KeyFunc = key_func
        self.transformer = transformer
        self._lock = threading.RLock()
        self._items: dict[str, Any] = {}
        self._indexers: dict[str, IndexFunc] = {}
        self._indices: dict[str, dict[str, set[str]]] = {}
        # (index function, its buckets) pairs, rebuilt when indexers change: the write path's view.
        self._pairs: tuple[tuple[IndexFunc, dict[str, set[str]]], ...] = ()
        self._resource_version = ""
        if indexers:
            self.add_indexers(indexers)

    # -- writes ------------------------------------------------------------------------------------

    def add(self, obj: Any) -> None:
        """Insert or replace the object under its key, updating every index (atomic)."""
        key = self.key_func(obj)
        if self.transformer is not None:
            obj = self.transformer(obj)
        self._store(key, obj)

    def update(self, obj: Any) -> None:
        """The same as :meth:`add` (client-go's Update)."""
        self.add(obj)

    def _store(self, key: str, obj: Any) -> Any:
        """Store ``obj`` under ``key``; returns the object it replaced (or None).

        Atomic: every index value (of the new object and of the one it replaces) is computed
        before anything changes, so an index function that raises leaves the store as it was.
        """
        with self._lock:
            old = self._store_locked(key, obj)
            rv = _rv_of(obj)
            if rv is not None:
                self._resource_version = rv
            return old

    def _store_locked(self, key: str, obj: Any) -> Any:
        items = self._items
        pairs = self._pairs
        if len(pairs) == 1:  # the common case (the namespace index), kept tight
            fn, index = pairs[0]
            values = fn(obj)  # may raise: nothing changed yet
            old = items.get(key)
            if old is not None:
                old_values = fn(old)  # may raise: nothing changed yet
                items[key] = obj
                if old_values == values:
                    return old
                for value in old_values:
                    _unbucket(index, value, key)
            else:
                items[key] = obj
            for value in values:
                bucket = index.get(value)
                if bucket is None:
                    index[value] = {key}
                else:
                    bucket.add(key)
            return old
        if not pairs:
            old = items.get(key)
            items[key] = obj
            return old
        new_values = [fn(obj) for fn, _ in pairs]  # may raise: nothing changed yet
        old = items.get(key)
        olds = [fn(old) for fn, _ in pairs] if old is not None else None  # likewise
        items[key] = obj
        for i, (_, index) in enumerate(pairs):
            values = new_values[i]
            before = olds[i] if olds is not None else _NO_VALUES
            if before == values:
                continue
            for value in before:
                _unbucket(index, value, key)
            for value in values:
                bucket = index.get(value)
                if bucket is None:
                    index[value] = {key}
                else:
                    bucket.add(key)
        return old

    def delete(self, obj: Any) -> None:
        """Remove the object with this object's key (tombstones are keyed by their key); absent is fine.

        Records ``obj``'s resourceVersion as the store's last one (a tombstone has none).
        """
        self._delete(self.key_func(obj), obj)

    def delete_by_key(self, key: str) -> Any:
        """Remove and return the object under ``key``, or None when there was none.

        Atomic: if an index function raises on the stored object, nothing is removed.
        """
        return self._delete(key, None)

    def _delete(self, key: str, obj: Any) -> Any:
        with self._lock:
            if obj is not None:
                rv = _rv_of(obj)
                if rv is not None:
                    self._resource_version = rv
            old = self._items.get(key)
            if old is None:
                return None
            pairs = self._pairs
            old_values = [fn(old) for fn, _ in pairs]  # may raise: nothing changed yet
            del self._items[key]
            for (_, index), values in zip(pairs, old_values, strict=True):
                for value in values:
                    _unbucket(index, value, key)
            return old

    def replace(self, objs: Iterable[Any], resource_version: str = "") -> None:
        """Make the store hold exactly ``objs`` (rebuilding the indexes), atomically for readers.

        Every object is keyed and indexed before anything changes; a bad one raises and changes
        nothing.
        """
        items: dict[str, Any] = {}
        key_func = self.key_func
        transformer = self.transformer
        for obj in objs:
            key = key_func(obj)
            items[key] = transformer(obj) if transformer is not None else obj
        self._replace_keyed(items, resource_version)

    def _replace_keyed(self, items: dict[str, Any], resource_version: str) -> None:
        """:meth:`replace` with the objects already keyed (and transformed): ``items`` becomes the
        store's own dict. The informer builds it once for the cache and its notifications."""
        with self._lock:
            indices = {name: _build_index(fn, items) for name, fn in self._indexers.items()}
            self._items = items
            self._indices = indices
            self._pairs = tuple((self._indexers[name], indices[name]) for name in self._indexers)
            self._resource_version = resource_version

    def resync(self) -> None:
        """Nothing to do for a store (kept for the Store interface)."""

    def add_indexers(self, indexers: Indexers) -> None:
        """Add indexes, back-filling them from the objects already stored.

        Raises ``ValueError`` if a name is already an index (nothing is added then), ``TypeError`` for
        a non-callable, and whatever an index function raises on a stored object (nothing added).
        """
        for name, fn in indexers.items():
            if not callable(fn):
                raise TypeError(f"index function for {name!r} is not callable")
        with self._lock:
            clash = sorted(set(indexers) & set(self._indexers))
            if clash:
                raise ValueError(f"indexer conflict: {clash} already exist")
            built = {name: _build_index(fn, self._items) for name, fn in indexers.items()}
            self._indexers.update(indexers)
            self._indices.update(built)
            self._pairs = tuple((self._indexers[n], self._indices[n]) for n in self._indexers)

    # -- reads -------------------------------------------------------------------------------------

    def get(self, obj: Any) -> Any:
        """The stored object with the same key as ``obj``, or None."""
        return self._items.get(self.key_func(obj))

    def get_by_key(self, key: str) -> Any:
        """The object stored under ``key``, or None."""
        with self._lock:
            return self._items.get(key)

    def list(self) -> _Objects:
        """Every stored object (a new list, in no particular order)."""
        with self._lock:
            return list(self._items.values())

    def list_keys(self) -> _Keys:
        """Every key (a new list, in no particular order)."""
        with self._lock:
            return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    @property
    def resource_version(self) -> str:
        """The same as :meth:`last_store_sync_resource_version`."""
        return self._resource_version

    def last_store_sync_resource_version(self) -> str:
        """The resourceVersion of the last write (object, list or bookmark; "" before any)."""
        return self._resource_version

    def bookmark(self, resource_version: str) -> None:
        """Record a watch bookmark's resourceVersion as the store's last one. Never suspends."""
        with self._lock:
            self._resource_version = resource_version

    def get_indexers(self) -> dict[str, IndexFunc]:
        """A copy of the index name -> function mapping."""
        with self._lock:
            return dict(self._indexers)

    def _index(self, name: str) -> tuple[IndexFunc, dict[str, set[str]]]:
        fn = self._indexers.get(name)
        if fn is None:
            raise ValueError(f"index {name!r} does not exist (indexes: {sorted(self._indexers)})")
        return fn, self._indices[name]

    def index(self, name: str, obj: Any) -> _Objects:
        """Objects sharing at least one of ``obj``'s values in index ``name``.

        Raises ``ValueError`` for an unknown index name.
        """
        with self._lock:
            fn, index = self._index(name)
            values = fn(obj)
            if len(values) == 1:
                keys: Iterable[str] = index.get(values[0], ())
            else:
                found: set[str] = set()
                for value in values:
                    found.update(index.get(value, ()))
                keys = found
            items = self._items
            return [items[k] for k in keys]

    def index_keys(self, name: str, value: str) -> _Keys:
        """Keys of the objects indexed under ``value`` in index ``name`` (ValueError: unknown index)."""
        with self._lock:
            return list(self._index(name)[1].get(value, ()))

    def by_index(self, name: str, value: str) -> _Objects:
        """Objects indexed under ``value`` in index ``name`` (ValueError: unknown index)."""
        with self._lock:
            items = self._items
            return [items[k] for k in self._index(name)[1].get(value, ())]

    def list_index_func_values(self, name: str) -> _Keys:
        """Every value index ``name`` currently holds objects under (ValueError: unknown index)."""
        with self._lock:
            return list(self._index(name)[1])


def _rv_of(obj: Any) -> str | None:
    """An object's metadata.resourceVersion, or None when it has none (a tombstone, say)."""
    meta = obj.get("metadata") if obj.__class__ is dict else None
    rv = meta.get("resourceVersion") if meta.__class__ is dict else None
    return rv if rv.__class__ is str else None


def _unbucket(index: dict[str, set[str]], value: str, key: str) -> None:
    bucket = index.get(value)
    if bucket is not None:
        bucket.discard(key)
        if not bucket:
            del index[value]


def _build_index(fn: Callable[[Any], list[str]], items: Mapping[str, Any]) -> dict[str, set[str]]:
    index: dict[str, set[str]] = {}
    for key, obj in items.items():
        for value in fn(obj):
            bucket = index.get(value)
            if bucket is None:
                index[value] = {key}
            else:
                bucket.add(key)
    return index
