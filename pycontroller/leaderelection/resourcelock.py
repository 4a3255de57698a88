"""Locks an elector campaigns on: the :class:`ResourceLock` protocol and :class:`LeaseLock`.

A lock is one object on the API server that holds a :class:`LeaderElectionRecord`, written with
optimistic concurrency: ``update`` must fail (``ConflictError``) when the object changed since this
lock last read or wrote it, so two candidates can never both win one round. This mirrors client-go's
``resourcelock.Interface``; :class:`LeaseLock` is its ``LeaseLock`` on coordination.k8s.io/v1 Leases,
kept as raw dicts.
"""

from __future__ import annotations

import copy
from typing import Any, Protocol, runtime_checkable

import orjson

from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.errors import ConfigError, DecodeError
from pycontroller.leaderelection.record import LeaderElectionRecord

__all__ = ["LEASES", "EventRecorderLike", "LeaseLock", "ResourceLock"]

LEASES = GroupVersionResource("coordination.k8s.io", "v1", "leases")


@runtime_checkable
class EventRecorderLike(Protocol):
    """What a lock needs to report "became leader" / "stopped leading" (an EventRecorder fits)."""

    def eventf(self, obj: Any, type: str, reason: str, fmt: str, *args: Any) -> None: ...


@runtime_checkable
class ResourceLock(Protocol):
    """The interface a :class:`~pycontroller.leaderelection.LeaderElector` campaigns on."""

    @property
    def identity(self) -> str:
        """This candidate's identity (unique among the candidates)."""
        ...

    def describe(self) -> str:
        """A human-readable name of the lock, e.g. ``"kube-system/my-operator"``."""
        ...

    async def get(self) -> tuple[LeaderElectionRecord, bytes]:
        """Read the record and its raw bytes (compared to notice any change). Raises NotFoundError."""
        ...

    async def create(self, record: LeaderElectionRecord) -> None:
        """Create the lock holding ``record``. Raises AlreadyExistsError when it exists."""
        ...

    async def update(self, record: LeaderElectionRecord) -> None:
        """Replace the record; ConflictError when the lock changed since this lock's last get/create."""
        ...

    def record_event(self, message: str) -> None:
        """Report a leadership change (an Event on the lock object when a recorder is configured)."""
        ...


class LeaseLock:
    """A lock on a coordination.k8s.io/v1 ``Lease`` (client-go's ``resourcelock.LeaseLock``).

    ``client`` is a :class:`pycontroller.client.RestClient` or a kubernetes_asyncio ``ApiClient``.
    ``event_recorder`` (optional, e.g. from ``EventBroadcaster.new_recorder``) receives a Normal
    ``LeaderElection`` event "<identity> became leader" / "<identity> stopped leading" on the Lease.
    Each request is bounded by ``request_timeout`` seconds. Not shared between electors: it
    remembers the last Lease it read, whose resourceVersion guards the next update.
    """

    def __init__(
        self,
        client: Any,
        *,
        namespace: str,
        name: str,
        identity: str,
        event_recorder: EventRecorderLike | None = None,
        request_timeout: float = 10.0,
    ) -> None:
        for what, value in (("namespace", namespace), ("name", name), ("identity", identity)):
            if not isinstance(value, str):
                raise TypeError(f"LeaseLock {what} must be a str, got {type(value).__name__}")
            if not value:
                raise ConfigError(f"LeaseLock {what} must not be empty")
        self._client = RestClient.wrap(client)
        self.namespace = namespace
        self.name = name
        self._identity = identity
        self._recorder = event_recorder
        self._timeout = request_timeout
        # The Lease as last read or written; its resourceVersion makes update() conditional.
        self._lease: dict[str, Any] | None = None

    @property
    def identity(self) -> str:
        return self._identity

    def describe(self) -> str:
        return f"{self.namespace}/{self.name}"

    async def get(self) -> tuple[LeaderElectionRecord, bytes]:
        """GET the Lease. Suspends; raises NotFoundError when absent, ApiError/transport errors else."""
        lease = await self._client.request(
            "GET", LEASES.path(self.namespace, self.name), timeout=self._timeout
        )
        record = self._record_of(lease)
        self._lease = lease
        return record, orjson.dumps(record.to_lease_spec())

    async def create(self, record: LeaderElectionRecord) -> None:
        """POST a new Lease holding ``record``. Suspends."""
        body = {
            "apiVersion": LEASES.api_version,
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": record.to_lease_spec(),
        }
        self._lease = await self._client.request(
            "POST", LEASES.path(self.namespace), body=body, timeout=self._timeout
        )

    async def update(self, record: LeaderElectionRecord) -> None:
        """PUT the last-read Lease with ``record`` as its spec. Suspends; ConflictError when stale."""
        if self._lease is None:
            raise RuntimeError("LeaseLock.update called before get or create")
        lease = copy.deepcopy(self._lease)
        lease.setdefault("apiVersion", LEASES.api_version)
        lease.setdefault("kind", "Lease")
        lease["spec"] = record.to_lease_spec()
        self._lease = await self._client.request(
            "PUT", LEASES.path(self.namespace, self.name), body=lease, timeout=self._timeout
        )

    def record_event(self, message: str) -> None:
        """Emit "<identity> <message>" on the Lease when an event recorder was given. Never suspends."""
        if self._recorder is None:
            return
        meta = (self._lease or {}).get("metadata") or {}
        subject = {
            "apiVersion": LEASES.api_version,
            "kind": "Lease",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "uid": meta.get("uid", ""),
                "resourceVersion": meta.get("resourceVersion", ""),
            },
        }
        self._recorder.eventf(subject, "Normal", "LeaderElection", "%v %v", self._identity, message)

    def _record_of(self, lease: Any) -> LeaderElectionRecord:
        if not isinstance(lease, dict):
            raise DecodeError(f"lease {self.describe()}: expected an object")
        try:
            return LeaderElectionRecord.from_lease_spec(lease.get("spec"))
        except ValueError as exc:
            raise DecodeError(f"lease {self.describe()}: {exc}") from None
