"""The samples' Kubernetes manifests parse and say what the samples rely on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
MANIFESTS = sorted(p for p in SAMPLES.glob("*/artifacts/*.yaml") if p.name != "kustomization.yaml")


def _docs(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def test_every_sample_ships_a_crd_rbac_and_an_example() -> None:
    for sample in ("sample_controller", "copy_operator", "loadtest_operator"):
        names = {p.name for p in (SAMPLES / sample / "artifacts").glob("*.yaml")}
        assert "crd.yaml" in names, sample
        assert "rbac.yaml" in names, sample
        assert any(n.startswith("example") for n in names), sample


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_manifest_parses_into_kubernetes_objects(path: Path) -> None:
    docs = _docs(path)
    assert docs
    for doc in docs:
        assert doc["apiVersion"] and doc["kind"] and doc["metadata"]["name"]


@pytest.mark.parametrize(
    "path", [p for p in MANIFESTS if p.name.startswith("crd")], ids=lambda p: p.parent.parent.name
)
def test_every_crd_version_has_an_openapi_schema_for_spec_and_status(path: Path) -> None:
    (crd,) = _docs(path)
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    for version in crd["spec"]["versions"]:
        props = version["schema"]["openAPIV3Schema"]["properties"]
        assert {"spec", "status"} <= set(props)


def test_foo_schema_bounds_replicas_between_one_and_ten() -> None:
    (crd,) = _docs(SAMPLES / "sample_controller/artifacts/crd-status-subresource.yaml")
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert spec["deploymentName"]["type"] == "string"
    assert (spec["replicas"]["minimum"], spec["replicas"]["maximum"]) == (1, 10)


def test_sample_controller_rbac_grants_only_the_verbs_it_uses() -> None:
    role = next(
        d for d in _docs(SAMPLES / "sample_controller/artifacts/rbac.yaml") if d["kind"] == "ClusterRole"
    )
    granted = {
        (g, r, v)
        for rule in role["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }
    assert ("samplecontroller.k8s.io", "foos", "delete") not in granted
    assert ("apps", "deployments", "delete") not in granted
    assert ("samplecontroller.k8s.io", "foos/status", "update") in granted
    assert ("apps", "deployments", "create") in granted
    assert ("", "events", "create") in granted
    assert ("coordination.k8s.io", "leases", "update") in granted
    assert all("*" not in v for (_, _, v) in granted)
