"""Sharding wired into a Manager: the shard, the sharder, label-selected informers, wrapped reconcilers.

``Manager(..., sharding=ShardingOptions(...))`` builds one :class:`Sharding` and exposes it as
``mgr.sharding``. It adds two runnables: this replica's :class:`~pycontroller.sharding.lease.Shard`
(in every replica) and the :class:`~pycontroller.sharding.sharder.Sharder` (leader-elected, so the
Manager needs ``leader_election=True``). Every informer the Manager makes for a resource of the ring
watches only the objects labelled for this shard. Controllers of the ring's resources are built with
:meth:`Sharding.controller` (or their reconcile wrapped with :meth:`Sharding.wrap_reconcile`): they run
in every replica and follow the drain protocol.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pycontroller.cache.options import UNSET as _UNSET
from pycontroller.cache.options import _Unset
from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.clock import Clock
from pycontroller.config import pod_namespace
from pycontroller.controller import Controller
from pycontroller.sharding.lease import Shard
from pycontroller.sharding.options import (
    ShardingConfigError,
    ShardingOptions,
    default_shard_name,
    drain_label,
    shard_label,
)
from pycontroller.sharding.reconciler import sharded_reconciler
from pycontroller.sharding.sharder import Sharder

__all__ = ["Sharding"]

log = logging.getLogger("pycontroller.sharding")


class Sharding:
    """One replica's sharding: its :attr:`shard`, the :attr:`sharder`, and helpers for controllers.

    Built by the Manager from :class:`ShardingOptions` (raises :class:`ShardingConfigError` for a bad
    ring, shard or domain name, a missing Lease namespace, or ``leader_election=False``).
    """

    def __init__(
        self,
        client: Any,
        options: ShardingOptions,
        *,
        leader_election: bool,
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(options, ShardingOptions):
            raise TypeError(f"sharding= takes ShardingOptions, got {type(options).__name__}")
        options.validate()
        if not leader_election:
            raise ShardingConfigError(
                "sharding needs leader_election=True: the sharder must run in one replica at a time"
            )
        self.options = options
        self.ring = options.controller_ring()
        self.client = RestClient.wrap(client)
        namespace = options.lease_namespace or pod_namespace()
        if not namespace:
            raise ShardingConfigError(
                "sharding needs lease_namespace (the namespace of the shard Leases) outside a cluster"
            )
        self.shard_label = shard_label(options.domain, self.ring.name)
        self.drain_label = drain_label(options.domain, self.ring.name)
        self.shard = Shard(
            self.client,
            name=options.shard_name or default_shard_name(),
            ring=self.ring.name,
            namespace=namespace,
            domain=options.domain,
            lease_duration=options.lease_duration,
            renew_deadline=options.renew_deadline,
            retry_period=options.retry_period,
            clock=clock,
        )
        self.sharder = Sharder(
            self.client,
            self.ring,
            namespace=namespace,
            domain=options.domain,
            virtual_nodes=options.virtual_nodes,
            resync_period=options.resync_period,
            startup_grace=options.lease_duration,
            lease_duration=options.lease_duration,
            namespaces=options.namespaces,
            max_concurrent_writes=options.max_concurrent_writes,
            clock=clock,
        )
        self._informers: dict[GroupVersionResource, Any] = {}

    @property
    def selector(self) -> str:
        """The label selector of this shard's objects: ``shard.<domain>/<ring>=<shard>``."""
        return f"{self.shard_label}={self.shard.name}"

    def configure_informer(self, informer: Any) -> None:
        """Make ``informer`` (of a ring resource) watch only this shard's objects, and only the
        ring's namespace when ``ShardingOptions(namespaces=[one])`` and the informer would watch
        every namespace. Other resources are left alone. Raises ShardingConfigError when it already
        started unfiltered; logs a warning (and leaves it caching every shard's objects) for an
        informer over several namespaces made without the selector (see :meth:`informer_options`)."""
        gvr = informer.gvr
        if gvr not in self.ring.all_resources():
            return
        self._informers[gvr] = informer
        ring_namespaces = self.options.namespaces
        if (
            informer.namespace is None
            and getattr(informer, "_reflector_factory", None) is None  # not over several namespaces
            and ring_namespaces is not None
            and len(ring_namespaces) == 1
            and not informer.is_started
        ):
            informer.namespace = ring_namespaces[0]
        current = informer.label_selector or ""
        if self.selector in current.split(","):
            return
        if informer.is_started:
            raise ShardingConfigError(
                f"the informer of {gvr} started before sharding was applied; it would cache every shard's objects"
            )
        if getattr(informer, "_reflector_factory", None) is not None:
            # An informer over several namespaces: its reflectors took their selector when it was
            # made (see informer_options), so a selector set now would not reach them. It stays
            # correct (the reconcile wrapper skips other shards' objects) but caches them all.
            log.warning(
                "the informer of %s watches several namespaces and was made without this shard's "
                "selector %s (asked for by kind before sharding could apply it): it caches every "
                "shard's objects; ask for it first with mgr.informer_for(group, version, resource)",
                gvr,
                self.selector,
            )
            return
        informer.label_selector = f"{current},{self.selector}" if current else self.selector

    def informer_options(
        self, gvr: GroupVersionResource, options: dict[str, Any], defaults: Any, factory: Any = None
    ) -> dict[str, Any]:
        """``options`` for ``factory.informer_for(gvr, **options)``, with this shard's label
        selector added for a ring resource (merged with the one given, else with ``defaults``, the
        Manager's :class:`~pycontroller.cache.options.CacheOptions` or None). The selector must be
        there when the informer is made: an informer over several namespaces gives it to its
        reflectors then. When ``factory`` already has the informer and made it without the
        selector (asked for by kind first), ``options`` are left as they are (:meth:`configure_informer`
        handles it), so that asking again does not differ from how it was made. Other resources:
        ``options`` unchanged. Never suspends."""
        if gvr not in self.ring.all_resources():
            return options
        if factory is not None:
            made = factory.metadata_informers if options.get("metadata_only") else factory.informers
            existing = made.get(gvr)
            made_with = factory.options_of(existing) if existing is not None else None
            if existing is not None and (
                made_with is None or self.selector not in (made_with.label_selector or "").split(",")
            ):
                return options
        selector = options.get("label_selector", _UNSET)
        if selector is _UNSET or isinstance(selector, _Unset):
            selector = None
            if defaults is not None:
                found = defaults.by_object_for(gvr.group, gvr.resource)
                value = found.label_selector if found is not None else _UNSET
                selector = defaults.default_label_selector if isinstance(value, _Unset) else value
        current = selector or ""
        if self.selector in current.split(","):
            return options
        return {**options, "label_selector": f"{current},{self.selector}" if current else self.selector}

    def wrap_reconcile(self, reconcile: Callable[[str], Any], informer: Any) -> Callable[[str], Any]:
        """``reconcile`` wrapped in the shard's protocol (see :mod:`pycontroller.sharding.reconciler`).

        ``informer`` is the (label-selected) informer of the controller's main resource, which must be
        a resource of the ring. This is what a Builder's ``.sharded(ring)`` applies.
        """
        self.configure_informer(informer)
        if informer.gvr not in self.ring.main_resources():
            raise ShardingConfigError(
                f"{informer.gvr} is not a resource of ring {self.ring.name!r}; a sharded controller "
                "reconciles one of: " + ", ".join(str(g) for g in self.ring.main_resources())
            )
        return sharded_reconciler(
            reconcile,
            shard=self.shard,
            informer=informer,
            client=self.client,
            gvr=informer.gvr,
            shard_label=self.shard_label,
            drain_label=self.drain_label,
            not_ready_retry=self.options.retry_period,
        )

    def controller(
        self, name: str, reconcile: Callable[[str], Any], informer: Any, **kwargs: Any
    ) -> Controller:
        """A Controller of ``informer``'s resource that runs in every replica and reconciles only
        this shard's objects (keyword arguments go to :class:`Controller`). It watches ``informer``
        with the default handler; add more watches (``enqueue_owner``) as usual. When the shard
        becomes ready again, every cached key is enqueued."""
        kwargs.setdefault("need_leader_election", False)
        ctl = Controller(name, self.wrap_reconcile(reconcile, informer), **kwargs)
        ctl.watch(informer)

        def requeue_all() -> None:
            for key in informer.indexer.list_keys():
                ctl.enqueue(key)

        self.shard.on_ready(requeue_all)
        return ctl

    def runnables(self) -> list[Any]:
        """What the Manager runs: the shard (every replica) and the sharder (leader only)."""
        return [self.shard, self.sharder]
