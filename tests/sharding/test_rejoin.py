"""A replica comes back under the same shard name: after a clean stop (Lease released) or a death
(Lease left to expire), at once or later, with drain labels of its objects left over from before.

The danger: the sharder moves a dead shard's objects directly (no drain), which is safe only while
that shard cannot reconcile. A same-named replica that took the Lease back meanwhile would reconcile
objects being relabelled for another shard. So the sharder holds (acquires, renews) a dead shard's
Lease while it moves its objects, and the returning replica waits for it to expire.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from pycontroller.client import RestClient
from pycontroller.leaderelection import LEASES
from tests.sharding.cluster import (
    CONFIGMAPS,
    DRAIN_LABEL,
    SHARD_LABEL,
    Monitor,
    Replica,
    converged,
    eventually,
)

pytestmark = pytest.mark.asyncio

OBJECTS = 60


async def _work() -> None:
    await asyncio.sleep(0.02)  # a reconcile that takes a moment: an overlap would show


async def _start(server: Any, namespace: str, monitor: Monitor, name: str) -> Replica:
    replica = Replica(server, namespace, monitor, name=name, work=_work)
    replica.start()
    return replica


async def _drain_some(rest: RestClient, namespace: str, shard: str, count: int) -> int:
    """Put the drain label on ``count`` objects of ``shard`` (a move the sharder had started)."""
    items = (await rest.list(CONFIGMAPS, namespace, label_selector=f"{SHARD_LABEL}={shard}"))["items"]
    for obj in items[:count]:
        await rest.patch(
            CONFIGMAPS, obj["metadata"]["name"], {"metadata": {"labels": {DRAIN_LABEL: "true"}}}, namespace
        )
    return min(count, len(items))


@pytest.mark.parametrize("how", ["stop", "kill"])
@pytest.mark.timeout(300)
async def test_a_replica_back_under_its_name_at_once_never_overlaps_and_converges(
    api_server: Any, rest_client: RestClient, namespace: str, how: str
) -> None:
    monitor = Monitor()
    replicas = [await _start(api_server, namespace, monitor, n) for n in ("pod-0", "pod-1")]
    try:
        for i in range(OBJECTS):
            await rest_client.create(
                CONFIGMAPS, {"metadata": {"name": f"cm-{i}"}, "data": {"v": "0"}}, namespace
            )
        await eventually(lambda: converged(rest_client, namespace, replicas, monitor), what="two replicas")
        old = replicas[0]
        # A move of some of pod-0's objects was under way (their drain labels are left over).
        assert await _drain_some(rest_client, namespace, "pod-0", 3) > 0
        await (old.stop() if how == "stop" else old.kill())
        replicas[0] = await _start(api_server, namespace, monitor, "pod-0")  # same name, at once
        await eventually(
            lambda: converged(rest_client, namespace, replicas, monitor),
            timeout=120,
            what=f"pod-0 back after a {how}",
        )
        assert monitor.violations == []
    finally:
        for r in replicas:
            if r.task is not None and not r.task.done():
                await r.stop()


class SlowWrites:
    """The sharder's client, with each object PATCH delayed; the moves away from one shard are
    recorded as (start, end) of the whole delayed write."""

    def __init__(self, client: Any, delay: float, away_from: str) -> None:
        self._client = client
        self._delay = delay
        self._away_from = away_from
        self.moves: list[tuple[float, float]] = []
        self.inflight = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def patch(self, gvr: Any, name: str, body: Any, namespace: Any = None) -> Any:
        labels = (body.get("metadata") or {}).get("labels") or {}
        target = labels.get(SHARD_LABEL)
        start = time.monotonic()
        self.inflight += 1
        try:
            await asyncio.sleep(self._delay)
            return await self._client.patch(gvr, name, body, namespace)
        finally:
            self.inflight -= 1
            if target is not None and target != self._away_from:
                self.moves.append((start, time.monotonic()))


@pytest.mark.timeout(300)
async def test_a_shard_back_under_its_name_is_not_ready_while_the_sharder_moves_its_objects(
    api_server: Any, rest_client: RestClient, namespace: str
) -> None:
    monitor = Monitor()
    replicas = [await _start(api_server, namespace, monitor, n) for n in ("pod-0", "pod-1")]
    try:
        for i in range(OBJECTS):
            await rest_client.create(CONFIGMAPS, {"metadata": {"name": f"cm-{i}"}}, namespace)
        await eventually(lambda: converged(rest_client, namespace, replicas, monitor), what="two replicas")
        leader = next(r for r in replicas if r.manager.elector.is_leader())
        leaving = next(r for r in replicas if r is not leader)
        sharder = leader.manager.sharding.sharder
        # Moving the leaving shard's ~30 objects, 8 at a time, 1 s each, takes longer than a lease
        # duration (3 s): the sharder must renew the Lease it took while it moves them.
        slow = SlowWrites(sharder.client, 1.0, leaving.name)
        sharder.client = slow
        await leaving.stop()  # a clean stop releases its Lease: its objects move directly
        back = Replica(api_server, namespace, monitor, name=leaving.name, work=_work)
        ready_at: list[float] = []
        back.shard.on_ready(lambda: ready_at.append(time.monotonic()))
        back.start()  # the same name, at once
        replicas = [leader, back]

        async def back_with_a_share() -> bool:
            return bool(back.informer.indexer.list_keys()) and await converged(
                rest_client, namespace, replicas, monitor
            )

        await eventually(back_with_a_share, timeout=120, what="the shard is back with its share")
        await eventually(lambda: _true(slow.inflight == 0), what="the sharder's writes ended")
        # The returning replica became ready only after the last direct move of its old objects
        # ended: the sharder held its Lease (acquired when released, renewed) until then.
        assert ready_at
        assert [m for m in slow.moves if m[1] > ready_at[0]] == []
        assert slow.moves, "the sharder moved nothing directly"
        lease = await rest_client.request("GET", LEASES.path(namespace, leaving.name))
        assert lease["spec"]["holderIdentity"] == leaving.name
        assert monitor.violations == []
    finally:
        for r in replicas:
            if r.task is not None and not r.task.done():
                await r.stop()


async def _true(value: bool) -> bool:
    return value
