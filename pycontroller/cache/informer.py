"""SharedIndexInformer: one list-and-watch per resource, an indexed cache, and event handlers.

The flow (client-go's ``sharedIndexInformer``)::

    Reflector --add/update/delete/replace--> RealFIFO  --batches--> _process_batch  (in order: default)
                                         or  DeltaFIFO --keys-----> _process_deltas (in_order=False)
                                                                   |-- Indexer (the cache)
                                                                   '-- every handler's buffer --> its task

Both apply each change to the indexer, then notify handlers: an object the cache did not hold is an
add, one it held is an update, a delete is a delete. An update whose old and new objects carry the
same resourceVersion is a resync (a Sync, or a relist that found the object unchanged): it goes only
to the handlers whose own resync period is due, as in client-go. With the RealFIFO a relist
(``ReplacedAll``) replaces the whole cache in one step before handlers hear of it, and changes are
applied in batches of distinct keys under one store lock (see :mod:`pycontroller.cache.real_fifo`).

Handlers (see :mod:`pycontroller.cache.handlers`) may be added at any time; one added while the
informer runs first receives the current cache as adds with ``is_in_initial_list=True``. Each
handler's resync period is floored at 1 s; ``None`` takes the informer's default. The informer keeps
one timer for the earliest due resync (client-go polls; the behaviour is the same).

Lifecycle: ``start()`` (no await; needs a running loop) or ``await run()``; ``await stop()`` cancels
the reflector, the processing loop and every handler task and waits for them. A stopped informer
cannot be restarted, and ``add_event_handler`` on it raises :class:`~pycontroller.errors.ShutDownError`.
Everything runs on one event loop; only the :attr:`indexer` (and listers over it) may be read from
other threads. Cached objects are shared: handlers and readers must not mutate them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from pycontroller.cache.delta_fifo import DELETED, DeltaFIFO, Deltas, DeltaType
from pycontroller.cache.handlers import (
    ADD,
    DELETE,
    UPDATE,
    ResourceEventHandler,
    ResourceEventHandlerRegistration,
)
from pycontroller.cache.keys import (
    NAMESPACE_INDEX,
    DeletedFinalStateUnknown,
    IndexFunc,
    KeyFunc,
    deletion_handling_meta_namespace_key_func,
    meta_namespace_index_func,
)
from pycontroller.cache.listers import Lister
from pycontroller.cache.listwatch import gc_paused
from pycontroller.cache.mutation import CacheMutationDetector, mutation_detection_enabled
from pycontroller.cache.real_fifo import RealFIFO, ReplacedAllInfo
from pycontroller.cache.store import Indexer
from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.clock import Clock, TimerHandle, default_clock
from pycontroller.errors import ShutDownError

__all__ = [
    "IN_ORDER_BY_DEFAULT",
    "MINIMUM_RESYNC_PERIOD",
    "MUTATION_CHECK_PERIOD",
    "ReflectorLike",
    "SharedIndexInformer",
    "drop_managed_fields",
    "new_informer",
]

log = logging.getLogger("pycontroller.cache.informer")

#: client-go's minimumResyncPeriod: shorter positive handler resync periods are raised to this.
MINIMUM_RESYNC_PERIOD = 1.0
#: How often the mutation detector (when on) compares the cached objects with their copies.
MUTATION_CHECK_PERIOD = 10.0
#: How many keys (DeltaFIFO) or deltas (RealFIFO) the processing loop handles before yielding.
_BATCH = 512
#: Whether informers deliver events in order through a RealFIFO unless told otherwise (see
#: docs/guarantees.md for the numbers and client-go's reasons behind the choice).
IN_ORDER_BY_DEFAULT = True

_REPLACED_ALL = DeltaType.REPLACED_ALL
_SYNC_ALL = DeltaType.SYNC_ALL


class ReflectorLike(Protocol):
    """What the informer needs of a reflector (``pycontroller.cache.reflector.Reflector``)."""

    async def run(self) -> None: ...

    def last_sync_resource_version(self) -> str: ...


def drop_managed_fields(obj: Any) -> Any:
    """A transform for :meth:`SharedIndexInformer.set_transform`: removes ``metadata.managedFields``
    in place (roughly halves the memory of a cached ConfigMap) and returns the object."""
    meta = obj.get("metadata") if obj.__class__ is dict else None
    if meta is not None and meta.__class__ is dict:
        meta.pop("managedFields", None)
    return obj


def new_informer(
    client: Any,
    gvr: GroupVersionResource,
    handler: ResourceEventHandler,
    *,
    resync_period: float = 0.0,
    key_func: KeyFunc | None = None,
    indexers: Mapping[str, IndexFunc] | None = None,
    transform: Callable[[Any], Any] | None = None,
    in_order: bool | None = None,
    **options: Any,
) -> tuple[Indexer, SharedIndexInformer]:
    """A plain, unshared informer with ONE handler: (its cache, the informer to run).

    client-go's ``NewInformerWithOptions`` / ``NewIndexerInformer``: nothing is shared with other
    users (use a :class:`~pycontroller.cache.factory.SharedInformerFactory` for that); ``handler``
    hears every change and, every ``resync_period`` seconds (0: never), an update for every cached
    object. ``key_func`` keys the cache (default ``namespace/name``); ``indexers`` add indexes
    (besides the namespace one); ``transform`` shapes each object before it is cached (see
    :meth:`SharedIndexInformer.set_transform`); ``in_order`` picks the queue (default in order).
    Other keyword ``options`` are SharedIndexInformer's (``namespace``, ``label_selector``,
    ``field_selector``, ``clock``, ``reflector_options``...). Never suspends: run it with
    ``informer.start()`` or ``await informer.run()``, stop it with ``await informer.stop()``.
    """
    informer = SharedIndexInformer(
        client,
        gvr,
        resync_period=resync_period,
        indexers=indexers,
        in_order=in_order,
        key_func=key_func,
        **options,
    )
    if transform is not None:
        informer.set_transform(transform)
    informer.add_event_handler(handler, resync_period)
    return informer.indexer, informer


def _tombstone_aware(key_func: KeyFunc) -> KeyFunc:
    def key_of(obj: Any) -> str:
        if obj.__class__ is DeletedFinalStateUnknown:
            return str(obj.key)
        return key_func(obj)

    return key_of


def _resource_version(obj: Any) -> Any:
    try:
        return obj["metadata"].get("resourceVersion")
    except (KeyError, TypeError, AttributeError):
        return None


class SharedIndexInformer:
    """Lists and watches one resource into :attr:`indexer` and tells event handlers about changes.

    ``client`` is a :class:`~pycontroller.client.RestClient` or a kubernetes_asyncio ``ApiClient``.
    ``namespace`` limits it to one namespace; ``label_selector``, ``field_selector`` and
    ``tweak_list_options`` shape every list and watch request. ``indexers`` adds to the default
    namespace index. ``reflector_factory(store)`` replaces the default
    :class:`~pycontroller.cache.reflector.Reflector` (tests drive the informer through it).
    ``detect_mutations`` turns on the debug :class:`~pycontroller.cache.mutation.CacheMutationDetector`
    (checked every 10 s; None: as ``PYCONTROLLER_CACHE_MUTATION_DETECTOR`` says).
    ``reflector_options`` are passed to the Reflector as keyword arguments (for example
    ``use_streaming_list=True``, ``watch_inactivity_timeout=90``, ``page_size=1000``).

    ``in_order`` picks the queue between reflector and cache: True (None: :data:`IN_ORDER_BY_DEFAULT`)
    a :class:`~pycontroller.cache.real_fifo.RealFIFO`, delivering every change in the order it
    happened, relists and resyncs as atomic steps, applied in batches (client-go 1.36's default);
    False a :class:`~pycontroller.cache.delta_fifo.DeltaFIFO`, which coalesces the changes of a key
    queued behind each other. ``key_func`` replaces the ``namespace/name`` key of the cache (and of
    the queue); tombstones keep their recorded key.
    """

    def __init__(
        self,
        client: Any,
        gvr: GroupVersionResource,
        *,
        namespace: str | None = None,
        resync_period: float = 0.0,
        indexers: Mapping[str, IndexFunc] | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        tweak_list_options: Callable[[dict[str, Any]], Any] | None = None,
        clock: Clock | None = None,
        reflector_factory: Callable[[DeltaFIFO], ReflectorLike] | None = None,
        name: str | None = None,
        detect_mutations: bool | None = None,
        reflector_options: Mapping[str, Any] | None = None,
        in_order: bool | None = None,
        key_func: KeyFunc | None = None,
    ) -> None:
        if resync_period < 0:
            raise ValueError(f"resync_period must not be negative, got {resync_period}")
        self.client = RestClient.wrap(client) if client is not None else None
        if self.client is None and reflector_factory is None:
            raise TypeError("a SharedIndexInformer needs a client (or a reflector_factory)")
        self.gvr = gvr
        self.namespace = namespace
        self.name = name or (f"{gvr}/{namespace}" if namespace else str(gvr))
        self.default_resync_period = float(resync_period)
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.tweak_list_options = tweak_list_options
        all_indexers: dict[str, IndexFunc] = {NAMESPACE_INDEX: meta_namespace_index_func}
        if indexers:
            all_indexers.update(indexers)
        if key_func is not None and not callable(key_func):
            raise TypeError("key_func must be callable")
        self._key_func: KeyFunc = (
            deletion_handling_meta_namespace_key_func if key_func is None else _tombstone_aware(key_func)
        )
        #: Whether events are delivered in order (RealFIFO) rather than coalesced (DeltaFIFO).
        self.in_order = IN_ORDER_BY_DEFAULT if in_order is None else bool(in_order)
        #: The cache: thread-safe, shared objects (never mutate them).
        self.indexer = Indexer(self._key_func, all_indexers)
        self._clock = clock or default_clock()
        self._reflector_factory = reflector_factory
        #: The reflector applies the transform itself (the built-in one, or a factory's that reads
        #: ``_transform`` and ``_cached_for`` at start): the FIFO must not transform again.
        self._reflector_transforms = reflector_factory is None
        self._reflector_options = dict(reflector_options or {})
        self._handler_count = 0
        self._transform: Callable[[Any], Any] | None = None
        self._watch_error_handler: Callable[..., Any] | None = None
        self._registrations: list[ResourceEventHandlerRegistration] = []
        self._syncing: list[ResourceEventHandlerRegistration] = []
        self._fifo: DeltaFIFO | RealFIFO | None = None
        self._reflector: ReflectorLike | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._resync_timer: TimerHandle | None = None
        # Set once synced OR stopped: what wait_for_sync waits for.
        self._synced_event = asyncio.Event()
        self._started = False
        self._stopped = False
        #: Deltas whose processing raised (a broken index function); logged and dropped.
        self.process_errors = 0
        if detect_mutations is None:
            detect_mutations = mutation_detection_enabled()
        #: The debug mutation detector (None unless enabled); see :mod:`pycontroller.cache.mutation`.
        self.mutation_detector = CacheMutationDetector(self.name) if detect_mutations else None
        self._mutation_timer: TimerHandle | None = None

    # -- configuration -----------------------------------------------------------------------------

    def set_transform(self, transform: Callable[[Any], Any] | None) -> None:
        """Transform every object before it is cached and handed to handlers. Only before start.

        Typical use: drop ``metadata.managedFields``, which the cache rarely needs. Measured with
        tracemalloc on 10k ConfigMaps as the API server returns them (~710 bytes of JSON plus one
        managedFields entry, 954 bytes in all): each decoded object retains 3.66 KB with
        managedFields and 1.91 KB without, so the cache shrinks by 48%; objects with several
        managers (Deployments, Pods) save more. (The informer itself adds ~4% over the decoded
        dicts: 3.82 KB per cached object for the 3.66 KB dict.) The function receives the
        decoded object (it may mutate and return it) and must be fast: it runs once per object
        and event; if it raises, the reflector sees a failed list or watch and retries. Use
        :func:`drop_managed_fields` for the common case. Raises ``RuntimeError`` once started.
        """
        if self._started:
            raise RuntimeError(f"informer {self.name} has already started; set the transform before")
        if transform is not None and not callable(transform):
            raise TypeError("transform must be callable")
        self._transform = transform

    def set_watch_error_handler(self, handler: Callable[..., Any]) -> None:
        """Pass the reflector's list/watch errors to ``handler(reflector, exc)``. Only before start."""
        if self._started:
            raise RuntimeError(f"informer {self.name} has already started; set the handler before")
        self._watch_error_handler = handler

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        """Add indexes to the cache (back-filled; ValueError on a name clash). Any time."""
        self.indexer.add_indexers(indexers)

    # -- handlers ----------------------------------------------------------------------------------

    def add_event_handler(
        self, handler: ResourceEventHandler, resync_period: float | None = None, *, name: str | None = None
    ) -> ResourceEventHandlerRegistration:
        """Register ``handler``; returns its registration. Never suspends.

        ``resync_period`` None means the informer's default; 0 disables resyncs for this handler;
        positive values below 1 s are raised to 1 s. When the informer is running, the handler first
        receives every cached object as an add with ``is_in_initial_list=True``. Raises
        ``ShutDownError`` once the informer stopped, ``TypeError`` for a handler without the methods.
        """
        if self._stopped:
            raise ShutDownError(f"informer {self.name} has stopped; the handler was not added")
        period = self.default_resync_period if resync_period is None else float(resync_period)
        if period < 0:
            raise ValueError(f"resync_period must not be negative, got {period}")
        if 0 < period < MINIMUM_RESYNC_PERIOD:
            log.warning(
                "resync period %ss of a handler of %s is too small; using %ss",
                period,
                self.name,
                MINIMUM_RESYNC_PERIOD,
            )
            period = MINIMUM_RESYNC_PERIOD
        registration = ResourceEventHandlerRegistration(
            handler,
            period,
            self.has_synced,
            self._clock.now() + period,
            name or f"{self.name}#{self._handler_count}:{type(handler).__name__}",
        )
        self._handler_count += 1
        self._registrations.append(registration)
        if self._loop is not None:
            for obj in self.indexer.list():
                registration._add((ADD, obj, True))
            registration._start(self._loop)
            self._schedule_resync()
        return registration

    def remove_event_handler(self, registration: ResourceEventHandlerRegistration) -> None:
        """Stop delivering to a handler; returns at once. Never suspends; idempotent.

        As client-go: notifications not yet delivered are dropped, a handler call already running
        is NOT interrupted (it finishes on its own task; see :meth:`shut_down_event_handler` to
        wait for it), and a registration of another informer (or one already removed) is ignored.
        """
        self._remove(registration)

    async def shut_down_event_handler(self, registration: ResourceEventHandlerRegistration) -> None:
        """Remove a handler like :meth:`remove_event_handler`, then wait until a handler call
        that was running has finished. Suspends only while such a call runs. A registration of
        another informer is ignored (returns at once)."""
        task = self._remove(registration)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    def _remove(self, registration: ResourceEventHandlerRegistration) -> asyncio.Task[None] | None:
        if not any(r is registration for r in self._registrations):
            return None  # another informer's, or already removed: nothing of ours to stop
        self._registrations = [r for r in self._registrations if r is not registration]
        self._syncing = [r for r in self._syncing if r is not registration]
        task = registration._stop(cancel=False)
        if self._loop is not None:
            self._schedule_resync()
        return task

    @property
    def registrations(self) -> list[ResourceEventHandlerRegistration]:
        """The registered handlers (a copy)."""
        return list(self._registrations)

    def backlog(self) -> int:
        """The total number of notifications buffered for this informer's handlers."""
        return sum(r.backlog for r in self._registrations)

    # -- state -------------------------------------------------------------------------------------

    def has_synced(self) -> bool:
        """Whether the first full list has been popped into the cache (handlers may lag)."""
        fifo = self._fifo
        return fifo is not None and fifo.has_synced()

    async def wait_for_sync(self, timeout: float | None = None) -> bool:
        """Suspend until :meth:`has_synced` or ``timeout`` seconds of the informer's clock pass.

        Returns whether it synced; returns (False unless synced) as soon as the informer stops.
        """
        if self.has_synced():
            return True
        if self._stopped:
            return False
        waiter = asyncio.ensure_future(self._synced_event.wait())
        try:
            if timeout is None:
                await waiter
            else:
                sleeper = asyncio.ensure_future(self._clock.sleep(timeout))
                try:
                    await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    sleeper.cancel()
        finally:
            waiter.cancel()
        return self.has_synced()

    def last_sync_resource_version(self) -> str:
        """The resourceVersion the reflector last synced to ("" before the first list)."""
        reflector = self._reflector
        return reflector.last_sync_resource_version() if reflector is not None else ""

    @property
    def reflector_stats(self) -> Any:
        """The running reflector's counters (``ReflectorStats``: lists, relists, watch errors, stalls,
        bad input...), or None before start. Read them any time; they are plain ints."""
        return getattr(self._reflector, "stats", None)

    @property
    def is_started(self) -> bool:
        return self._started

    @property
    def is_stopped(self) -> bool:
        return self._stopped

    def lister(self) -> Lister:
        """A :class:`Lister` over this informer's cache."""
        return Lister(self.indexer, self.gvr.resource)

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        """Start :meth:`run` as a task on the running loop and return it (idempotent)."""
        if self._stopped:
            raise ShutDownError(f"informer {self.name} has stopped and cannot be restarted")
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name=f"informer {self.name}")
        return self._task

    async def stop(self) -> None:
        """Stop the reflector, the processing loop and every handler task; wait for them.

        Pending ``wait_for_sync`` calls return (False unless the informer had synced). Idempotent.
        """
        self._stopped = True
        self._synced_event.set()
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._stop_handlers()

    async def _stop_handlers(self) -> None:
        tasks = [t for t in (r._stop() for r in self._registrations) if t is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def run(self) -> None:
        """List, watch and dispatch until cancelled (or :meth:`stop`). Suspends throughout."""
        if self._started:
            raise RuntimeError(f"informer {self.name} is already running")
        if self._stopped:
            raise ShutDownError(f"informer {self.name} has stopped and cannot be restarted")
        self._started = True
        loop = self._loop = asyncio.get_running_loop()
        fifo: DeltaFIFO | RealFIFO
        # The built-in Reflector applies the transform as each object is decoded (a list page by
        # page, item by item), so the untransformed list is never held whole; its FIFO must then
        # not transform again. A custom reflector factory feeds raw objects: its FIFO transforms
        # (unless the factory's reflectors transform, as the multi-namespace one's do).
        fifo_transform = None if self._reflector_transforms else self._transform
        if self.in_order:
            fifo = RealFIFO(self._key_func, transformer=fifo_transform)
        else:
            fifo = DeltaFIFO(self._key_func, self.indexer, transformer=fifo_transform)
        self._fifo = fifo
        fifo.on_synced = self._synced_event.set  # an empty first list: nothing will be popped
        reflector = self._reflector = self._make_reflector(fifo)
        now = self._clock.now()
        for registration in self._registrations:
            registration.next_resync = now + registration.resync_period
            registration._start(loop)
        reflector_task = loop.create_task(reflector.run(), name=f"reflector {self.name}")
        self._schedule_resync()
        if self.mutation_detector is not None:
            self._schedule_mutation_check()
        try:
            if isinstance(fifo, RealFIFO):
                await self._process_loop_in_order(fifo)
            else:
                await self._process_loop(fifo)
        finally:
            self._stopped = True
            self._synced_event.set()  # release wait_for_sync callers
            if self._resync_timer is not None:
                self._resync_timer.cancel()
            if self._mutation_timer is not None:
                self._mutation_timer.cancel()
            reflector_task.cancel()
            await asyncio.gather(reflector_task, return_exceptions=True)
            fifo.close()
            await self._stop_handlers()

    def _make_reflector(self, fifo: Any) -> ReflectorLike:
        if self._reflector_factory is not None:
            return self._reflector_factory(fifo)
        from pycontroller.cache.reflector import Reflector  # the reflector module is heavier

        assert self.client is not None
        reflector = Reflector(
            self.client,
            self.gvr,
            fifo,
            namespace=self.namespace,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            tweak_list_options=self.tweak_list_options,
            clock=self._clock,
            name=f"reflector({self.name})",
            transform=self._transform,
            # reflector_options may set known_object=None: every relist then decodes a new copy.
            **{"known_object": self._cached_for, **self._reflector_options},
        )
        if self._watch_error_handler is not None:
            reflector.set_watch_error_handler(self._watch_error_handler)
        return reflector

    def _cached_for(self, obj: Any) -> Any:
        """What the cache holds under ``obj``'s key, or None (also for an object the key function
        refuses: the reflector then keeps the listed object). The reflector's ``known_object``."""
        try:
            key = self._key_func(obj)
        except Exception:  # only a lookup: the object goes on, and is keyed (and refused) later
            return None
        return self.indexer.get_by_key(key)

    async def _process_loop(self, fifo: DeltaFIFO) -> None:
        queue = fifo._queue
        drain = fifo._drain
        process = self._process_deltas
        synced_event = self._synced_event
        while True:
            if not queue:
                await fifo.wait()
                if not queue:  # closed
                    return
            drain(process, _BATCH)
            if not synced_event.is_set() and fifo.has_synced():
                synced_event.set()
            await asyncio.sleep(0)

    async def _process_loop_in_order(self, fifo: RealFIFO) -> None:
        items = fifo._items
        pop = fifo._drain_keyed
        process = self._process_batch
        synced_event = self._synced_event
        while True:
            if not items:
                await fifo.wait()
                if not items:  # closed
                    return
            done = 0
            while items and done < _BATCH:
                done += pop(process)
            if not synced_event.is_set() and fifo.has_synced():
                synced_event.set()
            await asyncio.sleep(0)

    def _process_batch(self, deltas: Deltas, keys: list[str | None], is_in_initial_list: bool) -> None:
        """Apply a batch of in-order deltas to the cache under one lock, notifying handlers in
        order (client-go's processDeltasInBatch). A delta that cannot be applied (a broken index
        function) is logged, counted and skipped; the others go on."""
        indexer = self.indexer
        apply_one = self._apply_one
        with indexer._lock:
            for (delta_type, obj), key in zip(deltas, keys, strict=True):
                try:
                    if key is not None:
                        apply_one(key, delta_type, obj, is_in_initial_list)
                    elif delta_type is _REPLACED_ALL:
                        with gc_paused():  # cachescale: a bulk step over every listed object
                            self._replace_all(obj, is_in_initial_list)
                    else:
                        self._sync_all()
                except Exception:
                    self.process_errors += 1
                    log.exception(
                        "%s: dropping a %s delta that could not be processed", self.name, delta_type
                    )

    def _apply_one(self, key: str, delta_type: DeltaType, obj: Any, is_in_initial_list: bool) -> None:
        indexer = self.indexer
        registrations = self._registrations
        if delta_type is DELETED:
            if indexer._delete(key, obj) is None:
                return  # not cached: nobody heard of it, so nobody hears of its delete (as DeltaFIFO)
            if registrations:
                notification: tuple[int, Any, Any] = (DELETE, obj, None)
                for r in registrations:
                    r._add(notification)
            return
        old = indexer._store(key, obj)
        if self.mutation_detector is not None:
            self.mutation_detector.add_object(key, obj, self._clock.now())
        if registrations:
            self._notify_stored(old, obj, is_in_initial_list)

    def _notify_stored(self, old: Any, obj: Any, is_in_initial_list: bool) -> None:
        if old is None:
            notification: tuple[int, Any, Any] = (ADD, obj, is_in_initial_list)
            for r in self._registrations:
                r._add(notification)
            return
        notification = (UPDATE, old, obj)
        if old is obj or _resource_version(old) == _resource_version(obj):
            for r in self._syncing:  # a resync: only handlers whose resync is due
                r._add(notification)
        else:
            for r in self._registrations:
                r._add(notification)

    def _replace_all(self, info: ReplacedAllInfo, is_in_initial_list: bool) -> None:
        """A whole list, atomically: the cache becomes exactly the list in one step; then handlers
        hear of the deletions it implies (tombstones) and of every add and update, in order."""
        indexer = self.indexer
        key_func = self._key_func
        # One keyed dict serves as the new cache and as the list of what to tell handlers: a
        # relist of N objects adds one dict of N entries (and the new indexes) over the cache,
        # nothing more (no per-object pairs or key sets beside it).
        items: dict[str, Any] = {}
        transformer = indexer.transformer
        for obj in info.objects:
            items[key_func(obj)] = obj if transformer is None else transformer(obj)
        current = indexer._items  # the old cache, read below for the notifications
        deletions = [DeletedFinalStateUnknown(key, old) for key, old in current.items() if key not in items]
        indexer._replace_keyed(items, info.resource_version)  # may raise: nothing changed, nobody told
        if self.mutation_detector is not None:
            now = self._clock.now()
            for key, obj in items.items():
                self.mutation_detector.add_object(key, obj, now)
        if not self._registrations:
            return
        for tombstone in deletions:
            notification: tuple[int, Any, Any] = (DELETE, tombstone, None)
            for r in self._registrations:
                r._add(notification)
        get_old = current.get
        notify = self._notify_stored
        for key, obj in items.items():
            notify(get_old(key), obj, is_in_initial_list)

    def _sync_all(self) -> None:
        """A resync: an update (old == new) of every cached object for handlers whose resync is due."""
        syncing = self._syncing
        if not syncing:
            return
        for obj in self.indexer.list():
            notification = (UPDATE, obj, obj)
            for r in syncing:
                r._add(notification)

    def _process_deltas(self, key: str, deltas: Deltas, is_in_initial_list: bool) -> None:
        """Apply one key's deltas to the cache and notify handlers (client-go's processDeltas).

        Only a broken index function can raise here; retrying the same object cannot help, so the
        error is logged and counted and the deltas are dropped (client-go's informers do not retry
        either).
        """
        try:
            self._apply(key, deltas, is_in_initial_list)
        except Exception:
            self.process_errors += 1
            log.exception("%s: dropping deltas for %s that could not be processed", self.name, key)

    def _apply(self, key: str, deltas: Deltas, is_in_initial_list: bool) -> None:
        indexer = self.indexer
        registrations = self._registrations
        for delta_type, obj in deltas:
            if delta_type is DELETED:
                indexer._delete(key, obj)
                if registrations:
                    notification: tuple[int, Any, Any] = (DELETE, obj, None)
                    for r in registrations:
                        r._add(notification)
                continue
            old = indexer._store(key, obj)
            if self.mutation_detector is not None:
                self.mutation_detector.add_object(key, obj, self._clock.now())
            if not registrations:
                continue
            if old is None:
                notification = (ADD, obj, is_in_initial_list)
                for r in registrations:
                    r._add(notification)
                continue
            notification = (UPDATE, old, obj)
            if old is obj or _resource_version(old) == _resource_version(obj):
                for r in self._syncing:  # a resync: only handlers whose resync is due
                    r._add(notification)
            else:
                for r in registrations:
                    r._add(notification)

    # -- mutation detection ------------------------------------------------------------------------

    def check_mutations(self, *, raise_on_mutation: bool = False) -> int:
        """Run the mutation detector now; returns how many cached objects were mutated in place.

        0 when the detector is off. With ``raise_on_mutation``, raises ``MutationError`` instead.
        """
        if self.mutation_detector is None:
            return 0
        return self.mutation_detector.check(self._clock.now(), raise_on_mutation=raise_on_mutation)

    def _schedule_mutation_check(self) -> None:
        def fire() -> None:
            if not self._stopped:
                self.check_mutations()
                self._schedule_mutation_check()

        self._mutation_timer = self._clock.call_at(self._clock.now() + MUTATION_CHECK_PERIOD, fire)

    # -- resync ------------------------------------------------------------------------------------

    def _schedule_resync(self) -> None:
        if self._resync_timer is not None:
            self._resync_timer.cancel()
            self._resync_timer = None
        if self._stopped:
            return
        due = [r.next_resync for r in self._registrations if r.resync_period > 0]
        if due:
            self._resync_timer = self._clock.call_at(min(due), self._on_resync_timer)

    def _on_resync_timer(self) -> None:
        self._resync_timer = None
        if self._stopped:
            return
        now = self._clock.now()
        syncing = [r for r in self._registrations if r._should_resync(now)]
        self._syncing = syncing  # as client-go: the set is recomputed at every check
        if syncing:
            fifo = self._fifo
            if fifo is not None:
                fifo.resync()
        self._schedule_resync()
