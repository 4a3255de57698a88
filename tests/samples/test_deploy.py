"""`kubectl apply -k samples/<name>/artifacts` installs each sample on a real kube-apiserver (kubectl 1.20)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.testing.kubectl import KubectlUnavailableError, ensure_kubectl

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ("sample_controller", "copy_operator", "loadtest_operator")


@pytest.fixture(scope="session")
def kubectl_binary() -> Path:
    try:
        return ensure_kubectl(ROOT / ".tools")
    except KubectlUnavailableError as exc:
        pytest.skip(f"kubectl 1.20 is not available: {exc}")


def _resource(obj: dict[str, Any]) -> GroupVersionResource:
    plural = {
        "CustomResourceDefinition": "customresourcedefinitions",
        "ServiceAccount": "serviceaccounts",
        "ClusterRole": "clusterroles",
        "ClusterRoleBinding": "clusterrolebindings",
        "Deployment": "deployments",
    }[obj["kind"]]
    group, _, version = obj["apiVersion"].rpartition("/")
    return GroupVersionResource(group, version, plural)


def _kustomized(sample: str) -> list[dict[str, Any]]:
    artifacts = ROOT / "samples" / sample / "artifacts"
    kustomization = yaml.safe_load((artifacts / "kustomization.yaml").read_text())
    return [
        doc
        for name in kustomization["resources"]
        for doc in yaml.safe_load_all((artifacts / name).read_text())
        if doc
    ]


def test_every_sample_has_a_kustomization_of_its_crd_rbac_and_deployment() -> None:
    for sample in SAMPLES:
        kinds = {doc["kind"] for doc in _kustomized(sample)}
        assert kinds == {
            "CustomResourceDefinition",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
        }, sample
        deployment = next(d for d in _kustomized(sample) if d["kind"] == "Deployment")
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == "pycontroller-samples:latest"  # the one image of samples/Dockerfile
    assert (ROOT / "samples" / "Dockerfile").is_file()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sample", SAMPLES)
async def test_kubectl_apply_k_installs_the_sample(
    sample: str, envtest_server: Any, kubectl_binary: Path, tmp_path: Path
) -> None:
    kubeconfig = envtest_server.write_kubeconfig(tmp_path / "kubeconfig")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "KUBECONFIG": str(kubeconfig),
    }
    proc = await asyncio.create_subprocess_exec(
        str(kubectl_binary), f"--cache-dir={tmp_path / 'cache'}", "apply", "-k", f"samples/{sample}/artifacts",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode == 0, err.decode()
    rest = RestClient(envtest_server.new_client(), owns_api_client=True)
    try:
        for obj in _kustomized(sample):
            meta = obj["metadata"]
            live = await rest.get(_resource(obj), meta["name"], meta.get("namespace"))
            assert live["metadata"]["name"] == meta["name"]
            assert f"{meta['name']}" in out.decode()  # kubectl reported it created/configured
    finally:
        await rest.close()
