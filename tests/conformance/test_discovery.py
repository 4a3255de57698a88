"""Discovery: what kubectl and client libraries read before anything else."""

from __future__ import annotations

from pycontroller.client import RestClient

from ._support import crd_manifest, temporary_crd, unique


async def test_version_reports_a_git_version(rest_client: RestClient) -> None:
    version = await rest_client.request("GET", "/version")
    assert version["gitVersion"].startswith("v1.")
    assert version["major"] == "1"
    assert {"minor", "platform", "goVersion"} <= version.keys()


async def test_core_group_lists_v1(rest_client: RestClient) -> None:
    api = await rest_client.request("GET", "/api")
    assert api["kind"] == "APIVersions"
    assert api["versions"] == ["v1"]


async def test_core_v1_lists_the_built_in_resources_with_kind_scope_and_verbs(
    rest_client: RestClient,
) -> None:
    listing = await rest_client.request("GET", "/api/v1")
    assert listing["kind"] == "APIResourceList"
    assert listing["groupVersion"] == "v1"
    by_name = {r["name"]: r for r in listing["resources"]}
    assert {"namespaces", "configmaps", "secrets", "pods", "services", "events"} <= by_name.keys()
    configmaps = by_name["configmaps"]
    assert configmaps["kind"] == "ConfigMap"
    assert configmaps["namespaced"] is True
    assert set(configmaps["verbs"]) >= {
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    }
    assert "cm" in configmaps.get("shortNames", [])
    assert by_name["namespaces"]["namespaced"] is False
    assert by_name["namespaces"]["kind"] == "Namespace"
    assert "pods/status" in by_name


async def test_apis_lists_the_groups_with_their_preferred_versions(rest_client: RestClient) -> None:
    groups = await rest_client.request("GET", "/apis")
    assert groups["kind"] == "APIGroupList"
    by_name = {g["name"]: g for g in groups["groups"]}
    for group in ("apps", "coordination.k8s.io", "apiextensions.k8s.io", "events.k8s.io"):
        assert group in by_name, group
        assert by_name[group]["preferredVersion"]["version"] == "v1"
        assert {"groupVersion": f"{group}/v1", "version": "v1"} in by_name[group]["versions"]


async def test_a_group_version_lists_its_resources(rest_client: RestClient) -> None:
    apps = await rest_client.request("GET", "/apis/apps/v1")
    assert apps["groupVersion"] == "apps/v1"
    by_name = {r["name"]: r for r in apps["resources"]}
    assert by_name["deployments"]["kind"] == "Deployment"
    assert by_name["deployments"]["namespaced"] is True
    assert "deployments/status" in by_name
    leases = await rest_client.request("GET", "/apis/coordination.k8s.io/v1")
    assert {r["name"] for r in leases["resources"]} >= {"leases"}
    crds = await rest_client.request("GET", "/apis/apiextensions.k8s.io/v1")
    by_name = {r["name"]: r for r in crds["resources"]}
    assert by_name["customresourcedefinitions"]["namespaced"] is False
    assert by_name["customresourcedefinitions"]["kind"] == "CustomResourceDefinition"


async def test_a_new_crd_appears_in_discovery_and_leaves_it_when_deleted(rest_client: RestClient) -> None:
    group = f"{unique('d')}.example.com"
    manifest = crd_manifest(group, "Gizmo", short_names=["gz"])
    async with temporary_crd(rest_client, manifest):
        groups = await rest_client.request("GET", "/apis")
        entry = next(g for g in groups["groups"] if g["name"] == group)
        assert entry["preferredVersion"] == {"groupVersion": f"{group}/v1", "version": "v1"}
        listing = await rest_client.request("GET", f"/apis/{group}/v1")
        by_name = {r["name"]: r for r in listing["resources"]}
        assert by_name["gizmos"]["kind"] == "Gizmo"
        assert by_name["gizmos"]["singularName"] == "gizmo"
        assert by_name["gizmos"]["shortNames"] == ["gz"]
        assert by_name["gizmos"]["namespaced"] is True
        assert set(by_name["gizmos/status"]["verbs"]) == {"get", "patch", "update"}

    async def gone() -> bool:
        groups = await rest_client.request("GET", "/apis")
        return all(g["name"] != group for g in groups["groups"])

    from ._support import wait_for

    await wait_for(gone, what="the CRD's group to leave discovery")
