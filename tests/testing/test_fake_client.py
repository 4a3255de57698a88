"""kubernetes_asyncio and pycontroller's RestClient work unchanged against the FakeAPIServer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config

from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.testing import FakeAPIServer

DEPLOYMENTS = GroupVersionResource("apps", "v1", "deployments")


@pytest.fixture
async def server() -> AsyncIterator[FakeAPIServer]:
    async with FakeAPIServer() as srv:
        yield srv


async def test_the_typed_core_api_creates_reads_lists_and_deletes(server: FakeAPIServer) -> None:
    async with server.new_client() as api_client:
        core = k8s.CoreV1Api(api_client)
        body = k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="typed", labels={"a": "b"}), data={"k": "v"})
        created = await core.create_namespaced_config_map("default", body)
        assert created.metadata.uid
        read = await core.read_namespaced_config_map("typed", "default")
        assert read.data == {"k": "v"}
        listed = await core.list_namespaced_config_map("default", label_selector="a=b")
        assert [i.metadata.name for i in listed.items] == ["typed"]
        await core.delete_namespaced_config_map("typed", "default")
        listed = await core.list_namespaced_config_map("default")
        assert listed.items == []


async def test_a_written_kubeconfig_loads_with_kubernetes_asyncio(
    server: FakeAPIServer, tmp_path: Path
) -> None:
    path = server.write_kubeconfig(tmp_path / "config")
    api_client = await k8s_config.new_client_from_config(config_file=str(path))
    async with api_client:
        namespaces = await k8s.CoreV1Api(api_client).list_namespace()
    assert {"default", "kube-system", "kube-public"} <= {n.metadata.name for n in namespaces.items}


async def test_strategic_merge_patch_merges_containers_by_name(server: FakeAPIServer) -> None:
    rest = RestClient(server.new_client(), owns_api_client=True)
    try:
        deployment: dict[str, Any] = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [
                            {"name": "web", "image": "nginx:1", "env": [{"name": "A", "value": "1"}]},
                            {"name": "side", "image": "busybox"},
                        ]
                    },
                },
            },
        }
        await rest.create(DEPLOYMENTS, deployment)
        patch = {
            "metadata": {"finalizers": ["x/y"]},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "web", "image": "nginx:2", "env": [{"name": "B", "value": "2"}]},
                            {"name": "side", "$patch": "delete"},
                        ]
                    }
                }
            },
        }
        patched = await rest.patch(DEPLOYMENTS, "web", patch, "default", patch_type="strategic")
        [container] = patched["spec"]["template"]["spec"]["containers"]
        assert container["image"] == "nginx:2"
        # like the real server: items named by the patch first, then those only on the server
        assert container["env"] == [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]
        assert patched["metadata"]["generation"] == 2
        again = await rest.patch(
            DEPLOYMENTS, "web", {"metadata": {"finalizers": ["a/b"]}}, "default", patch_type="strategic"
        )
        assert again["metadata"]["finalizers"] == ["a/b", "x/y"]  # finalizers merge as a set
    finally:
        await rest.close()


async def test_objects_can_be_seeded_and_read_without_http(server: FakeAPIServer) -> None:
    stored = server.add_object(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "s", "namespace": "default"},
            "stringData": {"k": "v"},
        }
    )
    assert stored["data"] == {"k": "dg=="}
    assert server.get_object("v1", "Secret", "s", "default") == stored
    server.delete_object("v1", "Secret", "s", "default")
    assert server.get_object("v1", "Secret", "s", "default") is None
    with pytest.raises(ValueError, match="does not serve"):
        server.add_object({"apiVersion": "v1", "kind": "Widget", "metadata": {"name": "w"}})


async def test_a_dry_run_answers_with_the_result_but_writes_nothing(server: FakeAPIServer) -> None:
    rest = RestClient(server.new_client(), owns_api_client=True)
    cms = GroupVersionResource("", "v1", "configmaps")
    try:
        rv = server.resource_version
        dry = await rest.request(
            "POST", cms.path("default"), query={"dryRun": "All"}, body={"metadata": {"name": "dry"}}
        )
        assert dry["metadata"]["uid"] and "resourceVersion" not in dry["metadata"]
        assert server.get_object("v1", "ConfigMap", "dry", "default") is None
        await rest.create(cms, {"metadata": {"name": "real", "namespace": "default"}, "data": {"a": "b"}})
        rv = server.resource_version
        patched = await rest.request(
            "PATCH",
            cms.path("default", "real"),
            query={"dryRun": "All"},
            body={"data": {"a": "c"}},
            content_type="application/merge-patch+json",
        )
        assert patched["data"] == {"a": "c"}
        await rest.request("DELETE", cms.path("default", "real"), query={"dryRun": "All"})
        assert server.resource_version == rv
        kept = server.get_object("v1", "ConfigMap", "real", "default")
        assert kept is not None and kept["data"] == {"a": "b"}
    finally:
        await rest.close()


async def test_repeated_whole_lists_see_every_write(server: FakeAPIServer) -> None:
    rest = RestClient(server.new_client(), owns_api_client=True)
    cms = GroupVersionResource("", "v1", "configmaps")
    try:
        for i in range(3):
            server.add_object(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": f"c{i}", "namespace": "default"},
                }
            )
            first = await rest.list(cms, "default")
            again = await rest.list(cms, "default")  # served from the cached body
            assert first == again
            assert [o["metadata"]["name"] for o in again["items"]] == [f"c{j}" for j in range(i + 1)]
            assert again["metadata"]["resourceVersion"] == str(server.resource_version)
        everywhere = await rest.list(cms)
        assert len(everywhere["items"]) == 3
    finally:
        await rest.close()


async def test_the_scale_subresource_reads_and_writes_replicas(server: FakeAPIServer) -> None:
    rest = RestClient(server.new_client(), owns_api_client=True)
    try:
        body: dict[str, Any] = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "x"}]},
                },
            },
        }
        await rest.create(DEPLOYMENTS, body)
        path = DEPLOYMENTS.path("default", "web", "scale")
        scale = await rest.request("GET", path)
        assert (scale["kind"], scale["spec"], scale["status"]) == (
            "Scale",
            {"replicas": 2},
            {"replicas": 0, "selector": "app=web"},
        )
        patched = await rest.request(
            "PATCH", path, body={"spec": {"replicas": 5}}, content_type="application/merge-patch+json"
        )
        assert patched["spec"]["replicas"] == 5
        deployment = await rest.get(DEPLOYMENTS, "web", "default")
        assert deployment["spec"]["replicas"] == 5 and deployment["metadata"]["generation"] == 2
    finally:
        await rest.close()


TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


async def test_clients_asking_for_tables_get_the_real_columns(server: FakeAPIServer) -> None:
    import aiohttp
    import orjson

    server.add_object(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "default"},
            "data": {"k": "v", "l": "w"},
        }
    )
    url = f"{server.url}/api/v1/namespaces/default/configmaps"
    async with aiohttp.ClientSession(headers={"Accept": TABLE_ACCEPT}) as http:
        async with http.get(url) as resp:
            table = orjson.loads(await resp.read())
        assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
        assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Data", "Age"]
        [row] = table["rows"]
        assert row["cells"][:2] == ["a", 2]
        assert row["object"]["kind"] == "PartialObjectMetadata"
        async with http.get(url + "/a") as resp:
            assert orjson.loads(await resp.read())["rows"][0]["cells"][0] == "a"
        async with http.get(url + "?watch=1&resourceVersion=0") as resp:
            first = orjson.loads(await resp.content.readline())
            server.add_object(
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "namespace": "default"}}
            )
            second = orjson.loads(await resp.content.readline())
    assert first["object"]["kind"] == "Table" and "columnDefinitions" in first["object"]
    assert second["type"] == "ADDED" and "columnDefinitions" not in second["object"]
    assert second["object"]["rows"][0]["cells"][:2] == ["b", 0]


def test_ages_read_like_kubectl_prints_them() -> None:
    from pycontroller.testing.apiserver.printing import human_duration

    assert [human_duration(s) for s in (-5, 0, 90, 330, 7200, 3 * 3600 + 60, 50 * 3600, 400 * 86400)] == [
        "<invalid>",
        "0s",
        "90s",
        "5m30s",
        "120m",
        "3h1m",
        "2d2h",
        "400d",
    ]
