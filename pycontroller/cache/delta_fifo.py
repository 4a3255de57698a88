"""DeltaFIFO: the queue between a reflector and an informer, with client-go's semantics.

The reflector writes (``add``, ``update``, ``delete``, ``replace``, ``resync``); the informer
``await pop(process)``. For each object key the FIFO holds the list of changes (:class:`Delta`, oldest
first) not yet processed, and the key is queued once, in the order it first got a pending change.
So a consumer sees every key's whole story, and a hot object never starves the others.

Semantics, as client-go's ``DeltaFIFO`` with ``EmitDeltaTypeReplaced: true``:

* ``add``/``update`` append Added/Updated; ``delete`` appends Deleted, but is ignored when the key is
  neither queued nor in ``known_objects`` (it was already deleted).
* Only two consecutive Deleted deltas merge (the older one is kept, unless it is a
  :class:`DeletedFinalStateUnknown` tombstone, in which case the newer one wins).
* ``replace(objs, rv)`` (a relist) appends Replaced for every listed object, and a Deleted carrying a
  ``DeletedFinalStateUnknown(key, last_known_object)`` for every key that is queued or in
  ``known_objects`` but not in the list: deletes missed while the watch was down. Tombstones come
  in queue order for queued keys, then in ``known_objects.list_keys()`` order.
* ``key_of`` accepts an object, a tombstone, or a Deltas list (keyed by its newest object).
* ``resync()`` appends Sync, with the object from ``known_objects``, for every known key that has
  nothing queued (a queued change would be newer than the cache's copy).
* ``has_synced()`` is true once the items of the first ``replace`` have all been popped (or once
  anything was written, when the first write was not a ``replace``).
* ``transformer`` (optional) is applied to every object as it is queued, except tombstones and Sync
  objects (which come from the cache and were transformed already).

Errors: when ``process`` raises (or is cancelled), the popped deltas are put back, ahead of any
newer deltas for the same key, and the key goes to the back of the queue; the exception then
propagates out of ``pop``. Nothing is lost, and a failing object cannot block the others.

Concurrency: one event loop. No method is thread-safe; only ``pop`` and ``wait`` suspend. After
``close()``, writes are still accepted (as in client-go) and ``pop`` drains what is queued, then
raises :class:`pycontroller.errors.ShutDownError`.
"""

from __future__ import annotations

import asyncio
import builtins
import enum
import inspect
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, NamedTuple, Protocol

from pycontroller.cache.keys import DeletedFinalStateUnknown, KeyFunc, meta_namespace_key_func
from pycontroller.errors import InvalidObjectError, ShutDownError

__all__ = [
    "Delta",
    "DeltaFIFO",
    "DeltaType",
    "Deltas",
    "KnownObjects",
    "PopProcessFunc",
]


class DeltaType(enum.StrEnum):
    """What happened to an object."""

    ADDED = "Added"
    UPDATED = "Updated"
    DELETED = "Deleted"
    #: The object was listed by a relist (it may or may not have changed).
    REPLACED = "Replaced"
    #: A periodic resync of an object from the cache (nothing changed).
    SYNC = "Sync"
    #: A whole list at once (RealFIFO only): the object is a ``ReplacedAllInfo``.
    REPLACED_ALL = "ReplacedAll"
    #: A resync of everything cached at once (RealFIFO only): the object is a ``SyncAllInfo``.
    SYNC_ALL = "SyncAll"


ADDED = DeltaType.ADDED
UPDATED = DeltaType.UPDATED
DELETED = DeltaType.DELETED
REPLACED = DeltaType.REPLACED
SYNC = DeltaType.SYNC


class Delta(NamedTuple):
    """One change: its ``type`` and the ``object`` after it (a tombstone for missed deletes)."""

    type: DeltaType
    object: Any


#: The pending changes of one key, oldest first (never empty).
Deltas = list[Delta]
#: ``process(deltas, is_in_initial_list)``; may be a plain or an async function.
PopProcessFunc = Callable[[Deltas, bool], Awaitable[object] | object]


class KnownObjects(Protocol):
    """What the FIFO reads from the cache it feeds (an :class:`~pycontroller.cache.store.Indexer`)."""

    def list_keys(self) -> list[str]: ...

    def get_by_key(self, key: str) -> Any: ...


_new_delta = tuple.__new__


class _Waiting:
    """What both FIFOs share (this one and :class:`~pycontroller.cache.real_fifo.RealFIFO`):
    consumers suspended until something is queued, and closing. A subclass sets ``_closed = False``
    and ``_waiters = deque()`` in its ``__init__``, defines ``__len__`` (what is queued) and calls
    :meth:`_wake_one` when it queues something while ``_waiters`` is not empty."""

    _closed: bool
    _waiters: deque[asyncio.Future[None]]

    def __len__(self) -> int:
        raise NotImplementedError

    async def wait(self) -> None:
        """Suspend until something is queued or the FIFO is closed (returns at once if so)."""
        while not len(self) and not self._closed:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            finally:
                if not fut.done():
                    fut.cancel()
                try:
                    self._waiters.remove(fut)
                except ValueError:
                    pass

    def _wake_one(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    def close(self) -> None:
        """Stop accepting pops once drained: waiting and later pops raise ShutDownError."""
        self._closed = True
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed


class DeltaFIFO(_Waiting):
    """A producer/consumer queue of per-key change lists (see the module docs)."""

    def __init__(
        self,
        key_func: KeyFunc = meta_namespace_key_func,
        known_objects: KnownObjects | None = None,
        *,
        transformer: Callable[[Any], Any] | None = None,
    ) -> None:
        # The default key function has no tombstone case: key_of adds it.
        self._key_func = key_func
        self._known = known_objects
        self._transformer = transformer
        # Invariants: every key of _items is in _queue exactly once and vice versa; no list is empty.
        self._items: dict[str, Deltas] = {}
        self._queue: deque[str] = deque()
        self._populated = False
        self._initial_population_count = 0
        self._closed = False
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.resource_version = ""
        #: Called once when has_synced() becomes true on a write (a first replace with nothing to
        #: pop, or a first write that is not a replace); the consumer sees the other case itself.
        self.on_synced: Callable[[], object] | None = None

    # -- producer side (the reflector) -------------------------------------------------------------

    def key_of(self, obj: Any) -> str:
        """The key of an object, a tombstone, or a :data:`Deltas` list (keyed by its newest object).

        As client-go's ``KeyOf``. Raises InvalidObjectError for an object without a name and for
        an empty Deltas list. Never suspends.
        """
        if obj.__class__ is list:
            if not obj:
                raise InvalidObjectError("cannot key an empty Deltas list")
            newest = obj[-1]
            if newest.__class__ is Delta:
                obj = newest.object
        if obj.__class__ is DeletedFinalStateUnknown:
            return obj.key
        return self._key_func(obj)

    def _drain(self, process: Callable[[str, Deltas, bool], object], limit: int) -> int:
        """Pop and ``process(key, deltas, is_in_initial_list)`` up to ``limit`` keys; no requeue.

        The informer's fast path (its process function handles its own errors). Returns how many
        keys were processed. Never suspends.
        """
        queue = self._queue
        items = self._items
        done = 0
        while queue and done < limit:
            done += 1
            count = self._initial_population_count
            key = queue.popleft()
            if count > 0:
                self._initial_population_count = count - 1
                process(key, items.pop(key), True)
            else:
                process(key, items.pop(key), not self._populated)
        return done

    def add(self, obj: Any) -> None:
        """Queue an Added delta. Never suspends."""
        key = self.key_of(obj)  # may raise: nothing changed yet
        if not self._populated:
            self._populate()
        self._queue_action(ADDED, obj, key)

    def update(self, obj: Any) -> None:
        """Queue an Updated delta. Never suspends."""
        key = self.key_of(obj)  # may raise: nothing changed yet
        if not self._populated:
            self._populate()
        self._queue_action(UPDATED, obj, key)

    def delete(self, obj: Any) -> None:
        """Queue a Deleted delta, unless the key is neither queued nor known (already deleted)."""
        key = self.key_of(obj)
        if not self._populated:
            self._populate()
        if key not in self._items:
            known = self._known
            if known is None or known.get_by_key(key) is None:
                return
        self._queue_action(DELETED, obj, key)

    def replace(self, objs: Iterable[Any], resource_version: str = "") -> None:
        """A relist: Replaced for every object, tombstones for vanished keys (see module docs).

        Every object is keyed first: an object without a name raises InvalidObjectError and
        queues nothing.
        """
        key_of = self.key_of
        objs = objs if isinstance(objs, list) else list(objs)
        listed = [key_of(obj) for obj in objs]
        keys = set(listed)
        items = self._items
        queue = self._queue
        was_empty = not queue
        transformer = self._transformer
        # The hot path of every relist, inlined: Replaced deltas never merge with anything.
        for key, obj in zip(listed, objs, strict=True):
            if transformer is not None:
                obj = transformer(obj)
            delta = _new_delta(Delta, (REPLACED, obj))
            deltas = items.get(key)
            if deltas is None:
                items[key] = [delta]
                queue.append(key)
            else:
                deltas.append(delta)
        if was_empty and queue and self._waiters:
            self._wake_one()
        queued_deletions = 0
        if len(items) > len(keys):  # every listed key is queued now: anything more vanished
            for key in [k for k in items if k not in keys]:
                last = items[key][-1].object
                if last.__class__ is DeletedFinalStateUnknown:
                    last = last.obj
                queued_deletions += 1
                self._queue_action(DELETED, DeletedFinalStateUnknown(key, last), key)
        known = self._known
        if known is not None:
            # In the known store's list_keys() order, as client-go: deterministic, never the
            # order of a set (which would follow the string hash seed).
            for key in known.list_keys():
                if key in keys or key in items:
                    continue
                queued_deletions += 1
                tombstone = DeletedFinalStateUnknown(key, known.get_by_key(key))
                self._queue_action(DELETED, tombstone, key)
        if not self._populated:
            self._initial_population_count = len(keys) + queued_deletions
            self._populate()
        if resource_version:
            self.resource_version = resource_version

    def resync(self) -> None:
        """Queue a Sync, with the cached object, for every known key with nothing queued."""
        known = self._known
        if known is None:
            return
        items = self._items
        for key in known.list_keys():
            if key in items:
                continue
            obj = known.get_by_key(key)
            if obj is not None:
                self._queue_action(SYNC, obj, key)

    def _populate(self) -> None:
        self._populated = True
        if self._initial_population_count == 0 and self.on_synced is not None:
            self.on_synced()

    def update_resource_version(self, resource_version: str) -> None:
        """Record the resource version of a watch bookmark (``resource_version`` attribute)."""
        self.resource_version = resource_version

    def _queue_action(self, delta_type: DeltaType, obj: Any, key: str) -> None:
        transformer = self._transformer
        if (
            transformer is not None
            and delta_type is not SYNC
            and obj.__class__ is not DeletedFinalStateUnknown
        ):
            obj = transformer(obj)
        delta = _new_delta(Delta, (delta_type, obj))
        deltas = self._items.get(key)
        if deltas is None:
            self._items[key] = [delta]
            self._queue.append(key)
            if self._waiters:
                self._wake_one()
            return
        if delta_type is DELETED and deltas[-1][0] is DELETED:
            # Only consecutive deletes merge; a tombstone gives way to the real final state.
            if deltas[-1][1].__class__ is DeletedFinalStateUnknown:
                deltas[-1] = delta
            return
        deltas.append(delta)

    # -- consumer side (the informer) --------------------------------------------------------------

    async def pop(self, process: PopProcessFunc) -> Deltas:
        """Wait for a key, remove its deltas and ``process(deltas, is_in_initial_list)``; return them.

        Suspends while the queue is empty (and while an async ``process`` runs). If ``process``
        raises, the deltas are requeued (see the module docs) and the exception propagates. Raises
        :class:`ShutDownError` once closed and drained.
        """
        while not self._queue:
            if self._closed:
                raise ShutDownError("DeltaFIFO is closed")
            await self.wait()
        key, deltas, is_in_initial_list, counted = self._pop_item()
        try:
            result = process(deltas, is_in_initial_list)
            if result is not None and inspect.isawaitable(result):
                await result
        except BaseException:
            self._requeue(key, deltas, counted)
            raise
        return deltas

    def _pop_item(self) -> tuple[str, Deltas, bool, bool]:
        """Remove the head: (key, deltas, is_in_initial_list, counted). The queue must not be empty."""
        is_in_initial_list = not (self._populated and self._initial_population_count == 0)
        key = self._queue.popleft()
        counted = self._initial_population_count > 0
        if counted:
            self._initial_population_count -= 1
        return key, self._items.pop(key), is_in_initial_list, counted

    def _requeue(self, key: str, deltas: Deltas, counted: bool) -> None:
        """Put popped deltas back, before any that arrived meanwhile; the key goes to the back."""
        if counted:
            self._initial_population_count += 1
        newer = self._items.get(key)
        if newer is None:
            self._items[key] = deltas
            self._queue.append(key)
            if self._waiters:
                self._wake_one()
            return
        merged = list(deltas)
        for delta in newer:
            if delta[0] is DELETED and merged[-1][0] is DELETED:
                if merged[-1][1].__class__ is DeletedFinalStateUnknown:
                    merged[-1] = delta
                continue
            merged.append(delta)
        self._items[key] = merged

    def has_synced(self) -> bool:
        """True once the first ``replace`` batch was fully popped (or a non-replace write came first)."""
        return self._populated and self._initial_population_count == 0

    # -- inspection --------------------------------------------------------------------------------

    def __len__(self) -> int:
        """How many keys are queued."""
        return len(self._queue)

    def list_keys(self) -> builtins.list[str]:
        """The queued keys, in queue order."""
        return list(self._queue)

    def list(self) -> builtins.list[Any]:
        """The newest object of each queued key, in queue order."""
        items = self._items
        return [items[key][-1].object for key in self._queue]

    def get_by_key(self, key: str) -> Deltas | None:
        """A copy of the deltas queued for ``key``, or None."""
        deltas = self._items.get(key)
        return list(deltas) if deltas is not None else None

    def get(self, obj: Any) -> Deltas | None:
        """A copy of the deltas queued for ``obj``'s key, or None."""
        return self.get_by_key(self.key_of(obj))
