"""What a Manager offers the controllers it runs, besides running them (controller-runtime's
``mgr.GetClient()``, ``GetAPIReader()``, ``GetEventRecorderFor()``, ``Elected()``).

:class:`ManagerServices` is a base of :class:`pycontroller.manager.Manager`; its methods are
documented there by name:

* ``mgr.client``: a :class:`~pycontroller.cached_client.CachedClient`, reads from the cache,
  writes to the API server; ``mgr.get_api_reader()``: the raw :class:`~pycontroller.RestClient`.
* ``mgr.get_event_recorder_for(component)``: an :class:`~pycontroller.record.EventRecorder`; all
  recorders share one broadcaster per Manager, whose writer runs while the Manager runs (started
  before the controllers, flushed after they stopped).
* ``await mgr.wait_until_ready()``: caches synced and, with leader election, the Lease held;
  ``mgr.elected()``: an ``asyncio.Event`` set once leader-elected runnables may run.
* ``mgr.controller(name)``: a :class:`~pycontroller.builder.Builder`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pycontroller.cached_client import CachedClient
from pycontroller.client import RestClient
from pycontroller.record import EventBroadcaster, EventRecorder

if TYPE_CHECKING:
    from pycontroller.builder import Builder
    from pycontroller.healthz import HTTPServer

__all__ = ["ManagerServices"]

log = logging.getLogger("pycontroller.manager")


class _ElectedSignal:
    """A leader-elected runnable of every Manager: it runs exactly when leader-elected runnables
    may run, so it marks the moment (controller-runtime's ``Elected()`` channel)."""

    name = "elected"
    need_leader_election = True

    def __init__(self, elected: asyncio.Event) -> None:
        self._elected = elected
        self._stop = asyncio.Event()

    async def run(self) -> None:
        self._elected.set()
        await self._stop.wait()

    def stop(self) -> None:
        self._stop.set()


class _EventWriter:
    """A runnable that needs no leader: runs the Manager's event broadcaster (if any recorder was
    asked for) while the Manager runs, and flushes it after the controllers stopped."""

    name = "event-broadcaster"
    need_leader_election = False

    def __init__(self, services: ManagerServices) -> None:
        self._services = services
        self._stop = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    async def run(self) -> None:
        self.loop = asyncio.get_running_loop()
        try:
            broadcaster = self._services._broadcaster
            if broadcaster is not None:
                broadcaster.start()
            await self._stop.wait()
        finally:
            self.loop = None
            broadcaster = self._services._broadcaster
            if broadcaster is not None:
                await broadcaster.shutdown()

    def stop(self) -> None:
        self._stop.set()


class ManagerServices:
    """The services half of :class:`pycontroller.manager.Manager` (see the module doc)."""

    # Provided by Manager.__init__.
    _rest: RestClient
    _factory: Any
    _leader_election: bool
    _metrics_server: HTTPServer | None
    _probe_server: HTTPServer | None
    _started: bool
    cache_sync_timeout: float

    client: CachedClient
    """Reads (``get``, ``list``) from the Manager's cache, writes to the API server (module doc of
    :mod:`pycontroller.cached_client`). Reads need the Manager running."""

    if TYPE_CHECKING:  # Manager's methods
        add: Callable[..., None]
        informer_for: Callable[..., Any]

    def _init_services(self) -> None:
        self._elected_event = asyncio.Event()
        self._broadcaster: EventBroadcaster | None = None
        self._broadcaster_lock = threading.Lock()
        self.client = CachedClient(
            self._rest,
            lambda gvr: self.informer_for(gvr.group, gvr.version, gvr.resource),
            lambda: self._started and not getattr(self, "_stopping_caches", False),
            sync_timeout=self.cache_sync_timeout or None,
            scope_of=lambda informer: getattr(self._factory, "options_of", lambda _: None)(informer),
        )
        self._event_writer = _EventWriter(self)
        self.add(self._event_writer, need_leader_election=False)
        self.add(_ElectedSignal(self._elected_event), need_leader_election=True)

    # -- readiness ------------------------------------------------------------------------------

    @property
    def _synced_event(self) -> asyncio.Event:
        # Made on first use: Manager.__init__ sets _caches_synced before _init_services runs.
        event: asyncio.Event | None = self.__dict__.get("_synced_event_")
        if event is None:
            event = self.__dict__["_synced_event_"] = asyncio.Event()
        return event

    @property
    def _caches_synced(self) -> bool:
        return self._synced_event.is_set()

    @_caches_synced.setter
    def _caches_synced(self, value: bool) -> None:
        if value:
            self._synced_event.set()
        else:
            self._synced_event.clear()

    def elected(self) -> asyncio.Event:
        """An ``asyncio.Event`` set once this Manager's leader-elected runnables may run: when it
        won the Lease, or (leader election off) once its caches synced. Never suspends.

        It stays set after leadership is lost (the Manager then stops with an error)."""
        return self._elected_event

    async def wait_until_ready(self, timeout: float | None = None) -> None:
        """Suspend until the Manager's caches have synced and, with leader election, it leads.

        ``timeout`` (seconds, None: no limit) raises ``TimeoutError``. Call it while ``run()`` runs
        (in another task); it does not notice a Manager that failed or stopped before becoming
        ready (:func:`pycontroller.testing.running` does).
        """

        async def ready() -> None:
            await self._synced_event.wait()
            if self._leader_election:
                await self._elected_event.wait()

        await asyncio.wait_for(ready(), timeout)

    # -- clients and recorders --------------------------------------------------------------------

    def get_api_reader(self) -> RestClient:
        """The raw RestClient: reads go to the API server (never the cache). Never suspends."""
        return self._rest

    def get_event_recorder_for(self, component: str) -> EventRecorder:
        """An EventRecorder whose Events name ``component`` as their source. Never suspends.

        Every recorder of a Manager shares one :class:`~pycontroller.record.EventBroadcaster`
        (client-go's correlator: counts, aggregation, spam filter), whose writer runs while the
        Manager runs and is flushed after its controllers stop. Events recorded before ``run()``
        wait in its queue; after the Manager stopped they are dropped (and counted).
        """
        if not isinstance(component, str) or not component:
            raise TypeError(f"get_event_recorder_for() takes a component name, got {component!r}")
        with self._broadcaster_lock:
            if self._broadcaster is None:
                self._broadcaster = EventBroadcaster(self._rest)
                loop = self._event_writer.loop
                if loop is not None:  # the Manager runs already: start the writer in its loop
                    loop.call_soon_threadsafe(self._broadcaster.start)
            return self._broadcaster.new_recorder(component)

    @property
    def event_broadcaster(self) -> EventBroadcaster | None:
        """The broadcaster behind :meth:`get_event_recorder_for` (None until a recorder is asked)."""
        return self._broadcaster

    # -- building controllers ---------------------------------------------------------------------

    def controller(self, name: str) -> Builder:
        """A :class:`~pycontroller.builder.Builder` for a controller named ``name`` run by this Manager."""
        from pycontroller.builder import Builder

        return Builder(self, name)

    def _user_runnable_count(self) -> int:
        """How many runnables the user added (the Manager's own event writer and election marker
        not counted)."""
        runnables = getattr(self, "_runnables", ())
        return sum(1 for r in runnables if not isinstance(r.obj, _EventWriter | _ElectedSignal))

    # -- start-up -------------------------------------------------------------------------------

    def _log_bound_addresses(self) -> None:
        for server, path in ((self._metrics_server, "/metrics"), (self._probe_server, "/healthz, /readyz")):
            if server is None:
                continue
            host = server.host or "0.0.0.0"
            shown = f"[{host}]" if ":" in host else host
            log.info("Serving %s on http://%s:%s (%s)", server.what, shown, server.port, path)
