"""client-go's renew fast path and its release (re-read, retry on conflict), on fake time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pycontroller.errors import ConflictError
from pycontroller.leaderelection import LeaderElectionRecord
from pycontroller.testing import FakeClock
from tests.leaderelection.memlock import LeaseStore, MemLock
from tests.leaderelection.sim import run_for, settle
from tests.leaderelection.test_elector import make


class Counting(MemLock):
    """A MemLock that logs its calls and can fail the next N updates with a conflict."""

    def __init__(self, store: LeaseStore, identity: str) -> None:
        super().__init__(store, identity)
        self.calls: list[str] = []
        self.conflicts = 0

    async def get(self) -> tuple[LeaderElectionRecord, bytes]:
        self.calls.append("get")
        return await super().get()

    async def update(self, record: LeaderElectionRecord) -> None:
        self.calls.append("update")
        if self.conflicts:
            self.conflicts -= 1
            self.store.version += 1  # someone wrote meanwhile: our version is stale now
            raise ConflictError(409, "Conflict", "the object has been modified")
        await super().update(record)


@pytest.fixture
def store() -> LeaseStore:
    return LeaseStore(FakeClock())


def elector_with(store: LeaseStore, identity: str, **kw: Any) -> tuple[Any, Counting]:
    elector = make(store, identity, **kw)
    lock = Counting(store, identity)
    elector._lock = lock
    return elector, lock


async def test_a_valid_leader_renews_with_a_plain_update_and_reads_only_after_a_failure(
    store: LeaseStore,
) -> None:
    elector, lock = elector_with(store, "a")
    task = asyncio.create_task(elector.run())
    await settle()
    assert elector.is_leader()
    lock.calls.clear()
    await run_for(store.clock, 6.5)  # three renewals, 2 s apart
    assert lock.calls == ["update"] * 3, "the fast path does not read the Lease"
    lock.conflicts = 1
    await run_for(store.clock, 2)
    assert lock.calls[3:] == ["update", "get", "update"], "a failed fast update falls back to read + update"
    assert elector.is_leader() and store.record is not None and store.record.holder_identity == "a"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_release_re_reads_the_lease_and_retries_on_conflict(store: LeaseStore) -> None:
    elector, lock = elector_with(store, "a", release_on_cancel=True)
    task = asyncio.create_task(elector.run())
    await settle()
    assert store.record is not None
    transitions = store.record.leader_transitions
    lock.calls.clear()
    lock.conflicts = 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert lock.calls == ["get", "update", "get", "update"]
    assert store.record.holder_identity == "" and store.record.lease_duration_seconds == 1
    assert store.record.leader_transitions == transitions


async def test_release_leaves_a_lease_another_candidate_holds_now_alone(store: LeaseStore) -> None:
    elector, lock = elector_with(store, "a", release_on_cancel=True)
    task = asyncio.create_task(elector.run())
    await settle()
    now = store.clock.wall()
    # b took over behind our back (say we were paused past the lease): the Lease is b's now.
    store.record = LeaderElectionRecord(
        holder_identity="b", lease_duration_seconds=15, acquire_time=now, renew_time=now, leader_transitions=1
    )
    store.version += 1
    lock.calls.clear()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert lock.calls == ["get"]
    assert store.record.holder_identity == "b"
