"""The Builder: a controller in a few lines, like controller-runtime's ``builder.ControllerManagedBy``.

::

    async def reconcile(key: str) -> Result | None:
        namespace, name = split_meta_namespace_key(key)
        ...                                               # mgr.client.get(...) reads the cache

    (mgr.controller("foo-controller")                    # or Builder(mgr, "foo-controller")
        .for_("samplecontroller.k8s.io/v1alpha1", "Foo", predicates=[generation_changed])
        .owns("apps/v1", "Deployment")                    # a Deployment's events reconcile its Foo
        .watches("v1", "ConfigMap", enqueue_mapped(foos_using))   # any other mapping
        .with_options(max_concurrent_reconciles=2)
        .with_finalizer("samplecontroller.k8s.io/cleanup", cleanup)
        .complete(reconcile))                             # -> the Controller, added to the Manager

What it wires, in controller-runtime's way:

* ``for_``: the reconciled kind; its events enqueue the object's own key (``enqueue_object``).
* ``owns``: events of owned objects enqueue the key of their owner of the ``for_`` kind (the
  controlling owner only, unless ``only_controller=False``), namespaced or not as the RESTMapper says.
* ``watches``: events of any kind through your :class:`~pycontroller.handler.EventHandler` (a plain
  function of the object returning keys is taken as ``enqueue_mapped(fn)``).
* ``with_event_filter``: predicates applied to every watch; ``predicates=`` to one.
* Every informer is the Manager's shared one (``mgr.informer_for(api_version, kind)``), so two
  controllers watching Deployments share one watch; kinds are resolved by the Manager's RESTMapper
  when its caches start, and a kind the server does not serve makes ``mgr.run()`` raise
  :class:`~pycontroller.errors.NoKindMatchError` at once.
* ``with_finalizer(name, cleanup)``: a :class:`~pycontroller.finalizer.Finalizers` step runs before
  your reconcile: the name is added to live objects of the ``for_`` kind (one write), and for an
  object being deleted ``cleanup(obj)`` runs, then the name is removed; your reconcile is not
  called for an object whose finalizers are being handled. A failing cleanup is retried with the
  key's backoff and reported as a Warning Event ``FinalizerError``.
* ``complete(reconcile)``: ``reconcile(key)`` as everywhere in pycontroller. ``reconcile_object(fn)``
  instead calls ``fn(obj)`` with a copy of the cached object of the ``for_`` kind, or ``None`` when
  it is gone (use a finalizer when the deletion needs work).

Mistakes are :class:`BuilderError` (a :class:`~pycontroller.errors.PyControllerError` and a
``ValueError``): ``complete()`` without ``for_()``, ``for_()`` twice, a name used by another live
controller, a Builder completed twice. Nothing here suspends; the Builder is used before ``run()``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from pycontroller.controller import Controller, ReconcileFunc
from pycontroller.errors import ConflictError, PyControllerError
from pycontroller.finalizer import Cleanup, Finalizers
from pycontroller.handler import EventHandler, enqueue_mapped, enqueue_object, enqueue_owner
from pycontroller.predicate import Predicate
from pycontroller.reconcile import Result

__all__ = ["Builder", "BuilderError"]

ObjectReconcileFunc = Callable[[Any], Any]


class BuilderError(PyControllerError, ValueError):
    """A controller was described wrongly (no ``for_()``, a duplicate name, ...)."""


@attrs.frozen
class _Watch:
    api_version: str
    kind: str
    role: str  # "for", "owns" or "watches"
    handler: EventHandler | None
    predicates: tuple[Predicate, ...]
    only_controller: bool = True


def _predicates(value: Iterable[Predicate] | Predicate, what: str) -> tuple[Predicate, ...]:
    preds = (value,) if isinstance(value, Predicate) else tuple(value)
    for p in preds:
        if not isinstance(p, Predicate):
            raise TypeError(f"{what}: predicates must be Predicate objects, got {p!r}")
    return preds


def _kind_args(api_version: Any, kind: Any, what: str) -> None:
    if not isinstance(api_version, str) or not api_version:
        raise TypeError(f"{what}: api_version must be a string like 'apps/v1' or 'v1', got {api_version!r}")
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"{what}: kind must be a string like 'Deployment', got {kind!r}")


class Builder:
    """Describes one controller of ``mgr`` named ``name`` (see the module doc). Methods chain."""

    def __init__(self, mgr: Any, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"a controller name must be a non-empty string, got {name!r}")
        self._mgr = mgr
        self._name = name
        self._for: _Watch | None = None
        self._watches: list[_Watch] = []
        self._filters: list[Predicate] = []
        self._options: dict[str, Any] = {}
        self._finalizers = Finalizers()
        self._completed = False
        self._sharded: str | None = None  # the ring name ("" for the Manager's ring) when sharded

    @property
    def name(self) -> str:
        return self._name

    def for_(
        self, api_version: str, kind: str, *, predicates: Iterable[Predicate] | Predicate = ()
    ) -> Builder:
        """The kind this controller reconciles; its events enqueue the object's own key. Once only."""
        _kind_args(api_version, kind, f"controller {self._name!r}: for_()")
        if self._for is not None:
            raise BuilderError(
                f"controller {self._name!r}: for_() was already called with {self._for.kind}; "
                "a controller reconciles one kind (use owns() or watches() for the others)"
            )
        self._for = _Watch(api_version, kind, "for", None, _predicates(predicates, "for_()"))
        return self

    def owns(
        self,
        api_version: str,
        kind: str,
        *,
        only_controller: bool = True,
        predicates: Iterable[Predicate] | Predicate = (),
    ) -> Builder:
        """Watch objects of ``kind`` owned by the ``for_`` kind; their events reconcile the owner."""
        _kind_args(api_version, kind, f"controller {self._name!r}: owns()")
        self._watches.append(
            _Watch(api_version, kind, "owns", None, _predicates(predicates, "owns()"), bool(only_controller))
        )
        return self

    def watches(
        self,
        api_version: str,
        kind: str,
        handler: EventHandler | Callable[[Any], Iterable[str] | None],
        *,
        predicates: Iterable[Predicate] | Predicate = (),
    ) -> Builder:
        """Watch ``kind`` with ``handler`` (an EventHandler, or a function of the object returning
        the keys to reconcile, taken as ``enqueue_mapped(fn)``)."""
        _kind_args(api_version, kind, f"controller {self._name!r}: watches()")
        if not isinstance(handler, EventHandler):
            if not callable(handler):
                raise TypeError(
                    f"controller {self._name!r}: watches() takes an EventHandler or a function, "
                    f"got {type(handler).__name__}"
                )
            handler = enqueue_mapped(handler)
        self._watches.append(
            _Watch(api_version, kind, "watches", handler, _predicates(predicates, "watches()"))
        )
        return self

    def with_event_filter(self, predicate: Predicate) -> Builder:
        """A predicate every watch of this controller applies (in addition to their own)."""
        self._filters.extend(_predicates(predicate, "with_event_filter()"))
        return self

    def with_options(
        self,
        *,
        max_concurrent_reconciles: int | None = None,
        rate_limiter: Any = None,
        reconcile_timeout: float | None = None,
        low_priority_initial: bool | None = None,
        need_leader_election: bool | None = None,
        cache_sync_timeout: float | None = None,
    ) -> Builder:
        """Options of the :class:`~pycontroller.Controller` (validated by it at ``complete()``)."""
        given = {
            "max_concurrent_reconciles": max_concurrent_reconciles,
            "rate_limiter": rate_limiter,
            "reconcile_timeout": reconcile_timeout,
            "low_priority_initial": low_priority_initial,
            "need_leader_election": need_leader_election,
            "cache_sync_timeout": cache_sync_timeout,
        }
        self._options.update({k: v for k, v in given.items() if v is not None})
        return self

    def with_finalizer(self, name: str, cleanup: Cleanup) -> Builder:
        """Keep objects of the ``for_`` kind until ``cleanup(obj)`` succeeded (module doc)."""
        self._finalizers.register(name, cleanup)
        return self

    def sharded(self, ring: str | None = None) -> Builder:
        """Reconcile only this replica's shard of the ``for_`` objects (docs/sharding.md).

        Needs ``Manager(sharding=ShardingOptions(...))``, whose ring must shard the ``for_`` kind;
        ``ring``, when given, must be that ring's name. The controller then runs in every replica
        (``need_leader_election=False`` unless set), the Manager's informers of the ring's resources
        watch only this shard's label, and every reconcile follows the drain hand-over: never for an
        object labelled for drain, which is acknowledged once its reconcile in flight returned.
        Checked at ``complete()`` (:class:`BuilderError`).
        """
        if ring is not None and (not isinstance(ring, str) or not ring):
            raise TypeError(f"controller {self._name!r}: sharded() takes a ring name, got {ring!r}")
        self._sharded = ring or ""
        return self

    # -- completing -------------------------------------------------------------------------------

    def complete(self, reconcile: ReconcileFunc) -> Controller:
        """Build the Controller around ``reconcile(key)``, add it to the Manager and return it."""
        if not callable(reconcile):
            raise TypeError(
                f"controller {self._name!r}: complete() takes the reconcile function, got "
                f"{type(reconcile).__name__}"
            )
        return self._build(reconcile, None)

    def reconcile_object(self, fn: ObjectReconcileFunc) -> Controller:
        """Like :meth:`complete`, with ``fn(obj)`` receiving a copy of the cached ``for_`` object,
        or ``None`` when it is gone."""
        if not callable(fn):
            raise TypeError(
                f"controller {self._name!r}: reconcile_object() takes a function, got {type(fn).__name__}"
            )
        return self._build(None, fn)

    def _build(self, by_key: ReconcileFunc | None, by_object: ObjectReconcileFunc | None) -> Controller:
        if self._completed:
            raise BuilderError(f"controller {self._name!r}: this Builder was already completed")
        if self._for is None:
            raise BuilderError(
                f"controller {self._name!r}: complete() needs for_(api_version, kind) first: "
                "the kind the controller reconciles"
            )
        if getattr(self._mgr, "_started", False):
            raise BuilderError(
                f"controller {self._name!r}: the Manager has already started; build controllers before run()"
            )
        sharding = self._sharding() if self._sharded is not None else None
        runtime = _Runtime(self._mgr, self._name, self._for, self._finalizers, by_key, by_object)
        reconcile = runtime.reconcile_function()
        if sharding is not None:
            reconcile = _sharded(sharding, reconcile, runtime)
            self._options.setdefault("need_leader_election", False)
        try:
            controller = Controller(self._name, reconcile, **self._options)
        except ValueError as exc:
            if "already exists" in str(exc):
                raise BuilderError(str(exc)) from None
            raise
        runtime.controller = controller
        self._completed = True
        filters = tuple(self._filters)
        for watch in (self._for, *self._watches):
            # The Manager's shared informer: resolved by its RESTMapper when the caches start (an
            # unknown kind fails Manager.run() with NoKindMatchError there).
            informer = self._mgr.informer_for(watch.api_version, watch.kind)
            handler: EventHandler
            if watch.role == "for":
                runtime.informer = informer
                handler = enqueue_object()
            elif watch.role == "owns":
                # The owner kind's scope comes from the RESTMapper too (namespaced owner: "ns/name").
                handler = enqueue_owner(
                    self._for.api_version, self._for.kind, only_controller=watch.only_controller
                )
            else:
                assert watch.handler is not None
                handler = watch.handler
            controller.watch(informer, handler, predicates=(*filters, *watch.predicates))
        if sharding is not None:
            informer = runtime.informer

            def requeue_all() -> None:  # a shard ready again (re)visits everything it caches
                for key in informer.indexer.list_keys():
                    controller.enqueue(key)

            sharding.shard.on_ready(requeue_all)
        self._mgr.add(controller)
        return controller

    def _sharding(self) -> Any:
        """The Manager's sharding for a ``.sharded()`` controller, checked against the ``for_`` kind."""
        assert self._for is not None
        sharding = getattr(self._mgr, "sharding", None)
        if sharding is None:
            raise BuilderError(
                f"controller {self._name!r}: sharded() needs Manager(sharding=ShardingOptions(...))"
            )
        ring = sharding.ring
        if self._sharded and self._sharded != ring.name:
            raise BuilderError(
                f"controller {self._name!r}: sharded({self._sharded!r}), but this Manager's ring is "
                f"{ring.name!r}"
            )
        group = self._for.api_version.rpartition("/")[0]
        if not any(r.group == group and r.kind == self._for.kind for r in ring.resources):
            raise BuilderError(
                f"controller {self._name!r}: ring {ring.name!r} does not shard {self._for.kind} "
                f"({self._for.api_version}); it shards "
                + ", ".join(f"{r.kind} ({r.group or 'core'})" for r in ring.resources)
            )
        return sharding


class _Runtime:
    """What a built controller needs while it runs: the resolved for_ kind, its informer, the
    finalizers, and the user's function."""

    def __init__(
        self,
        mgr: Any,
        name: str,
        for_: _Watch,
        finalizers: Finalizers,
        by_key: ReconcileFunc | None,
        by_object: ObjectReconcileFunc | None,
    ) -> None:
        self.mgr = mgr
        self.name = name
        self.for_ = for_
        self.finalizers = finalizers
        self.by_key = by_key
        self.by_object = by_object
        self.informer: Any = None
        self.controller: Controller | None = None
        self._recorder: Any = None

    def reconcile_function(self) -> ReconcileFunc:
        if self.by_key is not None and not self.finalizers:
            return self.by_key  # nothing to add: the user's function runs as it is
        if self.by_key is not None:
            user: Callable[[str, Any], Any] = _adapt(self.by_key, lambda key, obj: (key,))
        else:
            assert self.by_object is not None
            user = _adapt(self.by_object, lambda key, obj: (obj,))

        @functools.wraps(self.by_key or self.by_object)  # type: ignore[arg-type]
        async def reconcile(key: str) -> Result | None:
            cached = self.informer.indexer.get_by_key(key) if self.informer is not None else None
            if cached is not None and self.finalizers and self._finalizers_apply(cached):
                try:
                    result, _ = await self.finalizers.reconcile(
                        self.mgr.get_api_reader(), self.informer.gvr, cached, recorder=self.recorder()
                    )
                except ConflictError:
                    return Result(requeue=True)  # the cache was behind: retry after the backoff
                if result.deleting:
                    return None  # cleanups done and names removed: nothing else to do
            obj = None if cached is None else _copy(cached)
            outcome = user(key, obj)
            if inspect.isawaitable(outcome):
                outcome = await outcome
            return outcome  # type: ignore[no-any-return]

        return reconcile

    def _finalizers_apply(self, obj: Any) -> bool:
        meta = obj.get("metadata") or {}
        if not meta.get("deletionTimestamp"):
            present = set(meta.get("finalizers") or ())
            return any(name not in present for name in self.finalizers.names)
        return any(name in (meta.get("finalizers") or ()) for name in self.finalizers.names)

    def recorder(self) -> Any:
        if self._recorder is None:
            get = getattr(self.mgr, "get_event_recorder_for", None)
            self._recorder = get(self.name) if get is not None else None
        return self._recorder


def _sharded(sharding: Any, reconcile: ReconcileFunc, runtime: _Runtime) -> ReconcileFunc:
    """``reconcile`` inside the shard's protocol. The wrapper needs the ``for_`` informer's resolved
    resource, known once the caches started: it is made at the first reconcile, once."""
    wrapped: list[Callable[[str], Any]] = []

    async def reconcile_in_shard(key: str) -> Result | None:
        if not wrapped:
            wrapped.append(sharding.wrap_reconcile(reconcile, runtime.informer))
        result: Result | None = await wrapped[0](key)
        return result

    return reconcile_in_shard


def _copy(obj: Any) -> Any:
    import orjson

    return orjson.loads(orjson.dumps(obj))


def _adapt(fn: Callable[..., Any], args: Callable[[str, Any], tuple[Any, ...]]) -> Callable[[str, Any], Any]:
    """Call ``fn(*args(key, obj))``: on the loop when async, in a thread (log context copied) else."""
    is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - an object with an async __call__
    )
    if is_async:
        return lambda key, obj: fn(*args(key, obj))

    async def in_thread(key: str, obj: Any) -> Any:
        ctx = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(None, ctx.run, fn, *args(key, obj))

    return in_thread
