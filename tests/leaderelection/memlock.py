"""An in-memory lease store and a ResourceLock on it, with injectable latency and errors.

Models the API server's contract the elector relies on: a write is applied at one instant (after
the request's first half of latency), answered after the second half, and is conditional on the
version the lock last read or wrote (409 otherwise).
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from pycontroller.errors import AlreadyExistsError, ConflictError, NotFoundError, ServerError
from pycontroller.leaderelection import LeaderElectionRecord
from pycontroller.testing import FakeClock


class LeaseStore:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.record: LeaderElectionRecord | None = None
        self.version = 0
        self.writes: list[tuple[float, LeaderElectionRecord]] = []
        # Hooks the tests set: seconds of latency per half-request, and whether a request fails.
        self.latency: Callable[[str], float] = lambda identity: 0.0
        self.fail: Callable[[str], bool] = lambda identity: False


class MemLock:
    def __init__(self, store: LeaseStore, identity: str) -> None:
        self.store = store
        self._identity = identity
        self._version: int | None = None
        self.events: list[str] = []

    @property
    def identity(self) -> str:
        return self._identity

    def describe(self) -> str:
        return "mem/lease"

    async def _half(self) -> None:
        delay = self.store.latency(self._identity)
        if delay > 0:
            await self.store.clock.sleep(delay)

    async def _begin(self) -> None:
        await self._half()
        if self.store.fail(self._identity):
            await self._half()
            raise ServerError(500, "InternalError", "injected")

    async def get(self) -> tuple[LeaderElectionRecord, bytes]:
        await self._begin()
        record, version = self.store.record, self.store.version
        await self._half()
        if record is None:
            raise NotFoundError(404, "NotFound", "lease not found")
        self._version = version
        return record, orjson.dumps(record.to_lease_spec())

    async def create(self, record: LeaderElectionRecord) -> None:
        await self._begin()
        if self.store.record is not None:
            await self._half()
            raise AlreadyExistsError(409, "AlreadyExists", "exists")
        self._apply(record)
        version = self.store.version
        await self._half()
        self._version = version

    async def update(self, record: LeaderElectionRecord) -> None:
        await self._begin()
        if self.store.record is None or self._version != self.store.version:
            await self._half()
            raise ConflictError(409, "Conflict", "the object has been modified")
        self._apply(record)
        version = self.store.version
        await self._half()
        self._version = version

    def _apply(self, record: LeaderElectionRecord) -> None:
        self.store.record = record
        self.store.version += 1
        self.store.writes.append((self.store.clock.now(), record))

    def record_event(self, message: str) -> None:
        self.events.append(message)
