"""kubectl 1.20 ``apply --server-side`` against both API servers: create, prune, conflict, --force-conflicts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_kubectl import Kubectl, configmap_yaml, kubectl, kubectl_binary  # noqa: F401 - fixtures

from pycontroller.client import GroupVersionResource, RestClient

CONFIGMAPS = GroupVersionResource("", "v1", "configmaps")

pytestmark = pytest.mark.asyncio


def owners(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{e['manager']}/{e['operation']}": e["fieldsV1"] for e in obj["metadata"].get("managedFields") or []
    }


async def test_server_side_apply_creates_prunes_conflicts_and_forces(
    kubectl: Kubectl,  # noqa: F811 - the fixture
    rest_client: RestClient,
    namespace: str,
    tmp_path: Path,
) -> None:
    manifest = tmp_path / "cm.yaml"
    manifest.write_bytes(configmap_yaml("shared", a="1", b="2"))
    out = await kubectl("apply", "--server-side", "-f", str(manifest))
    assert out.strip() == "configmap/shared serverside-applied"
    created = await rest_client.get(CONFIGMAPS, "shared", namespace)
    assert created["data"] == {"a": "1", "b": "2"}
    assert owners(created) == {"kubectl/Apply": {"f:data": {"f:a": {}, "f:b": {}}}}

    other = tmp_path / "other.yaml"
    other.write_bytes(configmap_yaml("shared", a="changed"))
    error = await kubectl("apply", "--server-side", "--field-manager=other", "-f", str(other), ok=False)
    assert 'Apply failed with 1 conflict: conflict with "kubectl": .data.a' in error
    assert (await rest_client.get(CONFIGMAPS, "shared", namespace))["data"] == {"a": "1", "b": "2"}

    out = await kubectl(
        "apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", str(other)
    )
    assert out.strip() == "configmap/shared serverside-applied"
    forced = await rest_client.get(CONFIGMAPS, "shared", namespace)
    assert forced["data"] == {"a": "changed", "b": "2"}
    assert owners(forced) == {
        "kubectl/Apply": {"f:data": {"f:b": {}}},
        "other/Apply": {"f:data": {"f:a": {}}},
    }

    manifest.write_bytes(configmap_yaml("shared", c="3"))  # kubectl stops applying b
    await kubectl("apply", "--server-side", "-f", str(manifest))
    pruned = await rest_client.get(CONFIGMAPS, "shared", namespace)
    assert pruned["data"] == {"a": "changed", "c": "3"}
    unchanged = await kubectl("apply", "--server-side", "-f", str(manifest))
    assert unchanged.strip() == "configmap/shared serverside-applied"
    again = await rest_client.get(CONFIGMAPS, "shared", namespace)
    assert again["metadata"]["resourceVersion"] == pruned["metadata"]["resourceVersion"]


async def test_server_side_apply_takes_over_from_client_side_apply(
    kubectl: Kubectl,  # noqa: F811 - the fixture
    rest_client: RestClient,
    namespace: str,
    tmp_path: Path,
) -> None:
    manifest = tmp_path / "cm.yaml"
    manifest.write_bytes(configmap_yaml("migrated", a="1", b="2"))
    assert (await kubectl("apply", "-f", str(manifest))).strip() == "configmap/migrated created"
    manifest.write_bytes(configmap_yaml("migrated", a="changed", b="2"))
    # the fields belong to kubectl-client-side-apply, but the last-applied annotation still
    # describes them: kubectl's server-side apply takes them over without a conflict
    out = await kubectl("apply", "--server-side", "-f", str(manifest))
    assert out.strip() == "configmap/migrated serverside-applied"
    migrated = await rest_client.get(CONFIGMAPS, "migrated", namespace)
    assert migrated["data"] == {"a": "changed", "b": "2"}
    assert owners(migrated)["kubectl/Apply"] == {"f:data": {"f:a": {}, "f:b": {}}}
    last = migrated["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    assert last == (
        '{"apiVersion":"v1","data":{"a":"changed","b":"2"},"kind":"ConfigMap",'
        f'"metadata":{{"name":"migrated","namespace":"{namespace}"}}}}\n'
    )
