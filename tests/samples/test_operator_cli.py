"""The copy and load-test operators run through `pycontroller run` (python -m samples.<operator>)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pycontroller.client import RestClient
from samples.loadtest_operator.operator import LOADTEST_LABEL, LOADTESTS, PODS

from .helpers import eventually, read_yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("module", ["samples.copy_operator", "samples.loadtest_operator"])
def test_without_a_cluster_an_operator_says_so_and_exits_1(module: str, tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", module], cwd=ROOT, env=env, capture_output=True, text=True, timeout=50
    )
    assert proc.returncode == 1
    assert "no Kubernetes configuration found" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.timeout(60)
async def test_the_load_test_operator_runs_from_its_command_line_against_a_kubeconfig(
    fake_api_server: Any, tmp_path: Path
) -> None:
    kubeconfig = fake_api_server.write_kubeconfig(tmp_path / "kubeconfig")
    env = {
        "HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
        "PYCONTROLLER_METRICS_BIND_ADDRESS": "0",
        "PYCONTROLLER_HEALTH_PROBE_BIND_ADDRESS": "0",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "samples.loadtest_operator", "--kubeconfig", str(kubeconfig),
        "--crd", "samples/loadtest_operator/artifacts/crd.yaml",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    rest = RestClient(fake_api_server.new_client(), owns_api_client=True)
    try:

        async def crd_installed() -> bool:
            await rest.list(LOADTESTS, "default")
            return True

        await eventually(crd_installed, what="the operator to install its CRD", timeout=40)
        body = read_yaml(ROOT / "samples/loadtest_operator/artifacts/example.yaml")
        await rest.create(LOADTESTS, body)

        async def pods() -> bool:
            found = await rest.list(PODS, "default", labelSelector=f"{LOADTEST_LABEL}=example-loadtest")
            return len(found["items"]) == 3

        await eventually(pods, what="three Pods for the example LoadTest", timeout=30)
        proc.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, stderr.decode()
        assert b"Traceback" not in stderr
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await rest.close()
