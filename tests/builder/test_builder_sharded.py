"""The Builder's ``.sharded()``: a Builder-made controller reconciles only its replica's shard."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from pycontroller import Builder, BuilderError, Manager
from pycontroller.client import RestClient
from tests.sharding.cluster import (
    CONFIGMAPS,
    RING,
    SHARD_LABEL,
    Monitor,
    Running,
    converged,
    eventually,
    sharded_manager,
)

pytestmark = pytest.mark.asyncio


class BuilderReplica(Running):
    """A replica whose controller is ``mgr.controller(...).for_("v1", "ConfigMap").sharded(RING)``."""

    def __init__(self, server: Any, namespace: str, monitor: Monitor, name: str) -> None:
        self.name = name
        self.manager, self.client = sharded_manager(server, namespace, name)

        async def reconcile(key: str) -> None:
            monitor.enter(name, key)
            rv = None
            try:
                obj = self.manager.informer_for("v1", "ConfigMap").indexer.get_by_key(key)
                rv = obj["metadata"]["resourceVersion"] if obj is not None else None
                await asyncio.sleep(0)
            finally:
                monitor.leave(name, key, rv)

        self.controller = (
            self.manager.controller(f"cm-{name}")
            .for_("v1", "ConfigMap")
            .with_options(max_concurrent_reconciles=2)
            .sharded(RING)
            .complete(reconcile)
        )


async def test_builder_made_sharded_controllers_split_the_objects_and_never_overlap(
    api_server: Any, rest_client: RestClient, namespace: str
) -> None:
    monitor = Monitor()
    run = uuid.uuid4().hex[:6]  # controller names are unique per process, across parametrized runs
    replicas = [BuilderReplica(api_server, namespace, monitor, f"builder-{run}-{i}") for i in range(2)]
    assert all(not r.controller.need_leader_election for r in replicas)  # runs in every replica
    for r in replicas:
        r.start()
    try:
        for i in range(12):
            body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}"}}
            await rest_client.create(CONFIGMAPS, body, namespace)

        async def done() -> bool:
            return await converged(rest_client, namespace, replicas, monitor)  # type: ignore[arg-type]

        await eventually(done, what="two Builder-made sharded replicas")
        items = (await rest_client.list(CONFIGMAPS, namespace))["items"]
        owners = {
            o["metadata"]["labels"][SHARD_LABEL] for o in items if o["metadata"]["name"].startswith("cm-")
        }
        assert owners == {r.name for r in replicas}
        # each replica's cache holds its own share only (the kind's informer watches its label,
        # in the ring's namespace: nothing of other tests on the shared real server)
        cached = [len(r.manager.informer_for("v1", "ConfigMap").indexer.list_keys()) for r in replicas]
        assert sum(cached) == 12 and all(cached)
        assert monitor.violations == []
    finally:
        for r in replicas:
            if r.task is not None and not r.task.done():
                await r.stop()


async def test_sharded_without_sharding_or_for_another_ring_or_kind_is_refused(
    fake_api_server: Any, namespace: str
) -> None:
    async def reconcile(key: str) -> None:
        return None

    plain = Manager(RestClient(fake_api_server.new_client(), owns_api_client=True), metrics_bind_address="0")
    with pytest.raises(BuilderError, match=r"sharded\(\) needs Manager\(sharding=ShardingOptions"):
        Builder(plain, "plain").for_("v1", "ConfigMap").sharded().complete(reconcile)
    await plain.get_api_reader().close()

    mgr, client = sharded_manager(fake_api_server, namespace, "refusing")
    with pytest.raises(BuilderError, match=r"sharded\('other'\), but this Manager's ring is 'cms'"):
        mgr.controller("other-ring").for_("v1", "ConfigMap").sharded("other").complete(reconcile)
    with pytest.raises(BuilderError, match=r"ring 'cms' does not shard Secret"):
        mgr.controller("secrets").for_("v1", "Secret").sharded().complete(reconcile)
    with pytest.raises(TypeError, match="sharded\\(\\) takes a ring name"):
        mgr.controller("bad").sharded(5)  # type: ignore[arg-type]
    await client.close()
