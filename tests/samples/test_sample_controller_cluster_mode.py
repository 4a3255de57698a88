"""The sample-controller against a configured cluster (a kubeconfig), not the embedded demo."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from pycontroller import Manager
from pycontroller.client import RestClient
from pycontroller.errors import ConfigError
from samples.sample_controller.app import (
    install_crd,
    load_manifest,
    run_cluster,
    status_subresource_installed,
)
from samples.sample_controller.cli import parse_args
from samples.sample_controller.foo import FOOS
from samples.sample_controller.simulated import new_simulated_deployment_controller

from .helpers import running

pytestmark = pytest.mark.timeout(60)


async def test_without_the_crd_it_says_how_to_install_it(fake_api_server: Any) -> None:
    rest = RestClient(fake_api_server.new_client(), owns_api_client=True)
    try:
        with pytest.raises(ConfigError, match=r"install the Foo CRD first \(kubectl apply -f .*crd"):
            await status_subresource_installed(rest)
        await install_crd(rest)
        assert await status_subresource_installed(rest) is True
    finally:
        await rest.close()


@pytest.mark.fake_only(
    reason="--once waits for every Foo in the cluster; the shared envtest holds other tests' Foos"
)
async def test_with_a_kubeconfig_it_converges_through_api_faults_and_once_returns_zero(
    api_server: Any, api_client: Any, tmp_path: Path
) -> None:
    kubeconfig = api_server.write_kubeconfig(tmp_path / "kubeconfig")
    await install_crd(api_client)
    await RestClient.wrap(api_client).create(FOOS, load_manifest("example-foo.yaml"))
    # The first two Deployment creates and one Foo status write fail: retried with backoff.
    creates = api_server.fail_next(2, 500, verb="create", resource="deployments.apps")
    updates = api_server.fail_next(1, 409, verb="update", resource="foos.samplecontroller.k8s.io")

    # What kube-controller-manager would do on a real cluster: a separate process marking
    # Deployments available (here a second Manager in this loop).
    kcm = Manager(api_client=api_client, metrics_bind_address="0", handle_signals=False)
    kcm.add(
        new_simulated_deployment_controller(
            api_client, kcm.informer_for("apps", "v1", "deployments"), name=f"kcm-{uuid.uuid4().hex[:6]}"
        )
    )
    args = parse_args(
        ["--kubeconfig", str(kubeconfig), "--once", "--timeout", "30", "--metrics-bind-address", "0"],
        {"HOME": str(tmp_path)},
    )
    assert not args.embedded
    async with running(kcm):
        assert await asyncio.wait_for(run_cluster(args), 40) == 0
    foo = await RestClient.wrap(api_client).get(FOOS, "example-foo", "default")
    assert foo["status"]["availableReplicas"] == 1
    assert (creates.hits, updates.hits) == (2, 1)


async def test_an_unreachable_api_server_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    args = parse_args(
        ["--master", "http://127.0.0.1:1", "--metrics-bind-address", "0"], {"HOME": str(tmp_path)}
    )
    with pytest.raises(ConfigError, match=r"cannot reach the API server at http://127\.0\.0\.1:1"):
        await run_cluster(args)
