"""The sharding protocol end to end on the API servers, with replicas in this process."""

from __future__ import annotations

from typing import Any

import pytest

from pycontroller.client import RestClient
from tests.sharding.cluster import CONFIGMAPS, SHARD_LABEL, Monitor, Replica, converged, eventually

pytestmark = pytest.mark.asyncio


async def create(rest: RestClient, namespace: str, name: str, value: str = "0") -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"v": value}}
    await rest.create(CONFIGMAPS, body, namespace)


async def test_objects_are_spread_over_replicas_and_move_on_join_leave_and_death(
    api_server: Any, rest_client: RestClient, namespace: str
) -> None:
    monitor = Monitor()
    replicas = [Replica(api_server, namespace, monitor) for _ in range(2)]
    for r in replicas:
        r.start()
    for i in range(20):
        await create(rest_client, namespace, f"cm-{i}")

    async def done() -> bool:
        return await converged(rest_client, namespace, replicas, monitor)

    try:
        await eventually(done, what="two replicas")
        items = (await rest_client.list(CONFIGMAPS, namespace))["items"]
        owners = {
            o["metadata"]["labels"][SHARD_LABEL] for o in items if o["metadata"]["name"].startswith("cm-")
        }
        assert owners == {r.name for r in replicas}
        # each replica caches only its own share
        assert sum(len(r.informer.indexer.list_keys()) for r in replicas) == 20

        joined = Replica(api_server, namespace, monitor)
        replicas.append(joined)
        joined.start()

        async def joined_and_done() -> bool:
            return bool(joined.informer.indexer.list_keys()) and await done()

        await eventually(joined_and_done, what="a third replica joined and took a share")

        await replicas[0].stop()
        await eventually(done, what="a replica left cleanly")

        await replicas[1].kill()
        await eventually(done, what="a replica died")
        assert monitor.violations == []
    finally:
        for r in replicas:
            if r.task is not None and not r.task.done():
                await r.stop()
