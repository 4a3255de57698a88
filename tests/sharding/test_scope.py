"""ShardingOptions(namespaces=[...]): the ring shards only its namespaces; the sharder lists,
watches and labels nothing elsewhere, and each replica caches only its share of those namespaces."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest

from pycontroller import Manager
from pycontroller.cache.options import ByObject, CacheOptions
from pycontroller.client import RestClient
from pycontroller.errors import ApiError
from pycontroller.sharding import RingResource, ShardingConfigError, ShardingOptions
from tests.sharding.cluster import CONFIGMAPS, DRAIN_LABEL, SHARD_LABEL, Monitor, Replica, eventually
from tests.sharding.test_bad_input import manager, offline_client

pytestmark = pytest.mark.asyncio


async def make_namespace(rest: RestClient) -> str:
    name = f"scope-{uuid.uuid4().hex[:10]}"
    await rest.request("POST", "/api/v1/namespaces", body={"metadata": {"name": name}})
    return name


async def labels_of(rest: RestClient, namespace: str) -> dict[str, dict[str, str]]:
    items = (await rest.list(CONFIGMAPS, namespace))["items"]
    return {
        o["metadata"]["name"]: o["metadata"].get("labels") or {}
        for o in items
        if o["metadata"]["name"] != "kube-root-ca.crt"
    }


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"namespaces": []}, "namespaces=\\[\\] shards nothing"),
        ({"namespaces": ["Not_A_Namespace"]}, "namespace 'Not_A_Namespace' is not a namespace name"),
        ({"max_concurrent_writes": 0}, "max_concurrent_writes must be >= 1"),
    ],
)
async def test_bad_scope_options_are_refused_when_the_manager_is_built(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ShardingConfigError, match=message):
        manager(**options)


async def test_one_namespace_ring_scopes_a_cluster_wide_informer_to_it() -> None:
    mgr = manager(namespaces=["team-a"])
    cms = mgr.informer_for("", "v1", "configmaps")
    assert cms.namespace == "team-a"
    assert cms.label_selector == f"{SHARD_LABEL}=a"
    assert mgr.sharding.sharder.namespaces == ("team-a",)
    secrets = mgr.informer_for("", "v1", "secrets")  # not a ring resource: untouched
    assert secrets.namespace is None and secrets.label_selector is None
    await mgr.client.close()


async def test_a_ring_over_two_namespaces_shards_both_and_labels_nothing_elsewhere(
    api_server: Any, rest_client: RestClient
) -> None:
    inside = [await make_namespace(rest_client), await make_namespace(rest_client)]
    outside = await make_namespace(rest_client)
    # The outsider exists before any replica starts: a cluster-wide sharder would label it first.
    await rest_client.create(CONFIGMAPS, {"metadata": {"name": "outsider"}}, outside)
    monitor = Monitor()
    # The Manager caches both namespaces (one informer, a reflector per namespace): sharding gives
    # the shard's selector to that informer when it is made.
    cache = CacheOptions(default_namespaces=inside)
    replicas = [Replica(api_server, inside[0], monitor, namespaces=inside, cache=cache) for _ in range(2)]
    for r in replicas:
        r.start()
    try:
        for ns in inside:
            for i in range(4):
                await rest_client.create(CONFIGMAPS, {"metadata": {"name": f"cm-{i}"}}, ns)
        names = {r.name for r in replicas}

        async def settled() -> bool:
            for ns in inside:
                for name, labels in (await labels_of(rest_client, ns)).items():
                    if labels.get(SHARD_LABEL) not in names or DRAIN_LABEL in labels:
                        return False
                    if (labels[SHARD_LABEL], f"{ns}/{name}") not in monitor.reconciled:
                        return False
            return True

        await eventually(settled, what="both namespaces sharded")
        assert (await labels_of(rest_client, outside)) == {"outsider": {}}
        for r in replicas:
            keys = r.informer.indexer.list_keys()
            assert keys and all(k.split("/")[0] in inside for k in keys)
            assert r.informer.label_selector == f"{SHARD_LABEL}={r.name}"
        assert sum(len(r.informer.indexer.list_keys()) for r in replicas) == 8
        assert monitor.violations == []
    finally:
        for r in replicas:
            await r.stop()
        for ns in [*inside, outside]:
            try:
                await rest_client.request("DELETE", f"/api/v1/namespaces/{ns}")
            except ApiError:
                pass


async def test_an_informer_over_several_namespaces_made_without_the_selector_is_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mgr = manager(namespaces=["a", "b"])
    through_manager = mgr.informer_for("", "v1", "configmaps", namespaces=["a", "b"])
    assert through_manager.label_selector == f"{SHARD_LABEL}=a"  # given when it was made
    await mgr.client.close()
    mgr = manager(namespaces=["a", "b"])
    factory_made = mgr.factory.informer_for("", "v1", "configmaps", namespaces=["a", "b"])
    with caplog.at_level(logging.WARNING, "pycontroller.sharding"):
        mgr.sharding.configure_informer(factory_made)
    assert "caches every shard's objects" in caplog.text
    await mgr.client.close()


@pytest.mark.parametrize(
    ("cache", "given", "expected"),
    [
        (CacheOptions(by_object={("", "configmaps"): ByObject(label_selector="app=x")}), {}, "app=x,"),
        (CacheOptions(default_label_selector="tier=db"), {}, "tier=db,"),
        (CacheOptions(default_label_selector="tier=db"), {"label_selector": "app=y"}, "app=y,"),
        (None, {}, ""),
    ],
)
async def test_the_shard_selector_is_added_to_the_cache_options_selector(
    cache: CacheOptions | None, given: dict[str, Any], expected: str
) -> None:
    mgr = Manager(
        offline_client(),
        metrics_bind_address="0",
        leader_election=True,
        leader_election_id="x",
        leader_election_namespace="default",
        cache=cache,
        sharding=ShardingOptions(
            ring="cms", resources=[RingResource("", "v1", "configmaps", "ConfigMap")], shard_name="a",
            lease_namespace="default", namespaces=["a", "b"],
        ),
    )  # fmt: skip
    informer = mgr.informer_for("", "v1", "configmaps", namespaces=["a", "b"], **given)
    assert informer.label_selector == f"{expected}{SHARD_LABEL}=a"
    assert mgr.informer_for("", "v1", "configmaps", namespaces=["a", "b"], **given) is informer
    await mgr.client.close()


async def test_namespaces_are_kept_in_order_without_duplicates() -> None:
    options = ShardingOptions(
        ring="cms", resources=[RingResource("", "v1", "configmaps", "ConfigMap")], namespaces=["b", "a", "b"]
    )
    assert options.namespaces == ("b", "a")
    with pytest.raises(TypeError, match="not one str"):
        ShardingOptions(ring="cms", namespaces="a")  # type: ignore[arg-type]


async def test_the_sharder_skips_a_pass_that_could_write_nothing_only_in_its_start_up_grace() -> None:
    from pycontroller.sharding import ControllerRing, HashRing, Sharder
    from pycontroller.testing import FakeClock

    clock = FakeClock()
    client = offline_client()
    sharder = Sharder(
        client,
        ControllerRing("cms", [RingResource("", "v1", "configmaps", "ConfigMap")]),
        namespace="default",
        domain="sharding.pycontroller.dev",
        startup_grace=5.0,
        clock=clock,
    )
    sharder._started_at = clock.now()
    one, two = HashRing(["a"]), HashRing(["a", "b"])
    # One live shard, none dead, in the grace: every object stays or waits for its shard's Lease.
    assert sharder._nothing_to_move(one, {"a": "ready"})
    # A dead shard's objects move at once; two live shards may need drains; after the grace,
    # objects of shards that never came are reassigned: a pass is needed in each case.
    assert not sharder._nothing_to_move(one, {"a": "ready", "c": "dead"})
    assert not sharder._nothing_to_move(two, {"a": "ready", "b": "ready"})
    clock.advance(5.0)
    assert not sharder._nothing_to_move(one, {"a": "ready"})
    await client.close()


async def test_an_informer_made_before_without_the_selector_is_shared_not_refused() -> None:
    # As the kind path makes one (factory first, sharding applied after): asking for it again by
    # resource returns it (no options conflict) and sharding sets its selector before it starts.
    mgr = manager()
    first = mgr.factory.informer_for("", "v1", "configmaps")
    mgr.sharding.configure_informer(first)
    again = mgr.informer_for("", "v1", "configmaps")
    assert again is first and first.label_selector == f"{SHARD_LABEL}=a"
    await mgr.client.close()
