"""SharedInformerFactory: one shared informer per resource for the whole process.

Every controller asks the factory for the informers it needs; two asking for the same resource get
the same informer, hence one list-and-watch and one cache. Typical use::

    factory = SharedInformerFactory(api_client, resync_period=30)
    foos = factory.informer_for("samplecontroller.k8s.io", "v1alpha1", "foos")
    foos.add_event_handler(ResourceEventHandlerFuncs(on_add=enqueue, on_update=lambda o, n: enqueue(n)))
    factory.start()                              # no await: starts tasks on the running loop
    synced = await factory.wait_for_cache_sync(timeout=60)
    ...
    await factory.shutdown()                     # stops reflectors and handler tasks, waits for them

``start()`` may be called again after more ``informer_for`` calls: it starts only the new ones.
After ``shutdown()`` the factory refuses ``informer_for``, ``start`` with ShutDownError.

Scope and shape per resource (see :mod:`pycontroller.cache.options`): ``cache_options`` gives
defaults and per-resource :class:`~pycontroller.cache.options.ByObject` overrides (namespaces,
label and field selectors, a transform), and ``informer_for`` takes the same options for one call.
Several namespaces make one informer fed by one reflector per namespace
(:mod:`pycontroller.cache.multi_namespace`). ``metadata_only=True`` makes a separate informer that
lists and watches ``PartialObjectMetadata`` (only ``metadata`` of each object is transferred and
cached). Options are checked when the informer is made: a selector that does not parse raises
``SelectorError``; other options for an existing informer raise ``InformerOptionsConflictError``.
New informers drop ``metadata.managedFields`` unless the options say otherwise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pycontroller.cache.informer import SharedIndexInformer
from pycontroller.cache.keys import IndexFunc
from pycontroller.cache.options import (
    UNSET,
    ByObject,
    CacheOptions,
    InformerOptions,
    InformerOptionsConflictError,
    _Unset,
)
from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.clock import Clock, default_clock
from pycontroller.errors import ShutDownError

__all__ = [
    "SharedInformerFactory",
]


class SharedInformerFactory:
    """Makes and owns shared informers (see the module docs).

    ``client``: a kubernetes_asyncio ``ApiClient`` or a :class:`~pycontroller.client.RestClient`.
    ``namespace``: watch one namespace only (None: all); ``cache_options.default_namespaces`` and
    per-resource namespaces take precedence. ``resync_period``: the default for every
    informer's handlers (0: none). ``tweak_list_options(query)``: adjusts every list/watch query
    (e.g. to add a labelSelector); it may mutate the dict or return a new one.
    ``reflector_options``: keyword arguments for every informer's Reflector (for example
    ``use_streaming_list=True``). ``cache_options``: a :class:`CacheOptions` (default: all
    namespaces unless ``namespace``, no selectors, managedFields dropped).
    """

    def __init__(
        self,
        client: Any,
        *,
        namespace: str | None = None,
        resync_period: float = 0.0,
        tweak_list_options: Callable[[dict[str, Any]], Any] | None = None,
        clock: Clock | None = None,
        reflector_options: Mapping[str, Any] | None = None,
        cache_options: CacheOptions | None = None,
    ) -> None:
        if resync_period < 0:
            raise ValueError(f"resync_period must not be negative, got {resync_period}")
        if cache_options is not None and not isinstance(cache_options, CacheOptions):
            raise TypeError(f"cache_options must be a CacheOptions, got {type(cache_options).__name__}")
        self.client = RestClient.wrap(client)
        self.namespace = namespace
        self.resync_period = float(resync_period)
        self.tweak_list_options = tweak_list_options
        self._clock = clock or default_clock()
        self.reflector_options = dict(reflector_options or {})
        self.cache_options = cache_options if cache_options is not None else CacheOptions()
        self._informers: dict[GroupVersionResource, SharedIndexInformer] = {}
        self._metadata_informers: dict[GroupVersionResource, SharedIndexInformer] = {}
        #: The options each informer was made with (by id of the informer).
        self._options: dict[int, InformerOptions] = {}
        self._shut_down = False

    def informer_for(
        self,
        group: str | GroupVersionResource,
        version: str | None = None,
        resource: str | None = None,
        *,
        resync_period: float | None = None,
        indexers: Mapping[str, IndexFunc] | None = None,
        namespaces: Sequence[str] | _Unset | None = UNSET,
        label_selector: str | _Unset | None = UNSET,
        field_selector: str | _Unset | None = UNSET,
        transform: Callable[[Any], Any] | _Unset | None = UNSET,
        metadata_only: bool = False,
        kind: str | None = None,
    ) -> SharedIndexInformer:
        """The shared informer of a resource (group "" for core), created on first request.

        Accepts ``(group, version, resource)`` or a single :class:`GroupVersionResource`.
        ``resync_period`` and ``indexers`` apply only when this call creates the informer (indexers
        given later are added to the existing one). ``namespaces``, ``label_selector``,
        ``field_selector`` and ``transform`` override the factory's :class:`CacheOptions` for this
        resource (left out: the options decide); ``kind`` lets ``(group, Kind)`` keys of
        ``by_object`` apply. ``metadata_only`` gives the (separate) informer caching only
        ``PartialObjectMetadata``. Raises ``SelectorError`` for a selector that does not parse,
        :class:`InformerOptionsConflictError` when the informer exists with other options, and
        ``ShutDownError`` after shutdown. Never suspends.
        """
        if self._shut_down:
            raise ShutDownError("the informer factory has been shut down")
        if isinstance(group, GroupVersionResource):
            gvr = group
        else:
            if version is None or resource is None:
                raise TypeError("informer_for needs (group, version, resource) or a GroupVersionResource")
            gvr = GroupVersionResource(group, version, resource)
        explicit = ByObject(
            label_selector=label_selector,
            field_selector=field_selector,
            namespaces=namespaces,
            transform=transform,
        )
        given = explicit != ByObject()
        options = self.cache_options.resolve(
            gvr.group,
            gvr.resource,
            kind=kind,
            namespace=self.namespace,
            explicit=explicit if given else None,
            metadata_only=metadata_only,
        )
        table = self._metadata_informers if metadata_only else self._informers
        informer = table.get(gvr)
        if informer is None:
            informer = self._make(gvr, options, resync_period, indexers)
            table[gvr] = informer
            self._options[id(informer)] = options
            return informer
        existing = self._options[id(informer)]
        if given and existing != options:
            raise InformerOptionsConflictError(
                f"the informer for {gvr}{' (metadata only)' if metadata_only else ''} exists with other "
                f"options ({'; '.join(options.differences(existing))}); a second informer for one "
                "resource cannot differ in scope or transform"
            )
        if indexers:
            missing = {k: v for k, v in indexers.items() if k not in informer.indexer.get_indexers()}
            if missing:
                informer.add_indexers(missing)
        return informer

    def options_of(self, informer: SharedIndexInformer) -> InformerOptions | None:
        """The options an informer of this factory was made with (None for a foreign one)."""
        return self._options.get(id(informer))

    def _make(
        self,
        gvr: GroupVersionResource,
        options: InformerOptions,
        resync_period: float | None,
        indexers: Mapping[str, IndexFunc] | None,
    ) -> SharedIndexInformer:
        reflector_options = dict(self.reflector_options)
        if options.metadata_only:
            reflector_options["metadata_only"] = True
        namespaces = options.namespaces
        single = namespaces[0] if namespaces is not None and len(namespaces) == 1 else None
        name = str(gvr) + ("(metadata)" if options.metadata_only else "")
        if single is not None:
            name += "/" + single
        elif namespaces is not None:
            name += "/{" + ",".join(namespaces) + "}"
        informer: SharedIndexInformer
        if namespaces is None or single is not None:
            informer = SharedIndexInformer(
                self.client,
                gvr,
                namespace=single,
                resync_period=self.resync_period if resync_period is None else resync_period,
                indexers=indexers,
                label_selector=options.label_selector,
                field_selector=options.field_selector,
                tweak_list_options=self.tweak_list_options,
                clock=self._clock,
                reflector_options=reflector_options,
                name=name,
            )
        else:
            informer = _multi_namespace_informer(
                self.client,
                gvr,
                namespaces,
                name=name,
                resync_period=self.resync_period if resync_period is None else resync_period,
                indexers=indexers,
                options=options,
                tweak_list_options=self.tweak_list_options,
                clock=self._clock,
                reflector_options=reflector_options,
            )
        if options.transform is not None:
            informer.set_transform(options.transform)
        return informer

    def new_informer(
        self,
        gvr: GroupVersionResource,
        *,
        resync_period: float | None = None,
        indexers: Mapping[str, IndexFunc] | None = None,
        kind: str | None = None,
        **options: Any,
    ) -> SharedIndexInformer:
        """An informer with this factory's settings that the factory does NOT own (see :meth:`adopt`).

        For informers whose resource is known only later (the Manager's, asked for by kind, or
        waiting for a CRD): its ``gvr`` may be set before it starts. ``kind`` and ``options``
        (those of :meth:`informer_for`) choose its cache options now: ``(group, Kind)`` keys of
        ``by_object`` apply, and so do ``(group, resource)`` keys when ``gvr`` names the resource
        already. Never suspends.
        """
        explicit = ByObject(**{k: v for k, v in options.items() if k != "metadata_only"})
        resolved = self.cache_options.resolve(
            gvr.group,
            gvr.resource,
            kind=kind,
            namespace=self.namespace,
            explicit=explicit if explicit != ByObject() else None,
            metadata_only=bool(options.get("metadata_only", False)),
        )
        informer = self._make(gvr, resolved, resync_period, indexers)
        self._options[id(informer)] = resolved
        return informer

    def adopt(self, informer: SharedIndexInformer) -> SharedIndexInformer:
        """Own ``informer`` (from :meth:`new_informer`) under its ``gvr``, unless one is there already.

        Returns the informer the factory now has for that resource (``informer`` or the older one).
        Never suspends; ``start()`` starts it.
        """
        if self._shut_down:
            raise ShutDownError("the informer factory has been shut down")
        options = self._options.get(id(informer))
        table = self._metadata_informers if options is not None and options.metadata_only else self._informers
        return table.setdefault(informer.gvr, informer)

    @property
    def informers(self) -> dict[GroupVersionResource, SharedIndexInformer]:
        """Every (full-object) informer made so far (a copy)."""
        return dict(self._informers)

    @property
    def metadata_informers(self) -> dict[GroupVersionResource, SharedIndexInformer]:
        """Every metadata-only informer made so far (a copy)."""
        return dict(self._metadata_informers)

    def _all(self) -> list[tuple[GroupVersionResource, SharedIndexInformer]]:
        return [*self._informers.items(), *self._metadata_informers.items()]

    def start(self) -> None:
        """Start every informer not started yet, as tasks on the running loop. Never suspends."""
        if self._shut_down:
            raise ShutDownError("the informer factory has been shut down")
        for _, informer in self._all():
            if informer._task is None and not informer.is_stopped:
                informer.start()

    async def wait_for_cache_sync(self, timeout: float | None = None) -> dict[GroupVersionResource, bool]:
        """Wait until every started informer synced, or ``timeout`` seconds (factory clock) pass.

        Returns ``{gvr: synced}`` for the started informers (a resource with a full and a
        metadata-only informer: synced when both are). Suspends.
        """
        started = [(gvr, inf) for gvr, inf in self._all() if inf._task is not None]
        if started:
            await asyncio.gather(*(inf.wait_for_sync(timeout) for _, inf in started))
        result: dict[GroupVersionResource, bool] = {}
        for gvr, inf in started:
            result[gvr] = result.get(gvr, True) and inf.has_synced()
        return result

    async def shutdown(self) -> None:
        """Stop every informer (reflectors and handler tasks) and wait for them. Idempotent."""
        self._shut_down = True
        await asyncio.gather(*(inf.stop() for _, inf in self._all()))


def _multi_namespace_informer(
    client: RestClient,
    gvr: GroupVersionResource,
    namespaces: Sequence[str],
    *,
    name: str,
    resync_period: float,
    indexers: Mapping[str, IndexFunc] | None,
    options: InformerOptions,
    tweak_list_options: Callable[[dict[str, Any]], Any] | None,
    clock: Clock,
    reflector_options: Mapping[str, Any],
) -> SharedIndexInformer:
    """One informer (one cache, one set of handlers) fed by one reflector per namespace."""
    from pycontroller.cache.multi_namespace import MultiNamespaceReflector

    informer: SharedIndexInformer

    def reflector_factory(fifo: Any) -> MultiNamespaceReflector:
        return MultiNamespaceReflector(
            client,
            informer.gvr,  # not ``gvr``: an informer asked for by kind gets its resource at start
            fifo,
            informer.indexer,
            namespaces,
            name=name,
            reflector_options={
                "label_selector": options.label_selector,
                "field_selector": options.field_selector,
                "tweak_list_options": tweak_list_options,
                "clock": clock,
                # Each namespace's reflector transforms its objects as they are decoded (and reuses
                # the cached ones on a relist), as a single reflector does: read at start, after
                # any set_transform.
                "transform": informer._transform,
                "known_object": informer._cached_for,  # reflector_options may turn it off (None)
                **reflector_options,
            },
            error_handler=informer._watch_error_handler,
        )

    informer = SharedIndexInformer(
        client,
        gvr,
        resync_period=resync_period,
        indexers=indexers,
        label_selector=options.label_selector,
        field_selector=options.field_selector,
        tweak_list_options=tweak_list_options,
        clock=clock,
        reflector_factory=reflector_factory,
        name=name,
        reflector_options=reflector_options,
    )
    informer._reflector_transforms = True
    return informer
