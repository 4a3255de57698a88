"""Bad input is refused at start with a typed error, or repaired and logged: never a stuck object."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient, Configuration

from pycontroller import Manager
from pycontroller.client import RestClient
from pycontroller.errors import ConfigError
from pycontroller.sharding import (
    ControllerRing,
    DuplicateShardError,
    RingResource,
    ShardingConfigError,
    ShardingOptions,
)
from tests.sharding.cluster import CONFIGMAPS, SHARD_LABEL, Monitor, Replica, converged, eventually

CM = RingResource("", "v1", "configmaps", "ConfigMap")


def offline_client() -> RestClient:
    """A client of an address never contacted: everything here fails before any request."""
    return RestClient(ApiClient(Configuration(host="http://127.0.0.1:1")), owns_api_client=True)


def manager(**sharding: Any) -> Manager:
    options = {"ring": "cms", "resources": [CM], "shard_name": "a", "lease_namespace": "default"} | sharding
    return Manager(
        offline_client(),
        metrics_bind_address="0",
        leader_election=True,
        leader_election_id="x",
        leader_election_namespace="default",
        sharding=ShardingOptions(**options),
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ring": "not a label"}, "ControllerRing name 'not a label' is not a valid label value"),
        ({"ring": "x" * 64}, "is not a valid label value"),
        ({"ring": "-leading-dash"}, "is not a valid label value"),
        ({"shard_name": "Upper_Case"}, "shard name 'Upper_Case' is not a DNS subdomain"),
        ({"domain": "not_a_domain"}, "sharding domain 'not_a_domain' is not a DNS subdomain"),
        ({"resources": []}, "needs at least one resource"),
        ({"resync_period": 0}, "resync_period must be > 0"),
    ],
)
async def test_names_that_cannot_be_labels_are_refused_when_the_manager_is_built(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ShardingConfigError, match=message) as info:
        manager(**options)
    assert isinstance(info.value, ConfigError)


async def test_sharding_without_leader_election_is_refused() -> None:
    with pytest.raises(ShardingConfigError, match="needs leader_election=True"):
        Manager(
            offline_client(),
            metrics_bind_address="0",
            sharding=ShardingOptions(
                ring=ControllerRing("cms", [CM]), lease_namespace="default", shard_name="a"
            ),
        )


async def test_a_controller_of_a_resource_outside_the_ring_is_refused() -> None:
    mgr = manager()
    secrets = mgr.informer_for("", "v1", "secrets")
    assert secrets.label_selector is None  # not a ring resource: every object cached
    with pytest.raises(ShardingConfigError, match="not a resource of ring 'cms'"):
        mgr.sharding.controller("x", lambda key: None, secrets)
    cms = mgr.informer_for("", "v1", "configmaps")
    assert cms.label_selector == f"{SHARD_LABEL}=a"
    await mgr.client.close()


async def test_a_second_replica_with_the_same_shard_name_is_refused_and_the_first_keeps_working(
    api_server: Any, rest_client: RestClient, namespace: str
) -> None:
    monitor = Monitor()
    first = Replica(api_server, namespace, monitor, name="same")
    first.start()
    await eventually(lambda: _ready(first), what="first ready")
    second = Replica(api_server, namespace, monitor, name="same")
    second.start()
    try:
        assert second.task is not None
        with pytest.raises(DuplicateShardError, match="shard name 'same' of ring 'cms' is in use"):
            await asyncio.wait_for(second.task, 30)
        await rest_client.create(CONFIGMAPS, {"metadata": {"name": "after"}}, namespace)
        await eventually(lambda: converged(rest_client, namespace, [first], monitor), what="first reconciles")
        assert monitor.violations == []
    finally:
        await first.stop()
        await second.client.close()


async def test_a_replica_restarted_under_its_old_name_takes_over_once_the_old_lease_expired(
    api_server: Any, rest_client: RestClient, namespace: str
) -> None:
    monitor = Monitor()
    old = Replica(api_server, namespace, monitor, name="pod-0")
    old.start()
    await rest_client.create(CONFIGMAPS, {"metadata": {"name": "cm"}}, namespace)
    await eventually(lambda: converged(rest_client, namespace, [old], monitor), what="old replica")
    await old.kill()
    new = Replica(api_server, namespace, monitor, name="pod-0")
    new.start()
    try:
        await eventually(lambda: converged(rest_client, namespace, [new], monitor), what="restarted replica")
        assert monitor.violations == []
    finally:
        await new.stop()


async def test_an_object_labelled_for_a_shard_that_never_existed_is_reassigned_and_logged(
    api_server: Any, rest_client: RestClient, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "pycontroller.sharding")
    monitor = Monitor()
    await rest_client.create(
        CONFIGMAPS,
        {"metadata": {"name": "lost", "labels": {SHARD_LABEL: "ghost", f"drain.{SHARD_LABEL[6:]}": "true"}}},
        namespace,
    )
    replica = Replica(api_server, namespace, monitor)
    replica.start()
    try:
        await eventually(lambda: converged(rest_client, namespace, [replica], monitor), what="reassigned")
        assert any("'ghost', which ring cms never had" in r.getMessage() for r in caplog.records)
    finally:
        await replica.stop()


async def _ready(replica: Replica) -> bool:
    return replica.shard.is_ready()
