"""The sample-controller's --shard mode: its artifacts, its flag, and two sharded replicas at work."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from pycontroller.client import RestClient
from samples.sample_controller.app import add_sample_controller, install_crd, new_manager
from samples.sample_controller.cli import parse_args
from samples.sample_controller.foo import DEPLOYMENTS, FOOS
from samples.sample_controller.sharded import RING, ShardedSampleController, sharding_options
from tests.sharding.cluster import eventually

ARTIFACTS = Path(__file__).resolve().parents[2] / "samples/sample_controller/artifacts/sharded"
LABEL = f"shard.sharding.pycontroller.dev/{RING}"


def test_the_artifacts_run_three_sharded_replicas_with_rbac_for_labels_and_leases() -> None:
    (deployment,) = yaml.safe_load_all((ARTIFACTS / "deployment.yaml").read_text())
    assert deployment["spec"]["replicas"] == 3
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SAMPLE_CONTROLLER_SHARD"] == "true"
    rules = [r for d in yaml.safe_load_all((ARTIFACTS / "rbac.yaml").read_text()) for r in d.get("rules", ())]
    verbs = {res: set(r["verbs"]) for r in rules for res in r["resources"]}
    assert "patch" in verbs["foos"] and "patch" in verbs["deployments"]
    assert {"get", "list", "watch", "create", "update", "delete"} <= verbs["leases"]


def test_the_shard_flag_implies_leader_election() -> None:
    args = parse_args(["--shard", "--embedded"], env={})
    assert args.shard and args.leader_elect
    assert not parse_args(["--embedded"], env={}).shard
    assert parse_args(["--embedded"], env={"SAMPLE_CONTROLLER_SHARD": "true"}).shard


async def test_two_sharded_replicas_split_the_foos_and_each_creates_its_deployments(
    fake_api_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = RestClient(fake_api_server.new_client(), owns_api_client=True)
    await install_crd(setup)
    for i in range(6):
        foo = {"apiVersion": "samplecontroller.k8s.io/v1alpha1", "kind": "Foo",
               "metadata": {"name": f"foo-{i}", "namespace": "default"},
               "spec": {"deploymentName": f"web-{i}", "replicas": 1}}  # fmt: skip
        await setup.create(FOOS, foo)
    managers, tasks, clients = [], [], []
    for name in ("pod-a", "pod-b"):
        args = parse_args(["--shard", "--embedded"], env={})
        client = RestClient(fake_api_server.new_client(), owns_api_client=True)
        monkeypatch.setenv("HOSTNAME", name)  # the shard name: the pod's name in a cluster
        mgr = new_manager(args, client, leader_election_id="sample-controller-sharded")
        assert mgr.sharding.shard.name == name
        controller = add_sample_controller(mgr, client)
        assert isinstance(controller, ShardedSampleController)
        managers.append(mgr)
        clients.append(client)
        tasks.append(asyncio.create_task(mgr.run()))

    async def done() -> bool:
        foos = (await setup.list(FOOS, "default"))["items"]
        deployments = {d["metadata"]["name"]: d for d in (await setup.list(DEPLOYMENTS, "default"))["items"]}
        shards = {(f["metadata"].get("labels") or {}).get(LABEL) for f in foos}
        return shards == {"pod-a", "pod-b"} and all(
            (deployments.get(f["spec"]["deploymentName"], {}).get("metadata", {}).get("labels") or {}).get(
                LABEL
            )
            == f["metadata"]["labels"][LABEL]
            for f in foos
        )

    try:
        await eventually(done, what="both replicas own Foos, each Foo's Deployment labelled like it")
    finally:
        for mgr in managers:
            mgr.request_shutdown()
        await asyncio.gather(*tasks, return_exceptions=True)
        for client in (*clients, setup):
            await client.close()
    assert sharding_options("default").controller_ring().name == RING
