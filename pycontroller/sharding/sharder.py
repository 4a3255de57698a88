"""The sharder: assigns a ring's objects to its live shards by label, and moves them safely.

It runs in every replica as a leader-elected runnable, so exactly one replica acts at a time.
It owns three kinds of informers, none of which caches the ring's assigned objects:

* the ring's shard Leases (label ``<domain>/controllerring=<ring>``): membership;
* per ring resource, the *unassigned* objects (label selector ``!shard.<domain>/<ring>``): new
  objects, and objects whose old shard acknowledged a drain. They are labelled for their shard at
  once (the assignment delay is one watch event plus one PATCH).

Two internal controllers do the work:

``ring``  (one key) reads the Leases: a Lease held by its shard and renewed within its duration
          (judged on this replica's clock, like leader election) is *ready*; one not renewed for that
          long is acquired by the sharder (holder = the sharder), which makes it *dead*, so a shard
          that comes back must wait a full lease duration before it can hold it again; a released
          Lease is dead at once. Dead Leases are deleted after ``ORPHAN_AFTER`` seconds. When the
          set of live shards changes (or every ``resync_period``) it rebalances: it pages through
          every assigned object and compares its label with the hash ring:

          The ring's members are the shards not confirmed dead (ready, or expired but not yet
          acquired), as kubernetes-controller-sharding's "available" states.

          - labelled for a shard that is not alive (dead, released, never existed): relabelled for
            its ring shard directly (logged), drain label removed: nobody reconciles it meanwhile;
          - object of a ring resource labelled for another live shard: it gets the drain label; the
            old shard acknowledges by removing both labels after its last reconcile, and the
            unassigned-objects informer then labels it for its new shard;
          - object of a controlled resource: relabelled directly (it is not reconciled itself; its
            controller's shard only reads it from its cache).

``assign-<resource>`` labels each unassigned object for ``ring.shard_for(key)``.

Start-up grace: for ``startup_grace`` seconds (one lease duration by default) after the sharder
starts, objects labelled for a shard that has no Lease at all are left alone (a whole Deployment
restarting at once: their shard is starting too); afterwards they are reassigned like any object of
a dead shard. Objects of shards whose Lease says dead are moved at once.

Every write is a merge patch guarded by the resourceVersion the decision was based on, so a
concurrent change makes it fail with a conflict and the decision is taken again. Up to
``max_concurrent_writes`` writes are in flight at once (the assigners' workers, and the writes of
one page of a rebalance); each decision stays per object.

Before moving an object of a dead shard directly, the sharder holds that shard's Lease (acquires a
released one, creates a missing one, renews it within a third of its duration; see :meth:`_hold`),
so that a replica coming back under the same name cannot take the Lease and reconcile while its
objects are being relabelled.

``namespaces`` (None: all) limits everything above (lists, watches, writes) to those namespaces.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
from typing import Any

from pycontroller.cache.informer import SharedIndexInformer
from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.clock import Clock, default_clock
from pycontroller.controller import Controller
from pycontroller.errors import AlreadyExistsError, ConflictError, InvalidError, NotFoundError
from pycontroller.handler import EventHandler, unwrap_tombstone
from pycontroller.leaderelection import LEASES
from pycontroller.leaderelection.record import format_micro_time
from pycontroller.reconcile import Result
from pycontroller.sharding.lease import DEAD, EXPIRED, READY, lease_state
from pycontroller.sharding.options import ControllerRing, drain_label, ring_label, shard_label
from pycontroller.sharding.ring import DEFAULT_VIRTUAL_NODES, HashRing, controller_key, object_key

__all__ = ["ORPHAN_AFTER", "Sharder"]

log = logging.getLogger("pycontroller.sharding")

ORPHAN_AFTER = 60.0
"""Seconds a shard Lease stays dead before the sharder deletes it (kubernetes-controller-sharding's)."""

_RING_KEY = "ring"
_CONFLICT_RETRY = 0.25  # seconds before a rebalance that met conflicts is taken again
_LEASE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class _LeaseEvents(EventHandler):
    """Notes when each Lease last changed (local clock) and wakes the ring controller."""

    def __init__(self, sharder: Sharder) -> None:
        self._sharder = sharder

    def create(self, obj: Any, enqueue: Any) -> None:
        self._sharder._observe(obj)
        enqueue(_RING_KEY)

    def update(self, old: Any, new: Any, enqueue: Any) -> None:
        self._sharder._observe(new)
        enqueue(_RING_KEY)

    def delete(self, obj: Any, enqueue: Any) -> None:
        name = str((unwrap_tombstone(obj).get("metadata") or {}).get("name"))
        self._sharder._observed.pop(name, None)
        self._sharder._held.pop(name, None)
        enqueue(_RING_KEY)


class Sharder:
    """Assigns and moves the objects of one :class:`ControllerRing` (see the module doc).

    A Manager runnable (leader-elected). ``run()`` suspends until :meth:`stop` or cancellation.
    ``identity`` is written as the holder of the Leases it marks dead. :attr:`ring` is the hash
    ring of the live shards as last computed; :attr:`states` each Lease's state.
    """

    need_leader_election = True

    def __init__(
        self,
        client: Any,
        ring: ControllerRing,
        *,
        namespace: str,
        domain: str,
        identity: str = "pycontroller-sharder",
        virtual_nodes: int = DEFAULT_VIRTUAL_NODES,
        resync_period: float = 300.0,
        startup_grace: float = 15.0,
        lease_duration: float = 15.0,
        namespaces: tuple[str, ...] | None = None,
        max_concurrent_writes: int = 8,
        clock: Clock | None = None,
    ) -> None:
        self.client = RestClient.wrap(client)
        self.controller_ring = ring
        self.namespace = namespace
        self.identity = identity
        self.name = f"sharder-{ring.name}"
        self.shard_label = shard_label(domain, ring.name)
        self.drain_label = drain_label(domain, ring.name)
        self.resync_period = resync_period
        self._clock = clock if clock is not None else default_clock()
        self.ring = HashRing((), virtual_nodes=virtual_nodes)
        self.states: dict[str, str] = {}
        self._balanced: HashRing | None = None
        self.startup_grace = startup_grace
        self.lease_duration = lease_duration
        self._ring_label = ring_label(domain)
        # Leases of dead shards the sharder holds: name -> (the Lease as written, local time of the write)
        self._held: dict[str, tuple[dict[str, Any], float]] = {}
        self._hold_locks: dict[str, asyncio.Lock] = {}
        self._started_at: float | None = None
        self._deferred = 0
        self._next_resync = 0.0
        self._observed: dict[str, tuple[Any, float]] = {}
        self._kinds: dict[GroupVersionResource, str | None] = {r.gvr: r.kind for r in ring.resources}
        for gvr in ring.controlled_resources():
            self._kinds[gvr] = None  # keyed by the controller
        self.lease_informer = SharedIndexInformer(
            self.client,
            LEASES,
            namespace=namespace,
            label_selector=f"{ring_label(domain)}={ring.name}",
            clock=self._clock,
            name=f"{self.name}-leases",
        )
        #: The namespaces the ring shards (None: every namespace): all that the sharder lists,
        #: watches and labels.
        self.namespaces = namespaces
        self.max_concurrent_writes = max_concurrent_writes
        self._writes = asyncio.Semaphore(max_concurrent_writes)
        scopes: tuple[str | None, ...] = namespaces if namespaces is not None else (None,)
        #: Per ring resource and namespace (None: all), the informer of its unassigned objects.
        self.unassigned: dict[GroupVersionResource, dict[str | None, SharedIndexInformer]] = {
            gvr: {
                ns: SharedIndexInformer(
                    self.client,
                    gvr,
                    namespace=ns,
                    label_selector=f"!{self.shard_label}",
                    clock=self._clock,
                    name=f"{self.name}-unassigned-{gvr}" + (f"/{ns}" if ns else ""),
                )
                for ns in scopes
            }
            for gvr in self._kinds
        }
        opts: dict[str, Any] = {"skip_name_validation": True, "clock": self._clock}
        self.ring_controller = Controller(f"{self.name}-ring", self._reconcile_ring, **opts)
        self.ring_controller.watch(self.lease_informer, _LeaseEvents(self))
        self.assigners: dict[GroupVersionResource, Controller] = {}
        for gvr, informers in self.unassigned.items():
            ctl = Controller(
                f"{self.name}-assign-{gvr.resource}.{gvr.group}",
                self._assigner(gvr, informers),
                max_concurrent_reconciles=max_concurrent_writes,
                **opts,
            )
            for informer in informers.values():
                ctl.watch(informer)
            self.assigners[gvr] = ctl
        self._stop: asyncio.Event | None = None
        self._stopping = False
        #: Counters for logs, tests and benchmarks.
        self.assigned = 0
        self.drained = 0
        self.moved_directly = 0

    # -- lease states ----------------------------------------------------------------------------

    def _observe(self, lease: Any) -> None:
        name = str((lease.get("metadata") or {}).get("name"))
        spec = lease.get("spec") or {}
        seen = self._observed.get(name)
        if seen is None or seen[0] != spec:
            self._observed[name] = (spec, self._clock.now())
        if spec.get("holderIdentity") != self.identity:
            self._held.pop(name, None)  # not (or no longer) ours

    def alive(self, shard: str) -> bool:
        """True when ``shard``'s Lease is ready or expired but not yet confirmed dead."""
        return self.states.get(shard) in (READY, EXPIRED)

    async def _acquire(self, lease: dict[str, Any]) -> dict[str, Any]:
        """Hold ``lease`` for the sharder: holder = the sharder, renewed now (a PUT guarded by its
        resourceVersion: ConflictError when someone else wrote it meanwhile)."""
        body = copy.deepcopy(lease)
        body.setdefault("apiVersion", LEASES.api_version)
        body.setdefault("kind", "Lease")
        spec = body.setdefault("spec", {})
        now = format_micro_time(self._clock.wall())
        if spec.get("holderIdentity") != self.identity:
            spec.update(acquireTime=now, leaseTransitions=int(spec.get("leaseTransitions") or 0) + 1)
        spec.update(holderIdentity=self.identity, renewTime=now)
        spec.setdefault("leaseDurationSeconds", max(1, round(self.lease_duration)))
        meta = body["metadata"]
        written_at = self._clock.now()
        updated: dict[str, Any] = await self.client.request(
            "PUT", LEASES.path(meta["namespace"], meta["name"]), body=body
        )
        self._observe(updated)
        self._held[str(meta["name"])] = (updated, written_at)
        return updated

    async def _mark_dead(self, lease: dict[str, Any]) -> None:
        """Acquire an expired Lease for the sharder (guarded by its resourceVersion)."""
        await self._acquire(lease)
        log.info(
            "Shard %s of ring %s is dead (its Lease expired); moving its objects",
            (lease.get("metadata") or {}).get("name"),
            self.controller_ring.name,
        )

    async def _hold(self, shard: str) -> None:
        """Make sure the sharder holds ``shard``'s Lease, written within the last third of its
        duration, before an object of that (dead) shard is moved directly.

        A shard whose replica comes back under the same name must acquire its Lease before it
        reconciles anything; while the sharder holds and renews it, it cannot, so nothing it
        reconciles is being relabelled for another shard at the same time. A released Lease is
        acquired here, a missing one is created (held), one renewed by its shard again (or by
        anyone else) raises ConflictError: the ring is computed again. A name that cannot be a
        Lease (nor a shard) needs nothing. Suspends."""
        if not _LEASE_NAME.match(shard) or len(shard) > 253:
            return
        lock = self._hold_locks.setdefault(shard, asyncio.Lock())
        async with lock:
            held = self._held.get(shard)
            now = self._clock.now()
            if held is not None:
                duration = float(
                    (held[0].get("spec") or {}).get("leaseDurationSeconds") or self.lease_duration
                )
                if now - held[1] < duration / 3:
                    return
            lease = held[0] if held is not None else None
            if lease is None:
                lease = self.lease_informer.indexer.get_by_key(f"{self.namespace}/{shard}")
            if lease is None:
                await self._create_held(shard)
                return
            holder = (lease.get("spec") or {}).get("holderIdentity") or ""
            if holder not in ("", self.identity):
                self._held.pop(shard, None)
                raise ConflictError(
                    409,
                    "Conflict",
                    f"the Lease of shard {shard} is held by {holder!r} again: not moving its objects",
                )
            try:
                await self._acquire(lease)
            except (ConflictError, NotFoundError):
                self._held.pop(shard, None)
                raise ConflictError(
                    409, "Conflict", f"the Lease of shard {shard} changed: looking at the ring again"
                ) from None

    async def _create_held(self, shard: str) -> None:
        now = format_micro_time(self._clock.wall())
        body = {
            "apiVersion": LEASES.api_version,
            "kind": "Lease",
            "metadata": {
                "name": shard,
                "namespace": self.namespace,
                "labels": {self._ring_label: self.controller_ring.name},
            },
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": max(1, round(self.lease_duration)),
                "acquireTime": now,
                "renewTime": now,
                "leaseTransitions": 0,
            },
        }
        written_at = self._clock.now()
        try:
            created: dict[str, Any] = await self.client.request(
                "POST", LEASES.path(self.namespace), body=body
            )
        except AlreadyExistsError:
            raise ConflictError(
                409, "Conflict", f"shard {shard} created its Lease meanwhile: looking at the ring again"
            ) from None
        except InvalidError:
            return  # not a name a Lease (so a shard) can have: no replica can come back under it
        self._observe(created)
        self._held[shard] = (created, written_at)

    async def _reconcile_ring(self, key: str) -> Result:
        now = self._clock.now()
        if self._started_at is None:
            self._started_at = now
        started = self._started_at
        states: dict[str, str] = {}
        wake = self.resync_period
        for lease in self.lease_informer.indexer.list():
            meta = lease.get("metadata") or {}
            name = str(meta.get("name"))
            spec = lease.get("spec") or {}
            seen = self._observed.get(name)
            seen_at = seen[1] if seen is not None and seen[0] == spec else now
            state = lease_state(lease, seen_at, now)
            if state == EXPIRED:
                try:
                    await self._mark_dead(lease)
                    state = DEAD
                    seen_at = now
                except (ConflictError, NotFoundError):
                    state = EXPIRED  # it changed meanwhile: look again at the next event
                    wake = min(wake, 0.05)
            if state == READY:
                wake = min(wake, seen_at + float(spec.get("leaseDurationSeconds") or 0) - now)
            elif state == DEAD:
                if now - seen_at >= ORPHAN_AFTER:
                    try:
                        await self.client.request(
                            "DELETE",
                            LEASES.path(meta.get("namespace"), name),
                            body={
                                "kind": "DeleteOptions",
                                "apiVersion": "v1",
                                "preconditions": {"resourceVersion": meta.get("resourceVersion")},
                            },
                        )
                    except (ConflictError, NotFoundError):
                        pass  # renewed or gone meanwhile: the next event tells
                else:
                    wake = min(wake, seen_at + ORPHAN_AFTER - now)
            states[name] = state
        self.states = states
        # Members: every shard not confirmed dead. An expired Lease stays in the ring until the
        # sharder's conditional write proves it was not renewed (then it is dead): a shard whose
        # renewals merely reach us late (a busy event loop) causes no moves.
        ring = self.ring.with_shards(n for n, s in states.items() if s in (READY, EXPIRED))
        if ring != self.ring:
            log.info(
                "Ring %s has %d ready shard(s): %s",
                self.controller_ring.name,
                len(ring.shards),
                ", ".join(sorted(ring.shards)) or "none",
            )
        self.ring = ring
        if ring.shards:
            for gvr, informers in self.unassigned.items():  # they may have a shard now
                for informer in informers.values():
                    for k in informer.indexer.list_keys():
                        self.assigners[gvr].enqueue(k)
        if (ring != self._balanced or now >= self._next_resync) and self._nothing_to_move(ring, states):
            # Replicas starting together: the first one's ring holds only itself. A pass now could
            # write nothing (see _nothing_to_move); look again when the ring changes, or at the
            # end of the grace at the latest (objects of shards that never came).
            self._balanced = ring
            self._next_resync = started + self.startup_grace
        elif ring != self._balanced or now >= self._next_resync:
            self._deferred = 0
            counts = (self.drained, self.moved_directly)
            conflicts = await self._rebalance(ring)
            if conflicts:
                # Objects (or a dead shard's Lease) changed under the pass: the normal churn of a
                # move. Look again shortly from fresh lists, at a fixed pace rather than with the
                # growing back-off of an error.
                log.info(
                    "Ring %s: %d object(s) or Lease(s) changed during the rebalance; looking again",
                    self.controller_ring.name,
                    conflicts,
                )
                self._balanced = None
                return Result(requeue_after=_CONFLICT_RETRY)
            log.info(
                "Ring %s rebalanced over %d shard(s) in %.2fs: %d drain label(s) set, %d object(s) moved directly",
                self.controller_ring.name,
                len(ring.shards),
                self._clock.now() - now,
                self.drained - counts[0],
                self.moved_directly - counts[1],
            )
            self._balanced = ring
            self._next_resync = now + self.resync_period
            if self._deferred:
                # Objects of shards without a Lease yet: look again when the start-up grace ends.
                self._next_resync = min(self._next_resync, started + self.startup_grace)
        if now < self._next_resync:
            wake = min(wake, self._next_resync - now)
        return Result(requeue_after=max(wake, 0.05))

    def _nothing_to_move(self, ring: HashRing, states: dict[str, str]) -> bool:
        """True when a rebalance over ``ring`` cannot write anything: during the start-up grace,
        with one live shard and no dead one. Every object is then labelled for that shard (it
        stays), for a dead shard (none), or for a shard without a Lease (left alone in the grace)."""
        return self._in_grace() and len(ring.shards) == 1 and DEAD not in states.values()

    # -- moving objects --------------------------------------------------------------------------

    def _ring_key(self, gvr: GroupVersionResource, obj: dict[str, Any]) -> str | None:
        kind = self._kinds[gvr]
        if kind is None:
            return controller_key(obj)
        return object_key(gvr.group, kind, obj)

    async def _patch_labels(
        self, gvr: GroupVersionResource, obj: dict[str, Any], labels: dict[str, Any], *, hold: str = ""
    ) -> bool:
        """Merge-patch ``labels`` onto ``obj`` (guarded by its resourceVersion); False when it is
        gone. ``hold``: the dead shard the object is moved away from, whose Lease the sharder holds
        (renewed) right before the write (see :meth:`_hold`)."""
        meta = obj["metadata"]
        patch = {"metadata": {"resourceVersion": meta.get("resourceVersion"), "labels": labels}}
        async with self._writes:  # at most max_concurrent_writes label writes in flight
            if hold:
                await self._hold(hold)  # its replica cannot come back while we move its objects
            try:
                await self.client.patch(gvr, meta["name"], patch, meta.get("namespace"))
            except NotFoundError:
                return False
        return True

    async def _rebalance(self, ring: HashRing) -> int:
        """Check every assigned object against ``ring``, page by page; the writes of a page run
        concurrently (bounded by ``max_concurrent_writes``), each decision on its own object.
        Returns how many writes failed with a conflict (the pass must be taken again); raises
        any other error."""
        conflicts = 0
        failure: BaseException | None = None
        scopes: tuple[str | None, ...] = self.namespaces if self.namespaces is not None else (None,)
        for gvr in self._kinds:
            for namespace in scopes:
                token: str | None = None
                while True:
                    page = await self.client.list(
                        gvr, namespace, labelSelector=self.shard_label, limit=500, **{"continue": token}
                    )
                    writes = [self._decide(gvr, obj, ring) for obj in page.get("items") or ()]
                    results = await asyncio.gather(
                        *(w for w in writes if w is not None), return_exceptions=True
                    )
                    for result in results:
                        if isinstance(result, ConflictError):
                            conflicts += 1
                        elif isinstance(result, BaseException) and failure is None:
                            failure = result
                    token = (page.get("metadata") or {}).get("continue") or None
                    if not token or failure is not None:
                        break
                if failure is not None:
                    self._balanced = None
                    raise failure
        return conflicts

    def _decide(self, gvr: GroupVersionResource, obj: dict[str, Any], ring: HashRing) -> Any:
        """The write ``obj`` needs under ``ring`` (a coroutine), or None. Never suspends: most
        objects need nothing, and cost no task."""
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        current = str(labels.get(self.shard_label) or "")
        key = self._ring_key(gvr, obj)
        desired = ring.shard_for(key) if key is not None else None
        if not self.alive(current):
            if current not in self.states and self._in_grace():
                self._deferred += 1  # its replica may be starting with us: no Lease yet
                return None
            if current not in self.states:
                log.info(
                    "%s %s/%s is labelled for shard %r, which ring %s never had; reassigning it to %s",
                    gvr.resource,
                    meta.get("namespace") or "",
                    meta.get("name"),
                    current,
                    self.controller_ring.name,
                    desired,
                )
            return self._write(
                gvr, obj, {self.shard_label: desired, self.drain_label: None}, current, "moved"
            )
        if current == desired or desired is None:
            return None
        if self._kinds[gvr] is None:
            return self._write(gvr, obj, {self.shard_label: desired}, "", "moved")
        if self.drain_label not in labels:
            return self._write(gvr, obj, {self.drain_label: "true"}, "", "drained")
        return None

    async def _write(
        self, gvr: GroupVersionResource, obj: dict[str, Any], labels: dict[str, Any], hold: str, what: str
    ) -> None:
        if await self._patch_labels(gvr, obj, labels, hold=hold):
            if what == "drained":
                self.drained += 1
            else:
                self.moved_directly += 1

    def _in_grace(self) -> bool:
        started = self._started_at
        return started is not None and self._clock.now() < started + self.startup_grace

    def _assigner(self, gvr: GroupVersionResource, informers: dict[str | None, SharedIndexInformer]) -> Any:
        async def assign(key: str) -> Result | None:
            informer = informers.get(key.partition("/")[0] if "/" in key else "") or informers.get(None)
            obj = informer.indexer.get_by_key(key) if informer is not None else None
            if obj is None or self.shard_label in ((obj.get("metadata") or {}).get("labels") or {}):
                return None
            ring_key = self._ring_key(gvr, obj)
            shard = self.ring.shard_for(ring_key) if ring_key is not None else None
            if shard is None:
                return None  # no ready shard (enqueued again when one is), or a controlled object without controller
            try:
                if await self._patch_labels(gvr, obj, {self.shard_label: shard, self.drain_label: None}):
                    self.assigned += 1
            except ConflictError:
                # Our cached copy is older than the object: typically it was just assigned (by
                # this same key's previous pass) and the watch has not told us yet. Look again
                # shortly, from the cache: gone from it means assigned.
                log.debug("assigning %s: it changed meanwhile; looking again", key)
                return Result(requeue_after=0.05)
            return None

        return assign

    # -- running ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Watch Leases and unassigned objects and run the controllers until stopped."""
        self._stop = stop = asyncio.Event()
        if self._stopping:
            return
        informers = [self.lease_informer, *(i for by_ns in self.unassigned.values() for i in by_ns.values())]
        controllers = [self.ring_controller, *self.assigners.values()]
        for informer in informers:
            informer.start()
        tasks = [asyncio.create_task(c.run(), name=c.name) for c in controllers]
        stopper = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait({stopper, *tasks}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopper:
                    task.result()  # a controller failed: raise its error
        finally:
            stopper.cancel()
            for c in controllers:
                c.stop()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.gather(*(i.stop() for i in informers), return_exceptions=True)

    def stop(self) -> None:
        """Stop gracefully: in-flight writes finish. Never suspends."""
        self._stopping = True
        if self._stop is not None:
            self._stop.set()
