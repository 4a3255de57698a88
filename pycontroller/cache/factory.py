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
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from pycontroller.cache.informer import SharedIndexInformer
from pycontroller.cache.keys import IndexFunc
from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.clock import Clock, default_clock
from pycontroller.errors import ShutDownError

__all__ = [
    "SharedInformerFactory",
]


class SharedInformerFactory:
    """Makes and owns shared informers (see the module docs).

    ``client``: a kubernetes_asyncio ``ApiClient`` or a :class:`~pycontroller.client.RestClient`.
    ``namespace``: watch one namespace only (None: all). ``resync_period``: the default for every
    informer's handlers (0: none). ``tweak_list_options(query)``: adjusts every list/watch query
    (e.g. to add a labelSelector); it may mutate the dict or return a new one.
    ``reflector_options``: keyword arguments for every informer's Reflector (for example
    ``use_streaming_list=True``).
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
    ) -> None:
        if resync_period < 0:
            raise ValueError(f"resync_period must not be negative, got {resync_period}")
        self.client = RestClient.wrap(client)
        self.namespace = namespace
        self.resync_period = float(resync_period)
        self.tweak_list_options = tweak_list_options
        self._clock = clock or default_clock()
        self.reflector_options = dict(reflector_options or {})
        self._informers: dict[GroupVersionResource, SharedIndexInformer] = {}
        self._shut_down = False

    def informer_for(
        self,
        group: str | GroupVersionResource,
        version: str | None = None,
        resource: str | None = None,
        *,
        resync_period: float | None = None,
        indexers: Mapping[str, IndexFunc] | None = None,
    ) -> SharedIndexInformer:
        """The shared informer of a resource (group "" for core), created on first request.

        Accepts ``(group, version, resource)`` or a single :class:`GroupVersionResource`.
        ``resync_period`` and ``indexers`` apply only when this call creates the informer (indexers
        given later are added to the existing one). Never suspends.
        """
        if self._shut_down:
            raise ShutDownError("the informer factory has been shut down")
        if isinstance(group, GroupVersionResource):
            gvr = group
        else:
            if version is None or resource is None:
                raise TypeError("informer_for needs (group, version, resource) or a GroupVersionResource")
            gvr = GroupVersionResource(group, version, resource)
        informer = self._informers.get(gvr)
        if informer is None:
            informer = self.new_informer(gvr, resync_period=resync_period, indexers=indexers)
            self._informers[gvr] = informer
        elif indexers:
            missing = {k: v for k, v in indexers.items() if k not in informer.indexer.get_indexers()}
            if missing:
                informer.add_indexers(missing)
        return informer

    def new_informer(
        self,
        gvr: GroupVersionResource,
        *,
        resync_period: float | None = None,
        indexers: Mapping[str, IndexFunc] | None = None,
    ) -> SharedIndexInformer:
        """An informer with this factory's settings that the factory does NOT own (see :meth:`adopt`).

        For informers whose resource is known only later (the Manager's, asked for by kind, or
        waiting for a CRD): its ``gvr`` may be set before it starts. Never suspends.
        """
        return SharedIndexInformer(
            self.client,
            gvr,
            namespace=self.namespace,
            resync_period=self.resync_period if resync_period is None else resync_period,
            indexers=indexers,
            tweak_list_options=self.tweak_list_options,
            clock=self._clock,
            reflector_options=self.reflector_options,
        )

    def adopt(self, informer: SharedIndexInformer) -> SharedIndexInformer:
        """Own ``informer`` (from :meth:`new_informer`) under its ``gvr``, unless one is there already.

        Returns the informer the factory now has for that resource (``informer`` or the older one).
        Never suspends; ``start()`` starts it.
        """
        if self._shut_down:
            raise ShutDownError("the informer factory has been shut down")
        return self._informers.setdefault(informer.gvr, informer)

    @property
    def informers(self) -> dict[GroupVersionResource, SharedIndexInformer]:
        """Every informer made so far (a copy)."""
        return dict(self._informers)

    def start(self) -> None:
        """Start every informer not started yet, as tasks on the running loop. Never suspends."""
        if self._shut_down:
            raise ShutDownError("the informer factory has been shut down")
        for informer in self._informers.values():
            if informer._task is None and not informer.is_stopped:
                informer.start()

    async def wait_for_cache_sync(self, timeout: float | None = None) -> dict[GroupVersionResource, bool]:
        """Wait until every started informer synced, or ``timeout`` seconds (factory clock) pass.

        Returns ``{gvr: synced}`` for the started informers. Suspends.
        """
        started = {gvr: inf for gvr, inf in self._informers.items() if inf._task is not None}
        if started:
            await asyncio.gather(*(inf.wait_for_sync(timeout) for inf in started.values()))
        return {gvr: inf.has_synced() for gvr, inf in started.items()}

    async def shutdown(self) -> None:
        """Stop every informer (reflectors and handler tasks) and wait for them. Idempotent."""
        self._shut_down = True
        await asyncio.gather(*(inf.stop() for inf in self._informers.values()))
