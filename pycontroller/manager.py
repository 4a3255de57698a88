"""The Manager: one client, one shared cache, controllers and other runnables, HTTP endpoints,
leader election, and an orderly start and stop.

Typical use::

    async def main() -> None:
        mgr = Manager(kubeconfig=path, health_probe_bind_address=":8081")   # or Manager(api_client)
        foos = mgr.informer_for("samplecontroller.k8s.io", "v1alpha1", "foos")
        deployments = mgr.informer_for("apps", "v1", "deployments")

        async def reconcile(key: str) -> Result | None:
            foo = foos.indexer.get_by_key(key)      # read the cache, never mutate its objects
            ...

        ctl = Controller("foo", reconcile, max_concurrent_reconciles=2)
        ctl.watch(foos, predicates=[generation_changed])
        ctl.watch(deployments, enqueue_owner("samplecontroller.k8s.io/v1alpha1", "Foo"))
        mgr.add(ctl)
        await mgr.run()        # until SIGTERM; raises if a runnable fails or the lease is lost

Start order (controller-runtime's)::

    1. HTTP servers: /metrics on metrics_bind_address, /healthz + /readyz on health_probe_bind_address
    2. caches: the shared informer factory starts and syncs (then /readyz's "cache-sync" passes)
    3. runnables that need no leader (need_leader_election=False)
    4. leader-elected runnables (controllers by default): at once, or while holding the Lease

Stop has ONE deadline (controller-runtime's single shutdown context)::

    1. at once, every runnable, leader-elected or not, is asked to stop: controllers take no new
       key from that instant (in-flight reconciles go on); leader-elected runnables not started yet
       (still campaigning) never start
    2. the Manager waits for all of them together, until ``graceful_shutdown_timeout`` after the
       stop began (one budget for the whole stop, not one per group)
    3. at the deadline the stragglers are cancelled (their in-flight reconciles get CancelledError)
       and ``run()`` will raise :class:`GracefulShutdownTimeoutError` naming them and their keys
    4. then the lease is released (when leading and ``leader_election_release_on_cancel``), the
       caches stopped, the HTTP servers closed and an owned client closed

``graceful_shutdown_timeout=0`` disables the grace period: everything is cancelled at once and
that is not an error (controller-runtime's ``time.Duration(0)``). SIGINT/SIGTERM call
:meth:`Manager.request_shutdown`; a second signal exits the process at once with status 1.

``await mgr.run()`` returns after a requested shutdown that finished in time. It raises the error
of a runnable that failed, ``TimeoutError`` when the caches do not sync within
``cache_sync_timeout``, :class:`LeaderElectionLostError` when the Lease is lost (leader-elected
runnables are cancelled at once; the process should exit non-zero and be restarted, as
controller-runtime's does), and :class:`GracefulShutdownTimeoutError` when runnables outlived the
grace period. When a runnable failed AND the stop overran, the runnable's error is raised with a
note about the overrun (and the overrun is logged).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import math
import os
import signal
import socket
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from pycontroller import metrics as _metrics
from pycontroller.cache.factory import SharedInformerFactory
from pycontroller.cache.metrics import InformerCollector
from pycontroller.cache.options import CacheOptions
from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.clock import default_clock
from pycontroller.config import load_configuration, new_api_client, pod_namespace
from pycontroller.errors import ConfigError, PyControllerError
from pycontroller.healthz import Check, Checks, HTTPServer, metrics_app, parse_bind_address, probes_app
from pycontroller.kind_informers import KindInformers
from pycontroller.manager_services import ManagerServices
from pycontroller.restmapper import RESTMapper

__all__ = [
    "GracefulShutdownTimeoutError",
    "LeaderElectionLostError",
    "Manager",
    "ManagerAlreadyStartedError",
]

log = logging.getLogger("pycontroller.manager")


class ManagerAlreadyStartedError(PyControllerError, RuntimeError):
    """A controller or runnable was added, or ``run()`` called again, after the Manager started."""


class LeaderElectionLostError(PyControllerError):
    """The Manager lost its Lease; its leader-elected runnables were stopped."""


class GracefulShutdownTimeoutError(PyControllerError, TimeoutError):
    """Runnables still running when the shutdown's grace period ended; they were cancelled.

    ``runnables`` names them (sorted); ``keys`` maps each controller among them to the keys it was
    reconciling when cancelled (sorted); ``timeout`` is the grace period in seconds. Raised by
    :meth:`Manager.run` so the process exits non-zero, as controller-runtime's manager does.
    """

    def __init__(self, timeout: float, runnables: list[str], keys: dict[str, list[str]]) -> None:
        self.timeout = timeout
        self.runnables = runnables
        self.keys = keys
        parts = []
        for name in runnables:
            in_flight = keys.get(name)
            parts.append(f"{name} (reconciling {', '.join(in_flight)})" if in_flight else name)
        super().__init__(
            f"failed waiting for all runnables to end within grace period of {timeout:g}s; "
            f"cancelled: {'; '.join(parts)}"
        )


class _Runnable:
    """A runnable as the Manager drives it: ``run()`` coroutine, optional graceful ``stop()``."""

    def __init__(self, obj: Any, need_leader_election: bool | None) -> None:
        self.obj = obj
        run = getattr(obj, "run", None)
        if run is not None and callable(run) and not inspect.iscoroutinefunction(obj):
            if not inspect.iscoroutinefunction(run):
                raise TypeError(
                    f"Manager.add(): {type(obj).__name__}.run must be an async method (async def run(self))"
                )
            self._run: Callable[[], Coroutine[Any, Any, Any]] = run
            stop = getattr(obj, "stop", None)
            self._stop: Callable[[], Any] | None = stop if callable(stop) else None
        elif inspect.iscoroutinefunction(obj) or (
            callable(obj) and inspect.iscoroutinefunction(obj.__call__)
        ):
            self._run = obj
            self._stop = None
        else:
            raise TypeError(
                "Manager.add() takes a Controller, an object with an async run() method, or an async "
                f"function; got {type(obj).__name__}"
            )
        if need_leader_election is None:
            need_leader_election = bool(getattr(obj, "need_leader_election", True))
        self.need_leader_election = need_leader_election
        self.name = getattr(obj, "name", None) or getattr(obj, "__name__", None) or type(obj).__name__
        self.task: asyncio.Task[Any] | None = None

    def start(self) -> asyncio.Task[Any]:
        self.task = asyncio.create_task(self._run(), name=f"runnable-{self.name}")
        return self.task

    def stop(self) -> None:
        """Graceful stop if the runnable offers one, else cancellation."""
        if self.task is None or self.task.done():
            return
        if self._stop is not None:
            self._stop()
        else:
            self.task.cancel()

    def in_flight(self) -> list[str]:
        """What the runnable is working on (a Controller's keys being reconciled), sorted."""
        keys = getattr(self.obj, "in_flight_keys", None)
        if not callable(keys):
            return []
        try:
            return sorted(str(k) for k in keys())
        except Exception:  # an introspection hook must not break the stop; say so
            log.exception("%s.in_flight_keys() failed", self.name)
            return []


class Manager(ManagerServices):
    """Runs controllers and other runnables against one API server (see the module doc).

    The API server comes from ``api_client`` (a kubernetes_asyncio ApiClient or a RestClient, which the
    Manager does not close) or is loaded like clientcmd from ``kubeconfig``/``context``, ``KUBECONFIG``,
    the in-cluster service account or ``~/.kube/config`` (see :mod:`pycontroller.config`), with
    ``master`` overriding the URL. Loading builds the ApiClient at once, so create the Manager inside a
    running event loop in that case.

    Options: ``namespace`` (limit the cache to one namespace), ``resync_period`` (seconds, 0 = off),
    ``metrics_bind_address`` (``":8080"``; ``"0"`` off; ``"127.0.0.1:0"`` picks a port, then see
    :attr:`metrics_port`), ``health_probe_bind_address`` (off by default; see :attr:`health_probe_port`),
    ``graceful_shutdown_timeout`` (30 s), ``cache_sync_timeout`` (120 s), leader election
    (``leader_election=True`` with ``leader_election_id``, ``leader_election_namespace`` (defaults to the
    pod's namespace), ``lease_duration``/``renew_deadline``/``retry_period`` (15/10/2 s),
    ``leader_election_release_on_cancel``, ``identity``), ``handle_signals`` (True), ``webhook_server``
    (see :attr:`webhook_server`), ``sharding`` (a :class:`pycontroller.sharding.ShardingOptions`: see
    docs/sharding.md), ``cache`` (a :class:`~pycontroller.cache.options.CacheOptions`: namespaces,
    selectors and transforms per resource; by default every informer drops ``metadata.managedFields``).
    """

    def __init__(
        self,
        api_client: Any = None,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        master: str | None = None,
        in_cluster: bool | None = None,
        namespace: str | None = None,
        resync_period: float = 0.0,
        metrics_bind_address: str | None = ":8080",
        health_probe_bind_address: str | None = None,
        graceful_shutdown_timeout: float = 30.0,
        cache_sync_timeout: float = 120.0,
        leader_election: bool = False,
        leader_election_id: str | None = None,
        leader_election_namespace: str | None = None,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        leader_election_release_on_cancel: bool = False,
        identity: str | None = None,
        handle_signals: bool = True,
        metrics_registry: Any = None,
        informer_factory: Any = None,
        clock: Any = None,
        webhook_server: Any = None,
        sharding: Any = None,
        cache: CacheOptions | None = None,
    ) -> None:
        for what, value in (
            ("graceful_shutdown_timeout", graceful_shutdown_timeout),
            ("cache_sync_timeout", cache_sync_timeout),
            ("resync_period", resync_period),
        ):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or math.isnan(value)
                or value < 0
            ):
                raise ConfigError(f"Manager {what} must be a number of seconds >= 0, got {value!r}")
        self._metrics_address = parse_bind_address(metrics_bind_address)
        self._probe_address = parse_bind_address(health_probe_bind_address)
        self._owns_client = False
        if api_client is None:
            configuration = load_configuration(
                kubeconfig=kubeconfig, context=context, master=master, in_cluster=in_cluster
            )
            api_client = new_api_client(configuration)
            self._owns_client = True
        elif kubeconfig or context:
            raise ConfigError("pass either api_client or kubeconfig/context to the Manager, not both")
        elif master:
            raise ConfigError(
                "master= overrides a loaded configuration; with api_client, set its host instead"
            )
        self._rest = RestClient.wrap(api_client)
        self.namespace = namespace
        self.resync_period = float(resync_period)
        self.graceful_shutdown_timeout = float(graceful_shutdown_timeout)
        self.cache_sync_timeout = float(cache_sync_timeout)
        self._factory = informer_factory
        # Cache scope and transforms per resource (CacheOptions; validated when informers are made).
        if cache is not None and not isinstance(cache, CacheOptions):
            raise ConfigError(f"Manager cache= must be a CacheOptions, got {type(cache).__name__}")
        self.cache_options = cache
        self._informer_collector: InformerCollector | None = None
        self._registry = metrics_registry if metrics_registry is not None else _metrics.registry
        self._handle_signals = handle_signals
        self._clock = clock
        self._leader_election = leader_election
        if leader_election:
            if not leader_election_id:
                raise ConfigError("leader_election=True needs leader_election_id (the Lease's name)")
            if leader_election_namespace is None:
                leader_election_namespace = pod_namespace()
            if not leader_election_namespace:
                raise ConfigError(
                    "leader_election=True needs leader_election_namespace when not running in a cluster"
                )
        self._le_id = leader_election_id
        self._le_namespace = leader_election_namespace
        self._le_durations = (lease_duration, renew_deadline, retry_period)
        self._le_release = leader_election_release_on_cancel
        self.identity = identity or f"{socket.gethostname()}_{uuid.uuid4()}"
        self.elector: Any = None
        self._runnables: list[_Runnable] = []
        self._healthz = Checks("healthz")
        self._readyz = Checks("readyz")
        self._readyz.add("cache-sync", lambda: self._caches_synced)
        self._caches_synced = False
        self._started = False
        self._shutdown: asyncio.Event | None = None
        self._shutdown_requested = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._signals_seen = 0
        self._exit: Callable[[int], Any] = os._exit
        self._runnables_started: asyncio.Event | None = None
        self._metrics_server: HTTPServer | None = None
        self._probe_server: HTTPServer | None = None
        self._webhook_server = webhook_server
        #: The replica's :class:`pycontroller.sharding.Sharding` with ``sharding=ShardingOptions(...)``.
        self.sharding: Any = None
        if sharding is not None:
            from pycontroller.sharding import Sharding

            self.sharding = Sharding(self._rest, sharding, leader_election=leader_election, clock=clock)
            for runnable in self.sharding.runnables():
                self.add(runnable)
        self._init_services()

    # -- building -------------------------------------------------------------------------------

    @property
    def factory(self) -> Any:
        """The shared informer factory (the Manager's cache), created on first use."""
        if self._factory is None:
            self._factory = SharedInformerFactory(
                self._rest,
                namespace=self.namespace,
                resync_period=self.resync_period,
                cache_options=self.cache_options,
            )
        return self._factory

    def informer_for(
        self,
        group: str | GroupVersionResource,
        version: str | None = None,
        resource: str | None = None,
        *,
        wait_for_crd: bool = False,
        **options: Any,
    ) -> Any:
        """The shared informer of a resource. Never suspends.

        ``informer_for("apps/v1", "Deployment")``: an api_version and a kind (or a plural, singular
        or short name), resolved through :attr:`rest_mapper`; ``informer_for("apps", "v1",
        "deployments")`` or ``informer_for(gvr)``: a resource (group "" for core). Either way the
        resource is checked against discovery when the caches start: one that is not served fails
        :meth:`run` with NoKindMatchError at once, unless ``wait_for_crd=True``, which waits for
        its CRD (logged once) and then starts the informer (see :mod:`pycontroller.kind_informers`).
        Informers asked for after start are started by the Manager's cache as well. ``options``
        are those of :meth:`SharedInformerFactory.informer_for` (``namespaces``, ``label_selector``,
        ``field_selector``, ``transform``, ``metadata_only``); left out, the Manager's ``cache=``
        :class:`CacheOptions` decide (``(group, Kind)`` keys apply to informers asked for by kind).
        """
        if isinstance(group, GroupVersionResource):
            gvr = group
            group, version, resource = gvr.group, gvr.version, gvr.resource
        if version is None:
            raise TypeError("informer_for takes (api_version, kind), (group, version, resource) or a GVR")
        if resource is None or wait_for_crd:
            if resource is None:  # (api_version, kind)
                api_version, name = group, version
            else:
                api_version, name = (f"{group}/{version}" if group else version), resource
            return self._kinds.informer_for(api_version, name, wait_for_crd=wait_for_crd, **options)
        if self.sharding is not None:  # a ring resource: its selector is set when it is made
            gvr = GroupVersionResource(group, version, resource)
            options = self.sharding.informer_options(gvr, options, self.cache_options, self.factory)
        informer = self.factory.informer_for(group, version, resource, **options)
        if self.sharding is not None:  # a ring resource: only this shard's objects
            self.sharding.configure_informer(informer)
        if self._started and not self._stopping_caches:
            self.factory.start()
            self._kinds.check_later(informer)
        return informer

    _stopping_caches = False
    _rest_mapper: RESTMapper | None = None

    @functools.cached_property
    def _kinds(self) -> KindInformers:
        return KindInformers(
            lambda: self.factory,
            lambda: self.rest_mapper,
            lambda: self._clock or default_clock(),
            lambda: self.cache_sync_timeout,
            lambda informer: (
                self.sharding.configure_informer(informer) if self.sharding is not None else None
            ),
        )

    @property
    def rest_mapper(self) -> RESTMapper:
        """The Manager's one :class:`~pycontroller.restmapper.RESTMapper` (discovery, read lazily);
        the same as ``mgr.client.rest_mapper`` and ``mgr.get_api_reader().rest_mapper``, so the clients'
        kind look-ups share its answers."""
        if self._rest_mapper is None:
            self._rest_mapper = self._rest.rest_mapper
        return self._rest_mapper

    def add(self, runnable: Any, *, need_leader_election: bool | None = None) -> None:
        """Add a Controller, an object with ``async run()`` (and optionally ``stop()``), or an async function.

        ``need_leader_election`` defaults to the object's attribute of that name, else True (as in
        controller-runtime). Raises ManagerAlreadyStartedError after :meth:`run` began. Never suspends.
        """
        if self._started:
            raise ManagerAlreadyStartedError(
                f"cannot add {getattr(runnable, 'name', runnable)!r}: the Manager has already started; "
                "add controllers and runnables before run()"
            )
        self._runnables.append(_Runnable(runnable, need_leader_election))

    def add_healthz_check(self, name: str, check: Check) -> None:
        """Add a named liveness check served on ``/healthz`` (see :mod:`pycontroller.healthz`)."""
        self._healthz.add(name, check)

    def add_readyz_check(self, name: str, check: Check) -> None:
        """Add a named readiness check served on ``/readyz``."""
        self._readyz.add(name, check)

    @property
    def metrics_port(self) -> int | None:
        """The port ``/metrics`` is served on, once started (None when off)."""
        return self._metrics_server.port if self._metrics_server else None

    @property
    def health_probe_port(self) -> int | None:
        """The port ``/healthz`` and ``/readyz`` are served on, once started (None when off)."""
        return self._probe_server.port if self._probe_server else None

    def request_shutdown(self) -> None:
        """Start a graceful shutdown; :meth:`run` returns when it is done. Never suspends.

        Safe from any thread and before run() (run() then stops right after starting).
        """
        self._shutdown_requested = True
        event, loop = self._shutdown, self._loop
        if event is None or loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            event.set()
        else:
            loop.call_soon_threadsafe(event.set)

    # -- running --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Start everything in order, run until shutdown, stop everything in reverse (module doc)."""
        if self._started:
            raise ManagerAlreadyStartedError("Manager.run() was already called; a Manager runs once")
        self._started = True
        self._loop = asyncio.get_running_loop()
        self._shutdown = shutdown = asyncio.Event()
        if self._shutdown_requested:
            shutdown.set()
        installed = self._install_signal_handlers()
        others = [r for r in self._runnables if not r.need_leader_election]
        leaders = [r for r in self._runnables if r.need_leader_election]
        elector_task: asyncio.Task[Any] | None = None
        failure: BaseException | None = None
        try:
            await self._start_http()
            await self._start_webhooks()
            await self._start_caches(shutdown)
            for r in others:
                r.start()
            if self._leader_election:
                elector_task = self._start_elector(leaders)
            else:
                for r in leaders:
                    r.start()
            failure = await self._wait(shutdown, elector_task)
        except BaseException as exc:
            failure = exc
        finally:
            # One deadline for the whole stop; every runnable is asked to stop at once, so none
            # takes new work while another one drains (see the module doc).
            self._stopping_runnables = True
            overrun = await self._stop_runnables(leaders + others)
            if elector_task is not None:
                elector_task.cancel()
                await asyncio.gather(elector_task, return_exceptions=True)
            await self._stop_caches()
            await self._stop_webhooks()
            await self._stop_http()
            self._remove_signal_handlers(installed)
            if self._owns_client:
                await self._rest.api_client.close()
            log.info("Manager stopped")
        if failure is not None:
            if overrun is not None:
                failure.add_note(f"and while stopping: {overrun}")
            raise failure
        if overrun is not None:
            raise overrun

    async def _wait(
        self, shutdown: asyncio.Event, elector_task: asyncio.Task[Any] | None
    ) -> BaseException | None:
        """Until shutdown is asked, a runnable fails, or the lease is lost; returns the failure."""
        waiter = asyncio.create_task(shutdown.wait())
        more = self._runnables_started = asyncio.Event()
        try:
            while True:
                more.clear()
                more_waiter = asyncio.create_task(more.wait())  # leader-elected tasks start later
                watched: set[asyncio.Future[Any]] = {waiter, more_waiter}
                watched.update(r.task for r in self._runnables if r.task is not None and not r.task.done())
                if elector_task is not None:
                    watched.add(elector_task)
                try:
                    done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    more_waiter.cancel()
                if waiter in done:
                    log.info("Stopping and waiting for runnables (graceful shutdown)")
                    return None
                if elector_task is not None and elector_task in done:
                    exc = elector_task.exception()
                    if exc is not None:
                        return exc
                    log.error("Leader election lost", extra={"identity": self.identity})
                    return LeaderElectionLostError(
                        f"leader election lost: {self.identity!r} no longer holds lease "
                        f"{self._le_namespace}/{self._le_id}"
                    )
                for r in self._runnables:
                    if r.task in done and not r.task.cancelled() and r.task.exception() is not None:
                        exc = r.task.exception()
                        log.error("Runnable %s failed: %s", r.name, exc, exc_info=exc)
                        return exc
                # A runnable that returned normally is simply finished; keep waiting.
        finally:
            waiter.cancel()

    _stopping_runnables = False

    async def _stop_runnables(self, runnables: list[_Runnable]) -> GracefulShutdownTimeoutError | None:
        """Ask every runnable to stop now; wait for all within one grace period; cancel the rest.

        Leader-elected ones are asked first (the list's order), but nobody waits between the asks.
        Returns the overrun error (None when everything ended in time, or with no grace period).
        """
        log.info("Stopping and waiting for runnables", extra={"count": len(runnables)})
        for r in runnables:
            r.stop()
        tasks = {r.task for r in runnables if r.task is not None and not r.task.done()}
        if not tasks:
            return None
        timeout = self.graceful_shutdown_timeout
        clock = self._clock if self._clock is not None else default_clock()
        expired: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def expire() -> None:
            if not expired.done():
                expired.set_result(None)

        handle = clock.call_at(clock.now() + timeout, expire)
        try:
            pending: set[asyncio.Task[Any]] = set(tasks)
            while pending and not expired.done():
                await asyncio.wait(pending | {expired}, return_when=asyncio.FIRST_COMPLETED)
                pending = {t for t in pending if not t.done()}
        finally:
            handle.cancel()
            expired.cancel()
        if not pending:
            return None
        late = [r for r in runnables if r.task in pending]
        names = sorted(r.name for r in late)
        keys = {r.name: r.in_flight() for r in late}
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if timeout == 0:  # graceful shutdown disabled: cancelling is the plan, not a failure
            return None
        error = GracefulShutdownTimeoutError(timeout, names, {n: k for n, k in keys.items() if k})
        log.error("%s", error)
        return error

    async def _start_http(self) -> None:
        if self._metrics_address is not None:
            self._metrics_server = HTTPServer(
                self._metrics_address, metrics_app(self._registry), what="metrics"
            )
            await self._metrics_server.start()
        if self._probe_address is not None:
            self._probe_server = HTTPServer(
                self._probe_address, probes_app(self._healthz, self._readyz), what="health probe"
            )
            await self._probe_server.start()
        self._log_bound_addresses()

    async def _stop_http(self) -> None:
        for server in (self._probe_server, self._metrics_server):
            if server is not None:
                await server.stop()

    async def _start_caches(self, shutdown: asyncio.Event) -> None:
        getattr(self.client, "bind_loop", lambda loop: None)(asyncio.get_running_loop())  # for .sync
        if self._factory is None:  # no informer was ever asked for: nothing to sync
            self._caches_synced = True
            return
        if not await self._kinds.resolve_until(shutdown):  # unserved resources fail here, at once
            return  # shutdown requested while discovery was being retried
        self.factory.start()
        # The cache's own metrics (objects, handler backlogs, reflector counters) while it runs.
        if isinstance(self.factory, SharedInformerFactory):
            self._informer_collector = InformerCollector(self.factory)
            self._registry.register(self._informer_collector)
        sync = asyncio.create_task(self.factory.wait_for_cache_sync(self.cache_sync_timeout or None))
        stop = asyncio.create_task(shutdown.wait())
        try:
            await asyncio.wait({sync, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not sync.done():
            sync.cancel()
            await asyncio.gather(sync, return_exceptions=True)
            return
        results = sync.result()
        failed = sorted(str(k) for k, ok in (results or {}).items() if not ok)
        if failed:
            raise TimeoutError(f"caches did not sync within {self.cache_sync_timeout}s: {', '.join(failed)}")
        self._caches_synced = True
        log.info("Caches synced")

    async def _stop_caches(self) -> None:
        self._stopping_caches = True
        self._caches_synced = False
        if self._informer_collector is not None:
            self._registry.unregister(self._informer_collector)
            self._informer_collector = None
        if self._factory is not None:
            try:
                await self._kinds.stop()
                await self._factory.shutdown()
            except Exception:  # stopping goes on; the failure is reported, not swallowed
                log.exception("Stopping the caches failed")

    def _start_elector(self, leaders: list[_Runnable]) -> asyncio.Task[Any]:
        from pycontroller.leaderelection import LeaderElector, LeaseLock

        assert self._le_id is not None and self._le_namespace is not None
        lock = LeaseLock(self._rest, namespace=self._le_namespace, name=self._le_id, identity=self.identity)
        lease_duration, renew_deadline, retry_period = self._le_durations

        async def lead() -> None:
            if self._stopping_runnables:  # elected while stopping: start nothing new
                return
            log.info("Became leader, starting leader-elected runnables", extra={"identity": self.identity})
            for r in leaders:
                r.start()
            if self._runnables_started is not None:
                self._runnables_started.set()  # so run() watches their tasks too
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                # Leadership lost (or the elector cancelled): stop at once, no grace, like controller-runtime.
                for r in leaders:
                    if r.task is not None:
                        r.task.cancel()
                await asyncio.gather(*(r.task for r in leaders if r.task is not None), return_exceptions=True)
                raise

        kwargs: dict[str, Any] = {}
        if self._clock is not None:
            kwargs["clock"] = self._clock
        self.elector = LeaderElector(
            lock,
            lease_duration=lease_duration,
            renew_deadline=renew_deadline,
            retry_period=retry_period,
            release_on_cancel=self._le_release,
            name=self._le_id,
            on_started_leading=lead,
            **kwargs,
        )
        self._healthz.add("leaderElection", self.elector.check)
        return asyncio.create_task(self.elector.run(), name="leader-election")

    # -- webhooks (pycontroller.webhook) --------------------------------------------------------

    @property
    def webhook_server(self) -> Any:
        """The Manager's :class:`~pycontroller.webhook.WebhookServer`, created on first use.

        Pass ``webhook_server=WebhookServer(...)`` to the Manager to choose host, port and
        certificates; the default serves port 9443 with ``tls.crt``/``tls.key`` from
        controller-runtime's default directory ``<tmp>/k8s-webhook-server/serving-certs``. When
        used, it starts before the caches and stops after the controllers and the caches, and
        ``/readyz`` gets a ``webhook`` check that passes once it answers TLS. Never suspends.
        """
        if self._webhook_server is None:
            import tempfile

            from pycontroller.webhook import WebhookServer

            cert_dir = os.path.join(tempfile.gettempdir(), "k8s-webhook-server", "serving-certs")
            self._webhook_server = WebhookServer(cert_dir=cert_dir)
        return self._webhook_server

    @webhook_server.setter
    def webhook_server(self, server: Any) -> None:
        """Use ``server`` (a WebhookServer) instead of the default; only before the Manager runs and
        before webhooks were registered on another server."""
        if self._started:
            raise ManagerAlreadyStartedError("cannot replace the webhook server: the Manager has started")
        if self._webhook_server is not None and self._webhook_server is not server:
            if getattr(self._webhook_server, "registrations", None) or getattr(
                self._webhook_server, "paths", None
            ):
                raise ValueError("webhooks are already registered on the Manager's webhook server")
        self._webhook_server = server

    def add_validator(
        self, api_version: str, kind: str, fn: Any, path: str | None = None, **options: Any
    ) -> str:
        """Serve validator ``fn`` on :attr:`webhook_server`; returns its path (``WebhookServer.add_validator``)."""
        result: str = self.webhook_server.add_validator(api_version, kind, fn, path, **options)
        return result

    def add_mutator(
        self, api_version: str, kind: str, fn: Any, path: str | None = None, **options: Any
    ) -> str:
        """Serve mutator ``fn`` on :attr:`webhook_server`; returns its path (``WebhookServer.add_mutator``)."""
        result: str = self.webhook_server.add_mutator(api_version, kind, fn, path, **options)
        return result

    def add_conversion(self, group: str, kind: str, hub_version: str, spokes: Any) -> str:
        """Serve a hub-and-spoke conversion on :attr:`webhook_server`; returns ``/convert``."""
        result: str = self.webhook_server.add_conversion(group, kind, hub_version, spokes)
        return result

    async def _start_webhooks(self) -> None:
        server = self._webhook_server
        if server is None:
            return
        if "webhook" not in self._readyz.names():
            self._readyz.add("webhook", server.started_check)
        if not server.serving:
            await server.start()

    async def _stop_webhooks(self) -> None:
        if self._webhook_server is not None:
            try:
                await self._webhook_server.stop()
            except Exception:  # stopping goes on; the failure is reported, not swallowed
                log.exception("Stopping the webhook server failed")

    # -- signals --------------------------------------------------------------------------------

    def _install_signal_handlers(self) -> list[int]:
        if not self._handle_signals:
            return []
        loop = asyncio.get_running_loop()
        installed: list[int] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
            except (RuntimeError, ValueError, NotImplementedError):
                log.debug("cannot handle %s here (not the main thread?)", sig)
                continue
            installed.append(sig)
        return installed

    def _remove_signal_handlers(self, installed: list[int]) -> None:
        loop = asyncio.get_running_loop()
        for sig in installed:
            loop.remove_signal_handler(sig)

    def _on_signal(self, sig: int) -> None:
        self._signals_seen += 1
        if self._signals_seen == 1:
            log.info(
                "Received %s, shutting down gracefully (again to exit at once)", signal.Signals(sig).name
            )
            self.request_shutdown()
        else:
            log.error("Received a second signal, exiting at once")
            self._exit(1)
