"""RealFIFO: the in-order queue between a reflector and an informer (client-go 1.36's default).

Where :class:`~pycontroller.cache.delta_fifo.DeltaFIFO` keeps one change list per key and queues a
key once (so a hot object's changes coalesce and handlers may see version 3, then version 7),
RealFIFO queues every change as it happened, one :class:`~pycontroller.cache.delta_fifo.Delta`
after another, and the informer delivers them in that order. It follows client-go's ``RealFIFO``
with atomic events (``AtomicFIFO``, on by default with in-order informers):

* ``add``/``update``/``delete`` append Added/Updated/Deleted (a delete is queued even for a key the
  cache does not hold; the informer then tells no handler, as a DeltaFIFO would drop it).
* ``replace(objs, rv)`` (a list or relist) appends ONE ``ReplacedAll`` delta carrying
  :class:`ReplacedAllInfo` (every object and the list's resourceVersion): the informer applies the
  whole list to its cache in one step and then tells handlers about the deletions it implies
  (``DeletedFinalStateUnknown`` tombstones) and the adds and updates, so no reader ever sees a
  half-applied relist.
* ``resync()`` appends ONE ``SyncAll`` delta: the informer sends an update (old == new) for every
  cached object to the handlers whose resync is due.
* ``has_synced()`` once everything queued up to and including the first ``replace`` was popped (or
  at the first write when that was not a ``replace``).
* ``transformer`` (optional) is applied to every object as it is queued, tombstones excepted.

Batched processing (client-go's ``PopBatch``): :meth:`RealFIFO.pop_batch` hands out up to
``batch_size`` (1000) consecutive Added/Updated/Deleted deltas of DIFFERENT keys in one call, so
the informer applies them to its cache under one lock and notifies handlers in order. A batch
stops before a second delta of a key already in it (order per key is kept), before a ``ReplacedAll``
or ``SyncAll`` (which go alone), and at the end of the initial list.

Errors: a delta whose processing raises is not requeued (client-go's RealFIFO does not either);
the informer logs and counts it. Concurrency: one event loop; only ``pop``/``pop_batch`` and
``wait`` suspend. After ``close()``, writes are still accepted and pops drain what is queued, then
raise :class:`~pycontroller.errors.ShutDownError`.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from pycontroller.cache.delta_fifo import Delta, Deltas, DeltaType, PopProcessFunc, _Waiting
from pycontroller.cache.keys import DeletedFinalStateUnknown, KeyFunc, meta_namespace_key_func
from pycontroller.errors import InvalidObjectError, ShutDownError

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "RealFIFO",
    "ReplacedAllInfo",
    "SyncAllInfo",
]

#: client-go's defaultBatchSize: the most deltas one pop_batch hands out.
DEFAULT_BATCH_SIZE = 1000

ADDED = DeltaType.ADDED
UPDATED = DeltaType.UPDATED
DELETED = DeltaType.DELETED
REPLACED_ALL = DeltaType.REPLACED_ALL
SYNC_ALL = DeltaType.SYNC_ALL

_BATCHABLE = frozenset({ADDED, UPDATED, DELETED, DeltaType.REPLACED, DeltaType.SYNC})


class ReplacedAllInfo(NamedTuple):
    """The object of a ``ReplacedAll`` delta: a whole list and its resourceVersion."""

    resource_version: str
    objects: list[Any]


class SyncAllInfo(NamedTuple):
    """The object of a ``SyncAll`` delta (a resync of everything cached)."""


_SYNC_ALL_INFO = SyncAllInfo()
_new_delta = tuple.__new__


class RealFIFO(_Waiting):
    """An in-order queue of single deltas with atomic replace and resync events (module docs)."""

    def __init__(
        self,
        key_func: KeyFunc = meta_namespace_key_func,
        *,
        transformer: Callable[[Any], Any] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self._key_func = key_func
        self._transformer = transformer
        self.batch_size = batch_size
        # Invariant: deltas in the order the writes happened; never merged. _keys runs in lockstep
        # with _items: the key of each delta (computed once, at the write), None for atomic ones.
        self._items: deque[Delta] = deque()
        self._keys: deque[str | None] = deque()
        self._populated = False
        self._initial_population_count = 0
        self._synced = False
        self._closed = False
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.resource_version = ""
        #: Called once when has_synced() becomes true on a write (the first write not a replace).
        self.on_synced: Callable[[], object] | None = None

    # -- keys ----------------------------------------------------------------------------------------

    def key_of(self, obj: Any) -> str:
        """The key of an object, a tombstone, a Delta or a Deltas list (its newest object).

        Raises InvalidObjectError for an object without a name, an empty Deltas list, and the
        atomic ``ReplacedAll``/``SyncAll`` infos (they have no key). Never suspends.
        """
        if obj.__class__ is list:
            if not obj:
                raise InvalidObjectError("cannot key an empty Deltas list")
            obj = obj[-1]
        if obj.__class__ is Delta:
            obj = obj.object
        if obj.__class__ is DeletedFinalStateUnknown:
            return obj.key
        if obj.__class__ is ReplacedAllInfo or obj.__class__ is SyncAllInfo:
            raise InvalidObjectError(f"a {type(obj).__name__} has no key")
        return self._key_func(obj)

    # -- producer side (the reflector) ---------------------------------------------------------------

    def add(self, obj: Any) -> None:
        """Queue an Added delta (InvalidObjectError for an object without a name). Never suspends."""
        self._append(ADDED, obj)

    def update(self, obj: Any) -> None:
        """Queue an Updated delta. Never suspends."""
        self._append(UPDATED, obj)

    def delete(self, obj: Any) -> None:
        """Queue a Deleted delta. Never suspends."""
        self._append(DELETED, obj)

    def _append(self, delta_type: DeltaType, obj: Any) -> None:
        key = self.key_of(obj)  # may raise: nothing changed yet
        transformer = self._transformer
        if transformer is not None and obj.__class__ is not DeletedFinalStateUnknown:
            obj = transformer(obj)
        self._items.append(_new_delta(Delta, (delta_type, obj)))
        self._keys.append(key)
        if not self._populated:
            self._populated = True
            self._check_synced()
        if self._waiters:
            self._wake_one()

    def replace(self, objs: Iterable[Any], resource_version: str = "") -> None:
        """A list or relist: queue one ReplacedAll delta. Every object is keyed (and transformed)
        first: a bad one raises InvalidObjectError and queues nothing. Never suspends."""
        objs = list(objs)
        key_of = self.key_of
        for obj in objs:
            key_of(obj)
        transformer = self._transformer
        if transformer is not None:
            objs = [transformer(obj) for obj in objs]
        self._items.append(_new_delta(Delta, (REPLACED_ALL, ReplacedAllInfo(resource_version, objs))))
        self._keys.append(None)
        if not self._populated:
            self._populated = True
            self._initial_population_count = len(self._items)
        if resource_version:
            self.resource_version = resource_version
        if self._waiters:
            self._wake_one()

    def resync(self) -> None:
        """Queue one SyncAll delta. Never suspends."""
        self._items.append(_new_delta(Delta, (SYNC_ALL, _SYNC_ALL_INFO)))
        self._keys.append(None)
        if self._waiters:
            self._wake_one()

    def update_resource_version(self, resource_version: str) -> None:
        """Record the resource version of a watch bookmark (``resource_version`` attribute)."""
        self.resource_version = resource_version

    # -- consumer side (the informer) ----------------------------------------------------------------

    def _check_synced(self) -> None:
        if not self._synced and self._populated and self._initial_population_count == 0:
            self._synced = True
            if self.on_synced is not None:
                self.on_synced()

    def _take_batch(self) -> tuple[Deltas, list[str | None], bool]:
        """Remove the next batch (module docs): (deltas, their keys, is_in_initial_list). Not empty."""
        items = self._items
        keys = self._keys
        is_in_initial_list = not self._synced
        first = items.popleft()
        first_key = keys.popleft()
        batch = [first]
        batch_keys = [first_key]
        if first_key is not None and self.batch_size > 1:
            limit = self.batch_size
            initial = self._initial_population_count
            if initial > 0:
                limit = min(limit, initial)
            seen = {first_key}
            while items and len(batch) < limit:
                key = keys[0]
                if key is None or key in seen:
                    break  # an atomic delta goes alone; a key's second change waits: order per key
                seen.add(key)
                batch.append(items.popleft())
                batch_keys.append(keys.popleft())
        count = self._initial_population_count
        if count > 0:
            self._initial_population_count = max(0, count - len(batch))
        return batch, batch_keys, is_in_initial_list

    def _drain_keyed(self, process: Callable[[Deltas, list[str | None], bool], object]) -> int:
        """The informer's fast path: take the next batch and ``process(deltas, keys,
        is_in_initial_list)`` it; returns how many deltas (0 when empty). Never suspends."""
        if not self._items:
            return 0
        batch, keys, is_in_initial_list = self._take_batch()
        try:
            process(batch, keys, is_in_initial_list)
        finally:
            self._check_synced()
        return len(batch)

    def pop_batch_nowait(self, process: Callable[[Deltas, bool], object]) -> int:
        """Take the next batch and ``process(deltas, is_in_initial_list)`` it; returns how many
        deltas were taken (0 when empty). The informer's fast path. Never suspends.

        Whatever ``process`` raises propagates; the batch is not requeued.
        """
        if not self._items:
            return 0
        batch, _, is_in_initial_list = self._take_batch()
        try:
            process(batch, is_in_initial_list)
        finally:
            self._check_synced()
        return len(batch)

    async def pop_batch(self, process: Callable[[Deltas, bool], object]) -> Deltas:
        """Wait for deltas, take the next batch and ``process(deltas, is_in_initial_list)`` it
        (plain or async); returns the batch. Suspends while empty; ShutDownError once closed and
        drained. Whatever ``process`` raises propagates; the batch is not requeued."""
        await self._until_items()
        batch, _, is_in_initial_list = self._take_batch()
        await self._process(process, batch, is_in_initial_list)
        return batch

    async def pop(self, process: PopProcessFunc) -> Deltas:
        """Wait for ONE delta and ``process([delta], is_in_initial_list)`` it; returns ``[delta]``.

        Suspends while empty; ShutDownError once closed and drained; not requeued on error.
        """
        await self._until_items()
        is_in_initial_list = not self._synced
        deltas = [self._items.popleft()]
        self._keys.popleft()
        if self._initial_population_count > 0:
            self._initial_population_count -= 1
        await self._process(process, deltas, is_in_initial_list)
        return deltas

    async def _until_items(self) -> None:
        """Suspend until something is queued; ShutDownError once closed and drained."""
        while not self._items:
            if self._closed:
                raise ShutDownError("RealFIFO is closed")
            await self.wait()

    async def _process(self, process: PopProcessFunc, deltas: Deltas, is_in_initial_list: bool) -> None:
        """``process`` popped deltas (awaited if it returns an awaitable), then the synced check."""
        try:
            result = process(deltas, is_in_initial_list)
            if result is not None and inspect.isawaitable(result):
                await result
        finally:
            self._check_synced()

    def has_synced(self) -> bool:
        """True once the first ``replace`` and everything queued before it were popped (sticky)."""
        return self._synced

    # -- inspection ----------------------------------------------------------------------------------

    def __len__(self) -> int:
        """How many deltas are queued (a ReplacedAll counts as one)."""
        return len(self._items)

    def deltas(self) -> Deltas:
        """A copy of the queued deltas, oldest first."""
        return list(self._items)

    def _keyed(self) -> list[tuple[str, Delta]]:
        """(key, delta) for every queued change, a queued list counting as a Replaced per object."""
        out: list[tuple[str, Delta]] = []
        key_of = self.key_of
        for delta, key in zip(self._items, self._keys, strict=True):
            if key is not None:
                out.append((key, delta))
            elif delta[0] is REPLACED_ALL:
                for obj in delta[1].objects:
                    out.append((key_of(obj), _new_delta(Delta, (DeltaType.REPLACED, obj))))
        return out

    def list_keys(self) -> list[str]:
        """The distinct keys with a change queued, in the order they first appear (as DeltaFIFO's)."""
        return list(dict.fromkeys(key for key, _ in self._keyed()))

    def get_by_key(self, key: str) -> Deltas | None:
        """The changes queued for ``key``, oldest first (an object of a queued list as a Replaced
        delta), or None: the same view DeltaFIFO gives of a key."""
        found = [delta for k, delta in self._keyed() if k == key]
        return found or None
