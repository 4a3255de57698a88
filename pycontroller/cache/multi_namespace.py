"""One informer over several namespaces: one reflector per namespace feeding one FIFO and one cache.

controller-runtime's multi-namespace cache, in the shape our informer needs: handlers and listers
see ONE :class:`~pycontroller.cache.informer.SharedIndexInformer` and one indexer, while each
namespace has its own :class:`~pycontroller.cache.reflector.Reflector` (its own list, watch,
resourceVersion, backoff and relists). :class:`MultiNamespaceReflector` is what the informer runs
in place of a single reflector (through its ``reflector_factory``)::

    Reflector(ns a) --> _NamespaceStore(a) --.
    Reflector(ns b) --> _NamespaceStore(b) ---+--> the informer's DeltaFIFO --> Indexer + handlers

Two things a plain FIFO cannot know are handled here:

* **The first sync.** ``has_synced`` must mean "every namespace listed", and the initial objects
  must arrive as one initial list. Each namespace's first ``replace`` is held until all namespaces
  delivered theirs; then ONE ``replace`` of their union feeds the FIFO, and the watch events each
  namespace received meanwhile follow, in their order. (A namespace relisting before that point
  replaces what it had delivered, and the events held for it are dropped with it.)
* **Later relists are scoped.** A relist of namespace ``a`` (after a 410, say) must not delete the
  objects of ``b`` (a FIFO's replace means "this is everything"). It becomes: a
  DeletedFinalStateUnknown tombstone for every key of ``a`` that is cached or queued but not in
  the new list, then an update for every listed object (the informer treats a same-version update
  as a resync, exactly like a Replaced delta). Both FIFOs work: the in-order RealFIFO and the
  coalescing DeltaFIFO.

Nothing here suspends except :meth:`MultiNamespaceReflector.run`, which runs every reflector until
cancelled (then cancels them all and waits for them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pycontroller.cache.delta_fifo import DeltaType
from pycontroller.cache.keys import NAMESPACE_INDEX, DeletedFinalStateUnknown
from pycontroller.cache.reflector import Reflector, ReflectorStats
from pycontroller.client import GroupVersionResource, RestClient

__all__ = ["MultiNamespaceReflector"]


class _NamespaceStore:
    """The store one namespace's reflector writes to (see the module docs)."""

    def __init__(self, parent: MultiNamespaceReflector, namespace: str) -> None:
        self.parent = parent
        self.namespace = namespace
        self.prefix = namespace + "/"
        #: Events received before the union of the first lists was handed over (in order).
        self.held: list[tuple[str, Any]] = []

    def add(self, obj: Any) -> None:
        if self.parent._initial_pending:
            self.parent.fifo.key_of(obj)  # refuse an unkeyable object now, as the FIFO would
            self.held.append(("add", obj))
        else:
            self.parent.fifo.add(obj)

    def update(self, obj: Any) -> None:
        if self.parent._initial_pending:
            self.parent.fifo.key_of(obj)
            self.held.append(("update", obj))
        else:
            self.parent.fifo.update(obj)

    def delete(self, obj: Any) -> None:
        if self.parent._initial_pending:
            self.parent.fifo.key_of(obj)
            self.held.append(("delete", obj))
        else:
            self.parent.fifo.delete(obj)

    def resync(self) -> None:
        if not self.parent._initial_pending:
            self.parent.fifo.resync()

    def update_resource_version(self, resource_version: str) -> None:
        self.parent._namespace_rv[self.namespace] = resource_version

    def replace(self, objs: list[Any], resource_version: str) -> None:
        parent = self.parent
        objs = objs if isinstance(objs, list) else list(objs)
        key_of = parent.fifo.key_of
        keys = {key_of(obj) for obj in objs}  # may raise: nothing changed yet
        parent._namespace_rv[self.namespace] = resource_version
        if parent._initial_pending:
            self.held.clear()  # a newer list supersedes what was held
            parent._first_lists[self.namespace] = objs
            parent._maybe_hand_over(resource_version)
            return
        self._scoped_replace(objs, keys)

    def _scoped_replace(self, objs: list[Any], keys: set[str]) -> None:
        fifo = self.parent.fifo
        indexer = self.parent.indexer
        queued = self._queued()
        candidates = set(indexer.index_keys(NAMESPACE_INDEX, self.namespace))
        candidates.update(queued)
        candidates.difference_update(keys)
        for key in sorted(candidates):
            last_delta = queued.get(key)
            if last_delta is not None:
                last_type, last = last_delta
                if last_type == DeltaType.DELETED:
                    continue  # already on its way out
                if last.__class__ is DeletedFinalStateUnknown:
                    last = last.obj
            else:
                last = indexer.get_by_key(key)
                if last is None:
                    continue
            fifo.delete(DeletedFinalStateUnknown(key, last))
        for obj in objs:
            fifo.update(obj)

    def _queued(self) -> dict[str, tuple[str, Any]]:
        """The last queued (type, object) of every key of this namespace not yet in the cache.

        A DeltaFIFO is read by key; a RealFIFO (in-order informers) delta by delta. A queued
        ReplacedAll is only ever the union of the first lists, which the informer applies whole.
        """
        fifo = self.parent.fifo
        prefix = self.prefix
        last: dict[str, tuple[str, Any]] = {}
        deltas = getattr(fifo, "deltas", None)
        if deltas is None:  # a DeltaFIFO
            for key in fifo.list_keys():
                if key.startswith(prefix):
                    queued = fifo.get_by_key(key)
                    if queued:
                        last[key] = (queued[-1][0], queued[-1][1])
            return last
        key_of = fifo.key_of
        for delta_type, obj in deltas():
            if delta_type == DeltaType.REPLACED_ALL:
                for item in obj.objects:
                    key = key_of(item)
                    if key.startswith(prefix):
                        last[key] = (DeltaType.REPLACED, item)
            elif delta_type != DeltaType.SYNC_ALL:
                key = key_of(obj)
                if key.startswith(prefix):
                    last[key] = (delta_type, obj)
        return last


class MultiNamespaceReflector:
    """Runs one :class:`Reflector` per namespace into one FIFO (see the module docs).

    ``fifo`` is the informer's DeltaFIFO, ``indexer`` its cache (read for scoped relists).
    ``reflector_options`` are passed to every Reflector (selectors included);
    ``error_handler(reflector, exc)`` is installed on each when given.
    """

    def __init__(
        self,
        client: RestClient,
        gvr: GroupVersionResource,
        fifo: Any,
        indexer: Any,
        namespaces: Sequence[str],
        *,
        name: str,
        reflector_options: Mapping[str, Any] | None = None,
        error_handler: Callable[..., Any] | None = None,
    ) -> None:
        if len(set(namespaces)) != len(namespaces) or len(namespaces) < 2 or "" in namespaces:
            raise ValueError(f"a multi-namespace reflector needs 2+ distinct namespaces, got {namespaces!r}")
        self.fifo = fifo
        self.indexer = indexer
        self.gvr = gvr
        self.name = name
        self.namespaces = tuple(namespaces)
        self._initial_pending = True
        self._first_lists: dict[str, list[Any]] = {}
        self._namespace_rv: dict[str, str] = {}
        self._stores = {ns: _NamespaceStore(self, ns) for ns in self.namespaces}
        self.reflectors: dict[str, Reflector] = {}
        for ns in self.namespaces:
            reflector = Reflector(
                client,
                gvr,
                self._stores[ns],
                namespace=ns,
                name=f"reflector({name}/{ns})",
                **dict(reflector_options or {}),
            )
            if error_handler is not None:
                reflector.set_watch_error_handler(error_handler)
            self.reflectors[ns] = reflector

    def _maybe_hand_over(self, resource_version: str) -> None:
        if len(self._first_lists) < len(self.namespaces):
            return
        union: list[Any] = []
        for ns in self.namespaces:
            union.extend(self._first_lists[ns])
        self._first_lists.clear()
        self._initial_pending = False
        self.fifo.replace(union, resource_version)
        fifo = self.fifo
        for store in self._stores.values():
            held, store.held = store.held, []
            for op, obj in held:
                getattr(fifo, op)(obj)

    async def run(self) -> None:
        """Run every namespace's reflector until cancelled. Suspends throughout."""
        tasks = [asyncio.create_task(r.run(), name=r.name) for r in self.reflectors.values()]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def last_sync_resource_version(self) -> str:
        """The newest resourceVersion any namespace synced to ("" until every namespace listed)."""
        if self._initial_pending:
            return ""
        versions = [rv for rv in self._namespace_rv.values() if rv]
        if not versions:
            return ""
        try:
            return max(versions, key=int)
        except ValueError:  # opaque versions: no order to speak of
            return versions[-1]

    @property
    def stats(self) -> ReflectorStats:
        """The sum of every namespace reflector's counters (a fresh object each read)."""
        total = ReflectorStats()
        for reflector in self.reflectors.values():
            for name in ReflectorStats.__slots__:
                setattr(total, name, getattr(total, name) + getattr(reflector.stats, name))
        return total
