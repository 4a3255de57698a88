"""A shard's own Lease: held like a leader-election lock, one per replica, labelled with the ring.

:class:`Shard` campaigns with a :class:`~pycontroller.leaderelection.LeaderElector` on the Lease
named after the shard (``holderIdentity`` = the shard name, as kubernetes-controller-sharding
does) and renews it the same way. While it holds the Lease it is *ready*: the sharder assigns it
objects and its reconcile wrapper (:mod:`pycontroller.sharding.reconciler`) lets reconciles run.

* Lost (not renewed within ``renew_deadline``): the shard stops starting reconciles and cancels
  the ones in flight at once, then :meth:`Shard.run` raises :class:`ShardLeaseLostError`.
* Clean stop (:meth:`Shard.stop`): no new reconciles; the ones in flight finish; then the Lease is
  released (holder ""), which the sharder reads as "dead": it moves the shard's objects at once.
* Two replicas with one shard name: each Lease write carries the writer's instance id in an
  annotation. A replica that finds its Lease renewed by another instance during its first
  ``lease_duration`` refuses to start (:class:`DuplicateShardError`); one that finds it unchanged
  for that long (a crashed predecessor) takes it over.

Lease states as the sharder reads them (:func:`lease_state`): ``ready`` (held by its shard, renewed
within ``leaseDurationSeconds`` of the reader's local clock), ``expired`` (held by its shard but not
renewed for that long: the sharder then acquires it, making it ``dead``), ``dead`` (released, or
held by someone else than its shard).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from pycontroller.client import RestClient
from pycontroller.clock import Clock, default_clock
from pycontroller.errors import ConfigError, DecodeError, NotFoundError
from pycontroller.leaderelection import LEASES, LeaderElectionRecord, LeaderElector
from pycontroller.sharding.options import (
    DuplicateShardError,
    ShardLeaseLostError,
    check_shard_name,
    ring_label,
)

__all__ = ["INSTANCE_ANNOTATION", "Shard", "ShardLeaseLock", "lease_state"]

log = logging.getLogger("pycontroller.sharding")

INSTANCE_ANNOTATION = "sharding.pycontroller.dev/instance"
"""Annotation naming the process that last wrote a shard Lease (tells two same-named replicas apart)."""

READY, EXPIRED, DEAD = "ready", "expired", "dead"


def lease_state(lease: dict[str, Any], observed_at: float, now: float) -> str:
    """``ready``, ``expired`` or ``dead`` for a shard Lease last seen to change at ``observed_at``
    (local monotonic seconds) when it is ``now``. Never suspends."""
    spec = lease.get("spec") or {}
    name = (lease.get("metadata") or {}).get("name")
    if not spec.get("holderIdentity") or spec.get("holderIdentity") != name:
        return DEAD
    duration = spec.get("leaseDurationSeconds") or 0
    return READY if now < observed_at + duration else EXPIRED


class ShardLeaseLock:
    """The :class:`~pycontroller.leaderelection.ResourceLock` of one shard: a Lease named after the
    shard, labelled ``<domain>/controllerring=<ring>``, annotated with this process's instance id.

    A Lease last written by another instance reads as held by ``"<shard>@<instance>"``, so the
    elector honours that claim until it expires instead of renewing it as its own.
    """

    def __init__(
        self,
        client: Any,
        *,
        namespace: str,
        name: str,
        ring: str,
        domain: str,
        instance: str,
        request_timeout: float = 10.0,
    ) -> None:
        self._client = RestClient.wrap(client)
        self.namespace = namespace
        self.name = name
        self.ring = ring
        self.domain = domain
        self.instance = instance
        self._timeout = request_timeout
        self._lease: dict[str, Any] | None = None

    @property
    def identity(self) -> str:
        return self.name

    def describe(self) -> str:
        return f"{self.namespace}/{self.name}"

    async def read(self) -> dict[str, Any]:
        """GET the Lease as it is (NotFoundError when absent). Suspends."""
        lease: dict[str, Any] = await self._client.request(
            "GET", LEASES.path(self.namespace, self.name), timeout=self._timeout
        )
        return lease

    async def get(self) -> tuple[LeaderElectionRecord, bytes]:
        lease = await self.read()
        try:
            record = LeaderElectionRecord.from_lease_spec(lease.get("spec"))
        except ValueError as exc:
            raise DecodeError(f"shard lease {self.describe()}: {exc}") from None
        self._lease = lease
        writer = ((lease.get("metadata") or {}).get("annotations") or {}).get(INSTANCE_ANNOTATION)
        if record.holder_identity == self.name and writer and writer != self.instance:
            record = LeaderElectionRecord(
                holder_identity=f"{self.name}@{writer}",
                lease_duration_seconds=record.lease_duration_seconds,
                acquire_time=record.acquire_time,
                renew_time=record.renew_time,
                leader_transitions=record.leader_transitions,
            )
        return record, orjson.dumps([record.to_lease_spec(), writer])

    def _metadata(self, meta: dict[str, Any]) -> dict[str, Any]:
        meta.setdefault("labels", {})[ring_label(self.domain)] = self.ring
        meta.setdefault("annotations", {})[INSTANCE_ANNOTATION] = self.instance
        return meta

    async def create(self, record: LeaderElectionRecord) -> None:
        body = {
            "apiVersion": LEASES.api_version,
            "kind": "Lease",
            "metadata": self._metadata({"name": self.name, "namespace": self.namespace}),
            "spec": record.to_lease_spec(),
        }
        self._lease = await self._client.request(
            "POST", LEASES.path(self.namespace), body=body, timeout=self._timeout
        )

    async def update(self, record: LeaderElectionRecord) -> None:
        if self._lease is None:
            raise RuntimeError("ShardLeaseLock.update called before get or create")
        lease = copy.deepcopy(self._lease)
        lease.setdefault("apiVersion", LEASES.api_version)
        lease.setdefault("kind", "Lease")
        self._metadata(lease.setdefault("metadata", {}))
        lease["spec"] = record.to_lease_spec()
        self._lease = await self._client.request(
            "PUT", LEASES.path(self.namespace, self.name), body=lease, timeout=self._timeout
        )

    def record_event(self, message: str) -> None:
        log.info("shard %s %s", self.describe(), message)


class Shard:
    """This replica's membership in a ring: holds and renews its shard Lease (see the module doc).

    A Manager runnable that runs in every replica (``need_leader_election = False``). ``run()``
    suspends until :meth:`stop` (then returns after releasing the Lease) or until the Lease is lost
    (raises :class:`ShardLeaseLostError`); it raises :class:`DuplicateShardError` at start when
    another live replica holds the same shard name. :meth:`is_ready` says whether reconciles may
    run now. After ``run()`` ended the shard is never ready again.
    """

    need_leader_election = False

    def __init__(
        self,
        client: Any,
        *,
        name: str,
        ring: str,
        namespace: str,
        domain: str,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        clock: Clock | None = None,
    ) -> None:
        check_shard_name(name)
        if not namespace:
            raise ConfigError("a shard needs the namespace of its Lease (lease_namespace)")
        self.name = name
        self.ring = ring
        self.namespace = namespace
        self.instance = uuid.uuid4().hex
        self._clock = clock if clock is not None else default_clock()
        self.lock = ShardLeaseLock(
            client, namespace=namespace, name=name, ring=ring, domain=domain, instance=self.instance
        )
        self.elector = LeaderElector(
            self.lock,
            lease_duration=lease_duration,
            renew_deadline=renew_deadline,
            retry_period=retry_period,
            release_on_cancel=True,
            name=f"shard {namespace}/{name}",
            on_started_leading=self._hold,
            clock=self._clock,
        )
        self._ready = False
        self._closing = False
        self._stop_event: asyncio.Event | None = None
        # key -> the tasks reconciling it now (one per controller at most, by the queues' rule)
        self._inflight: dict[str, set[asyncio.Future[Any]]] = {}
        self._idle: asyncio.Event | None = None
        self._on_ready: list[Callable[[], None]] = []

    # -- what the reconcile wrapper asks ----------------------------------------------------------

    def is_ready(self) -> bool:
        """True while this replica holds its Lease and is not stopping. Never suspends."""
        return self._ready and not self._closing and self.elector.is_leader()

    def on_ready(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` (plain, never suspending) each time the shard becomes ready."""
        self._on_ready.append(callback)

    def busy(self, key: str) -> bool:
        """True while some reconcile of ``key`` runs in this replica."""
        return bool(self._inflight.get(key))

    def enter(self, key: str, task: asyncio.Future[Any]) -> None:
        """Record ``task`` as reconciling ``key``: it is cancelled if the Lease is lost."""
        self._inflight.setdefault(key, set()).add(task)
        if self._idle is not None:
            self._idle.clear()

    def leave(self, key: str, task: asyncio.Future[Any]) -> None:
        """``task`` stopped reconciling ``key``."""
        tasks = self._inflight.get(key)
        if tasks is not None:
            tasks.discard(task)
            if not tasks:
                del self._inflight[key]
        if not self._inflight and self._idle is not None:
            self._idle.set()

    # -- running ----------------------------------------------------------------------------------

    async def _hold(self) -> None:
        self._ready = True
        log.info("Shard %s is ready in ring %s", self.name, self.ring)
        for callback in self._on_ready:
            try:
                callback()
            except Exception:
                log.exception("shard on_ready callback failed")
        try:
            await asyncio.Event().wait()
        finally:
            # Leadership of the Lease ended (lost, or we are being stopped): nothing may keep
            # reconciling, because the sharder will move our objects once the Lease is free.
            self._ready = False
            for tasks in list(self._inflight.values()):
                for task in tasks:
                    task.cancel()

    async def check_unique(self) -> None:
        """Refuse to start when another live instance renews this shard's Lease. Suspends up to
        ``lease_duration``; raises DuplicateShardError naming the other instance."""
        try:
            first = await self.lock.read()
        except NotFoundError:
            return
        writer = ((first.get("metadata") or {}).get("annotations") or {}).get(INSTANCE_ANNOTATION)
        spec = first.get("spec") or {}
        if spec.get("holderIdentity") != self.name or not writer or writer == self.instance:
            return
        deadline = self._clock.now() + float(spec.get("leaseDurationSeconds") or 0)
        while self._clock.now() < deadline:
            await self._clock.sleep(self.elector.retry_period)
            try:
                now = await self.lock.read()
            except NotFoundError:
                return
            now_spec = now.get("spec") or {}
            if now_spec.get("holderIdentity") != self.name:
                return  # released or taken by the sharder: not a live duplicate
            if now_spec != spec:
                other = ((now.get("metadata") or {}).get("annotations") or {}).get(INSTANCE_ANNOTATION)
                raise DuplicateShardError(
                    f"shard name {self.name!r} of ring {self.ring!r} is in use: its Lease "
                    f"{self.namespace}/{self.name} is being renewed by another replica (instance "
                    f"{other}); give every replica its own shard name (the pod name by default)"
                )

    async def run(self) -> None:
        """Check uniqueness, hold the Lease until stopped or lost (see the class doc)."""
        self._stop_event = stop = asyncio.Event()
        self._idle = asyncio.Event()
        if not self._inflight:
            self._idle.set()
        if self._closing:
            return
        await self.check_unique()
        elector = asyncio.create_task(self.elector.run(), name=f"shard-lease-{self.name}")
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({elector, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if elector.done():
                elector.result()  # an error of the elector itself
                raise ShardLeaseLostError(
                    f"shard {self.name!r} of ring {self.ring!r} lost its Lease "
                    f"{self.namespace}/{self.name}: it stopped reconciling"
                )
            # Clean stop: in-flight reconciles finish, then the Lease is released.
            await self._idle.wait()
        finally:
            self._closing = True
            stopper.cancel()
            if not elector.done():
                elector.cancel()
            await asyncio.gather(elector, stopper, return_exceptions=True)
            self._ready = False

    def stop(self) -> None:
        """Stop taking reconciles; :meth:`run` releases the Lease once in-flight ones finished."""
        self._closing = True
        if self._stop_event is not None:
            self._stop_event.set()

    def __repr__(self) -> str:
        return f"<Shard {self.name!r} ring={self.ring!r} ready={self.is_ready()}>"
