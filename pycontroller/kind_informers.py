"""The Manager's informers asked for by kind, checked against discovery before they start.

:meth:`pycontroller.manager.Manager.informer_for` hands out an informer at once (so listers can be
built over its indexer before anything runs), but its resource is only certain once the
:class:`~pycontroller.restmapper.RESTMapper` answered. This module holds that bookkeeping:

* ``informer_for("apps/v1", "Deployment")`` whose mapping the mapper already knows: the factory's
  informer for that resource, at once.
* otherwise a *pending* informer with the factory's settings; when the Manager starts its caches,
  :meth:`KindInformers.resolve` maps it (one discovery request per group-version), sets its
  resource and files it in the factory (a pending informer that turns out to name a resource the
  factory already has keeps its own watch, and a warning says to ask for it one way).
* every informer asked for by resource is checked the same way, so a typo or a missing CRD fails
  :meth:`Manager.run` within a discovery round trip with
  :class:`~pycontroller.errors.NoKindMatchError` naming it, not after the cache-sync timeout.
* ``wait_for_crd=True``: an informer whose resource is not served yet does not fail the start and
  does not hold back the other caches; it waits (logging once, at info) polling discovery, then
  starts and syncs (controller-runtime #1179). A controller watching it waits for it within its own
  ``cache_sync_timeout``, as controller-runtime's does.

The event handlers bound to these informers that need a mapping (:func:`~pycontroller.handler.enqueue_owner`
learns its owner kind's scope) get it here too, before the first event. Resolution happens once
per informer and handler, at start (or when asked for after start); nothing here runs
per event. Discovery failures other than "not served" (a 503, a refused connection) are retried
with backoff until ``cache_sync_timeout``, then raised.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from typing import Any

from pycontroller.backoff import Backoff
from pycontroller.client import GroupVersionResource
from pycontroller.clock import Clock
from pycontroller.errors import NoKindMatchError
from pycontroller.restmapper import RESTMapper, RESTMapping

__all__ = ["KindInformers"]

log = logging.getLogger("pycontroller.manager")


class _Pending:
    __slots__ = ("api_version", "informer", "name", "wait_for_crd")

    def __init__(self, informer: Any, api_version: str, name: str, wait_for_crd: bool) -> None:
        self.informer = informer
        self.api_version = api_version
        self.name = name
        self.wait_for_crd = wait_for_crd


class KindInformers:
    """Pending informers of one Manager (module doc). Lives on the Manager's loop."""

    def __init__(
        self,
        factory: Callable[[], Any],
        mapper: Callable[[], RESTMapper],
        clock: Callable[[], Clock],
        timeout: Callable[[], float],
        configure: Callable[[Any], object] = lambda informer: None,
    ) -> None:
        self._factory = factory
        self._configure = configure  # the Manager's per-informer options (sharding), once the GVR is known
        self._mapper = mapper
        self._clock = clock
        self._timeout = timeout
        self._pending: list[_Pending] = []
        self._waiters: set[asyncio.Task[None]] = set()
        self._started = False
        #: Informers that duplicate one the factory already had; they run beside it.
        self._extra: list[Any] = []
        self._checked: weakref.WeakSet[Any] = weakref.WeakSet()

    def informer_for(self, api_version: str, name: str, *, wait_for_crd: bool, **options: Any) -> Any:
        """The informer for ``name`` (kind, plural, singular, short name) in ``api_version``. Never suspends.

        ``options`` are cache options for the factory (namespaces, selectors, transform...).
        """
        factory = self._factory()
        mapping = self._mapper().cached(api_version, name)
        if mapping is not None and not wait_for_crd:
            gvr = mapping.gvr
            informer = factory.informer_for(
                gvr.group, gvr.version, gvr.resource, kind=mapping.kind, **options
            )
            self._configure(informer)
            if self._started:
                factory.start()
            return informer
        for p in self._pending:
            if (p.api_version, p.name) == (api_version, name):
                return p.informer
        group, _, version = api_version.rpartition("/")
        provisional = mapping.gvr if mapping is not None else GroupVersionResource(group, version, name)
        if mapping is None and not version:
            raise ValueError(
                f"informer_for needs an api_version with a version ('apps/v1'), got {api_version!r}"
            )
        new_informer = getattr(factory, "new_informer", None)
        if new_informer is None:  # a stand-in factory without deferred informers: as named
            return factory.informer_for(
                provisional.group, provisional.version, provisional.resource, **options
            )
        # cache options (cachescale): a kind-named pending informer takes its (group, Kind) options now
        kind = mapping.kind if mapping is not None else name
        pending = _Pending(new_informer(provisional, kind=kind, **options), api_version, name, wait_for_crd)
        self._pending.append(pending)
        if self._started:
            self._spawn(self._resolve_pending(pending))
        return pending.informer

    def check_later(self, informer: Any) -> None:
        """After start: check an informer asked for by resource in the background; an unserved
        one is logged as an error naming it (its reflector keeps retrying). Never suspends."""
        if self._started and informer not in self._checked:
            self._checked.add(informer)
            self._spawn(self._check(informer))

    async def resolve(self) -> None:
        """Map every pending informer and check every factory informer against discovery. Suspends.

        Raises NoKindMatchError for the first resource not served (unless waiting for its CRD).
        """
        factory = self._factory()
        informers = list(getattr(factory, "informers", {}).values())
        for informer in informers:
            try:
                self._checked.add(informer)
            except TypeError:  # a stand-in without weak references: it is checked now anyway
                pass
        checks = [self._check(inf) for inf in informers]
        checks += [self._resolve_pending(p) for p in list(self._pending)]
        informers += [p.informer for p in self._pending]
        checks += [self._prepare(inf) for inf in informers]
        results = await asyncio.gather(*checks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        self._started = True  # from now on, informers filed later are started at once
        for informer in self._extra:  # duplicates the factory does not own: started here
            if not informer.is_started:
                informer.start()

    async def stop(self) -> None:
        """Stop waiting for CRDs and stop the duplicate informers. Suspends briefly."""
        for task in self._waiters:
            task.cancel()
        await asyncio.gather(*self._waiters, return_exceptions=True)
        await asyncio.gather(*(inf.stop() for inf in self._extra), return_exceptions=True)

    # -- one informer -------------------------------------------------------------------------------

    async def _prepare(self, informer: Any) -> None:
        """Let the event handlers that need a mapping (enqueue_owner) resolve it before events flow."""
        mapper = self._mapper()
        for registration in getattr(informer, "registrations", ()):
            handler = getattr(getattr(registration, "handler", None), "handler", None)
            prepare = getattr(handler, "prepare", None)
            if callable(prepare):
                await prepare(mapper)

    async def _check(self, informer: Any) -> None:
        gvr = getattr(informer, "gvr", None)
        if not isinstance(gvr, GroupVersionResource):
            return
        await self._map(lambda m: m.kind_for(gvr))

    async def _resolve_pending(self, p: _Pending) -> None:
        try:
            mapping = await self._map(lambda m: m.resource_for(p.api_version, p.name))
        except NoKindMatchError as exc:
            if not p.wait_for_crd:
                raise
            log.info("Waiting for the CustomResourceDefinition to be served (wait_for_crd): %s", exc)
            self._spawn(self._wait_served(p))
            return
        self._file(p, mapping)

    async def _wait_served(self, p: _Pending) -> None:
        clock = self._clock()
        backoff = Backoff(0.2, 5.0, factor=2.0, jitter=0.1, reset_after=0, clock=clock)
        mapper = self._mapper()
        warned = False
        while True:
            await backoff.wait()
            try:
                mapping = await mapper.resource_for(p.api_version, p.name)
            except NoKindMatchError:
                continue
            except Exception as exc:  # discovery trouble: keep waiting, and say so (once)
                level = logging.DEBUG if warned else logging.WARNING
                log.log(level, "Discovery failed while waiting for %s %s: %s", p.api_version, p.name, exc)
                warned = True
                continue
            log.info("%s is served now; starting its informer", mapping.gvr)
            self._file(p, mapping)
            return

    def _file(self, p: _Pending, mapping: RESTMapping) -> None:
        informer = p.informer
        if p in self._pending:
            self._pending.remove(p)
        default_name = informer.name == str(informer.gvr) or informer.name.startswith(f"{informer.gvr}/")
        informer.gvr = mapping.gvr
        if default_name:
            ns = informer.namespace
            informer.name = f"{mapping.gvr}/{ns}" if ns else str(mapping.gvr)
        self._configure(informer)
        factory = self._factory()
        filed = factory.adopt(informer)
        if filed is not informer:
            log.warning(
                "informer_for(%r, %r) names %s, which was also asked for another way; both watch it "
                "(ask for it one way to share one cache)",
                p.api_version,
                p.name,
                mapping.gvr,
            )
            self._extra.append(informer)
        if self._started:  # asked for after start, or its CRD came late: start it now
            if filed is informer:
                factory.start()
            else:
                informer.start()

    async def _map(self, ask: Callable[[RESTMapper], Any]) -> RESTMapping:
        """``ask(mapper)``, retrying discovery failures other than NoKindMatchError until the timeout."""
        clock = self._clock()
        mapper = self._mapper()
        deadline = clock.now() + (self._timeout() or float("inf"))
        backoff = Backoff(0.2, 5.0, factor=2.0, jitter=0.1, reset_after=0, clock=clock)
        while True:
            try:
                mapping: RESTMapping = await ask(mapper)
                return mapping
            except NoKindMatchError:
                raise
            except Exception as exc:
                if clock.now() >= deadline:
                    raise
                log.warning("Discovery failed (retrying): %s", exc)
                await backoff.wait()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._waiters.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._waiters.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("Resolving an informer failed: %s", task.exception(), exc_info=task.exception())
