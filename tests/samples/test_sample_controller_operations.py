"""Running the sample-controller as operators do: leader election, health probes, metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pycontroller.client import GroupVersionResource, RestClient
from samples.sample_controller.app import add_sample_controller, install_crd, new_manager
from samples.sample_controller.cli import parse_args

from .helpers import eventually, running

pytestmark = pytest.mark.timeout(60)

LEASES = GroupVersionResource("coordination.k8s.io", "v1", "leases")


async def test_with_leader_election_it_holds_its_lease_and_serves_probes_and_metrics(
    api_server: Any, api_client: Any, namespace: str, tmp_path: Path
) -> None:
    await install_crd(api_client)
    args = parse_args(
        [
            "--embedded",
            "--leader-elect",
            f"--leader-election-namespace={namespace}",
            "--health-probe-bind-address=127.0.0.1:0",
            "--metrics-bind-address=127.0.0.1:0",
        ],
        {"HOME": str(tmp_path)},
    )
    mgr = new_manager(args, api_client)
    add_sample_controller(mgr, api_client)
    rest = RestClient.wrap(api_client)
    async with running(mgr), aiohttp.ClientSession() as http:

        async def lease_held() -> bool:
            lease = await rest.get(LEASES, "sample-controller", namespace)
            return lease["spec"].get("holderIdentity") == mgr.identity

        await eventually(lease_held, what="the sample-controller Lease held by this manager")

        async def ready() -> bool:
            async with http.get(f"http://127.0.0.1:{mgr.health_probe_port}/readyz") as resp:
                return resp.status == 200

        await eventually(ready, what="/readyz 200")
        async with http.get(f"http://127.0.0.1:{mgr.health_probe_port}/healthz") as resp:
            assert resp.status == 200
        async with http.get(f"http://127.0.0.1:{mgr.metrics_port}/metrics") as resp:
            text = await resp.text()
        assert 'workqueue_adds_total{name="Foos"}' in text  # the sample's named queue
