"""Event handlers: how a watched object's events become keys in a controller's queue.

* :func:`enqueue_object`: the object's own key (``"namespace/name"``, ``"name"`` if cluster-scoped).
* :func:`enqueue_owner`: the key of the object's owner of a given kind (its controller by default),
  so a Deployment's changes reconcile the Foo that owns it; the owner kind's scope (hence the key's
  shape) comes from the RESTMapper, once per handler.
* :func:`enqueue_mapped`: keys computed by a function of the object (on update, of the old and the
  new object both, so a move from one owner to another reconciles both).

A handler is bound to a controller by :meth:`pycontroller.controller.Controller.watch`; its methods
receive the object(s) and an ``enqueue(key)`` callable. Deletes may deliver a tombstone (an object
with ``.key`` and ``.obj``, the cache's ``DeletedFinalStateUnknown``); handlers unwrap it. Handlers
never suspend and must not mutate the objects (they belong to the cache).
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pycontroller.errors import NoKindMatchError

if TYPE_CHECKING:
    from pycontroller.predicate import Predicate
    from pycontroller.restmapper import RESTMapper

log = logging.getLogger("pycontroller.handler")

__all__ = [
    "EventHandler",
    "WatchBinding",
    "enqueue_mapped",
    "enqueue_object",
    "enqueue_owner",
    "object_key",
    "unwrap_tombstone",
]

Enqueue = Callable[[str], None]


def unwrap_tombstone(obj: Any) -> Any:
    """The last known object inside a ``DeletedFinalStateUnknown`` tombstone, or ``obj`` itself."""
    if not isinstance(obj, Mapping) and hasattr(obj, "key") and hasattr(obj, "obj"):
        return obj.obj
    return obj


def object_key(obj: Any) -> str | None:
    """``"namespace/name"`` (or ``"name"``) of an object or tombstone; None when it has no name."""
    if not isinstance(obj, Mapping):
        key = getattr(obj, "key", None)
        if isinstance(key, str):
            return key
        obj = unwrap_tombstone(obj)
        if not isinstance(obj, Mapping):
            return None
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        return None
    name = meta.get("name")
    if not name:
        return None
    ns = meta.get("namespace")
    return f"{ns}/{name}" if ns else str(name)


class EventHandler:
    """Base of the handlers; subclasses override the events they care about (default: nothing)."""

    def create(self, obj: Any, enqueue: Enqueue) -> None:
        """An object appeared (or was listed at start)."""

    def update(self, old: Any, new: Any, enqueue: Enqueue) -> None:
        """An object changed (or a resync re-delivered it)."""

    def delete(self, obj: Any, enqueue: Enqueue) -> None:
        """An object went away; ``obj`` may be a tombstone."""

    def generic(self, obj: Any, enqueue: Enqueue) -> None:
        """An event from outside the cluster (a channel source); same as create for the built-ins."""
        self.create(obj, enqueue)


class _EnqueueObject(EventHandler):
    def create(self, obj: Any, enqueue: Enqueue) -> None:
        key = object_key(obj)
        if key is not None:
            enqueue(key)

    def update(self, old: Any, new: Any, enqueue: Enqueue) -> None:
        key = object_key(new)
        if key is None:
            key = object_key(old)
        if key is not None:
            enqueue(key)

    def delete(self, obj: Any, enqueue: Enqueue) -> None:
        self.create(obj, enqueue)

    def __repr__(self) -> str:
        return "enqueue_object()"


def enqueue_object() -> EventHandler:
    """A handler that enqueues the key of the object the event is about."""
    return _EnqueueObject()


def _group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


class _EnqueueOwner(EventHandler):
    """Owner keys; the owner kind's scope comes from a RESTMapper, once (see :func:`enqueue_owner`).

    ``_namespaced`` is None until known. While unknown, events wait in ``_held`` (in order) and one
    task asks the mapper; when it answers they are replayed. Once known, an event costs no lookup.
    """

    def __init__(
        self,
        api_version: str,
        kind: str,
        only_controller: bool,
        namespaced: bool | None,
        mapper: RESTMapper | None,
    ) -> None:
        self._api_version = api_version
        self._group = _group_of(api_version)
        self._kind = kind
        self._only_controller = only_controller
        self._namespaced = namespaced
        self._mapper = mapper
        self._held: list[tuple[Callable[..., None], tuple[Any, ...]]] = []
        self._resolving: asyncio.Task[None] | None = None
        self._warned = False
        self._repr = f"enqueue_owner({api_version!r}, {kind!r}, only_controller={only_controller})"

    @property
    def namespaced(self) -> bool | None:
        """Whether the owner kind is namespaced; None until the mapper answered."""
        return self._namespaced

    async def prepare(self, mapper: RESTMapper) -> None:
        """Learn the owner kind's scope from ``mapper`` before events flow. Suspends on discovery.

        The Manager calls it for every handler of its informers when the caches start. A kind the
        server does not serve (yet) is not an error here: it is asked again at the first event.
        """
        if self._mapper is None:
            self._mapper = mapper
        if self._namespaced is not None:
            return
        try:
            mapping = await mapper.resource_for(self._api_version, self._kind)
        except NoKindMatchError as exc:
            log.info("enqueue_owner: %s; the owner's scope is asked again at the first event", exc)
            return
        self._namespaced = mapping.namespaced

    def _owners(self, obj: Any) -> Iterable[str]:
        obj = unwrap_tombstone(obj)
        if not isinstance(obj, Mapping):
            return ()
        meta = obj.get("metadata")
        if not isinstance(meta, Mapping):
            return ()
        refs = meta.get("ownerReferences") or ()
        ns = meta.get("namespace") if self._namespaced is not False else None
        keys = []
        for ref in refs:
            if not isinstance(ref, Mapping) or ref.get("kind") != self._kind:
                continue
            if _group_of(str(ref.get("apiVersion", ""))) != self._group:
                continue
            if self._only_controller and not ref.get("controller"):
                continue
            name = ref.get("name")
            if not name:
                continue
            keys.append(f"{ns}/{name}" if ns else str(name))
        return keys

    def _known(self, method: Callable[..., None], args: tuple[Any, ...]) -> bool:
        """True when the scope is known; otherwise holds the event and starts resolving it."""
        if self._namespaced is not None:
            return True
        mapper = self._mapper
        if mapper is not None:
            mapping = mapper.cached(self._api_version, self._kind)
            if mapping is not None:
                self._namespaced = mapping.namespaced
                return True
        self._held.append((method, args))
        if self._resolving is None:
            self._resolving = asyncio.get_running_loop().create_task(self._resolve())
        return False

    async def _resolve(self) -> None:
        guess = False
        try:
            if self._mapper is None:
                raise LookupError("no RESTMapper: pass mapper= or run the controller under a Manager")
            mapping = await self._mapper.resource_for(self._api_version, self._kind)
            self._namespaced = mapping.namespaced
        except NoKindMatchError as exc:
            # Not served (yet): deliver these with the dependent's namespace and ask again at the
            # next event (the mapper's negative cache keeps that to one request a second).
            if not self._warned:
                log.warning("%r: %s; keys take the dependent's namespace until it is served", self, exc)
                self._warned = True
            guess = True
        except Exception as exc:  # cannot know at all: fall back for good, and say so
            log.error(
                "%r cannot learn the scope of %s %s (%s); keys take the dependent's namespace",
                self,
                self._api_version,
                self._kind,
                exc,
            )
            self._namespaced = True
        finally:
            self._resolving = None
        held, self._held = self._held, []
        if guess:
            self._namespaced = True
        try:
            for method, args in held:
                method(*args)
        finally:
            if guess:
                self._namespaced = None

    def create(self, obj: Any, enqueue: Enqueue) -> None:
        if self._namespaced is None and not self._known(self.create, (obj, enqueue)):
            return
        for key in self._owners(obj):
            enqueue(key)

    def update(self, old: Any, new: Any, enqueue: Enqueue) -> None:
        if self._namespaced is None and not self._known(self.update, (old, new, enqueue)):
            return
        # Both: an object handed from one owner to another must wake the old owner too.
        for key in dict.fromkeys([*self._owners(old), *self._owners(new)]):
            enqueue(key)

    def delete(self, obj: Any, enqueue: Enqueue) -> None:
        self.create(obj, enqueue)

    def __repr__(self) -> str:
        return self._repr


def enqueue_owner(
    api_version: str,
    kind: str,
    *,
    only_controller: bool = True,
    mapper: RESTMapper | None = None,
    cluster_scoped: bool | None = None,
) -> EventHandler:
    """A handler that enqueues the owner (of ``kind`` in ``api_version``'s group) of the object.

    Owner references are matched on group and kind (not version), like controller-runtime. With
    ``only_controller`` (the default) only the reference with ``controller: true`` counts. The owner's
    key is ``"<namespace>/<name>"`` for a namespaced owner kind (the dependent's namespace: owners
    live beside their dependents) and ``"<name>"`` for a cluster-scoped one, whatever the
    dependent's scope. The scope comes from a :class:`~pycontroller.restmapper.RESTMapper`, once:
    under a Manager, its ``rest_mapper`` when the caches start; or ``mapper`` given here. Events
    that arrive before the answer wait for it and are then delivered in order; nothing is looked up
    per event afterwards. ``cluster_scoped`` is deprecated (the mapper knows): when given it is
    used as the answer, with a DeprecationWarning. Never suspends.
    """
    if not isinstance(api_version, str) or not api_version:
        raise TypeError(f"enqueue_owner api_version must be a non-empty string, got {api_version!r}")
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"enqueue_owner kind must be a non-empty string, got {kind!r}")
    namespaced: bool | None = None
    if cluster_scoped is not None:
        warnings.warn(
            "enqueue_owner(cluster_scoped=...) is deprecated: the owner's scope comes from the RESTMapper",
            DeprecationWarning,
            stacklevel=2,
        )
        namespaced = not cluster_scoped
    return _EnqueueOwner(api_version, kind, only_controller, namespaced, mapper)


class _EnqueueMapped(EventHandler):
    def __init__(self, fn: Callable[[Any], Iterable[str] | None]) -> None:
        self._fn = fn

    def _keys(self, obj: Any) -> list[str]:
        obj = unwrap_tombstone(obj)
        if obj is None:
            return []
        keys = self._fn(obj)
        if keys is None:
            return []
        if isinstance(keys, str):
            raise TypeError(f"enqueue_mapped function {self._fn!r} returned a string; return a list of keys")
        return list(keys)

    def create(self, obj: Any, enqueue: Enqueue) -> None:
        for key in dict.fromkeys(self._keys(obj)):
            enqueue(key)

    def update(self, old: Any, new: Any, enqueue: Enqueue) -> None:
        for key in dict.fromkeys([*self._keys(old), *self._keys(new)]):
            enqueue(key)

    def delete(self, obj: Any, enqueue: Enqueue) -> None:
        self.create(obj, enqueue)

    def __repr__(self) -> str:
        return f"enqueue_mapped({self._fn!r})"


def enqueue_mapped(fn: Callable[[Any], Iterable[str] | None]) -> EventHandler:
    """A handler that enqueues every key ``fn(obj)`` returns (an iterable of strings, or None).

    On update both the old and the new object are mapped and the union enqueued once each.
    A key that is not a string raises ``TypeError`` from the controller's ``enqueue``.
    """
    if not callable(fn):
        raise TypeError(f"enqueue_mapped takes a function, got {type(fn).__name__}")
    return _EnqueueMapped(fn)


class WatchBinding:
    """The informer-facing handler of one ``Controller.watch()``: predicates, then the handler.

    With a low-priority ``enqueue_low`` (the controller's ``low_priority_initial`` option), adds from
    the initial list and resync updates (same resourceVersion) go there instead of the queue.
    """

    __slots__ = ("_enqueue", "_enqueue_low", "_handler", "_predicates")

    @property
    def handler(self) -> EventHandler:
        """The :class:`EventHandler` this binding feeds."""
        return self._handler

    def __init__(
        self,
        handler: EventHandler,
        predicates: tuple[Predicate, ...],
        enqueue: Callable[[str], None],
        enqueue_low: Callable[[str], None] | None = None,
    ):
        self._handler = handler
        self._predicates = predicates
        self._enqueue = enqueue
        self._enqueue_low = enqueue_low

    def on_add(self, obj: Any, is_in_initial_list: bool = False) -> None:
        for p in self._predicates:
            if not p.create(obj):
                return
        low = self._enqueue_low
        self._handler.create(obj, low if low is not None and is_in_initial_list else self._enqueue)

    def on_update(self, old: Any, new: Any) -> None:
        for p in self._predicates:
            if not p.update(old, new):
                return
        low = self._enqueue_low
        if low is not None and _resource_version(old) == _resource_version(new) is not None:
            self._handler.update(old, new, low)  # a resync: nothing changed
        else:
            self._handler.update(old, new, self._enqueue)

    def on_delete(self, obj: Any) -> None:
        unwrapped = unwrap_tombstone(obj)
        for p in self._predicates:
            if not p.delete(unwrapped):
                return
        self._handler.delete(obj, self._enqueue)


def _resource_version(obj: Any) -> Any:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    return meta.get("resourceVersion") if isinstance(meta, dict) else None
