"""The official typed client (kubernetes_asyncio) works unchanged against both servers."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from pycontroller.client import GroupVersionResource

from ._support import DEADLINE


async def test_core_v1_api_creates_reads_lists_and_deletes_configmaps(
    api_client: Any, namespace: str
) -> None:
    core = client.CoreV1Api(api_client)
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="typed", labels={"a": "b"}), data={"k": "v"})
    created = await core.create_namespaced_config_map(namespace, body)
    assert created.metadata.uid
    assert created.metadata.creation_timestamp is not None
    read = await core.read_namespaced_config_map("typed", namespace)
    assert read.data == {"k": "v"}
    listing = await core.list_namespaced_config_map(namespace, label_selector="a=b")
    assert [cm.metadata.name for cm in listing.items] == ["typed"]
    await core.patch_namespaced_config_map("typed", namespace, {"data": {"k": "w"}})
    assert (await core.read_namespaced_config_map("typed", namespace)).data == {"k": "w"}
    status = await core.delete_namespaced_config_map("typed", namespace)
    assert status.status == "Success"
    with pytest.raises(ApiException) as info:
        await core.read_namespaced_config_map("typed", namespace)
    assert info.value.status == 404
    assert orjson.loads(info.value.body)["reason"] == "NotFound"


async def test_apps_v1_api_creates_a_deployment(api_client: Any, namespace: str) -> None:
    apps = client.AppsV1Api(api_client)
    labels = {"app": "web"}
    body = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1DeploymentSpec(
            replicas=2,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[client.V1Container(name="web", image="nginx")]),
            ),
        ),
    )
    created = await apps.create_namespaced_deployment(namespace, body)
    assert created.metadata.generation == 1
    assert created.spec.replicas == 2
    # defaulting fills the strategy like the real server does
    assert created.spec.strategy.type == "RollingUpdate"


async def test_the_watch_helper_streams_typed_events(api_client: Any, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    await core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="w1"))
    )
    seen: list[tuple[str, str]] = []
    async with asyncio.timeout(DEADLINE):
        async with watch.Watch() as stream:
            async for event in stream.stream(core.list_namespaced_config_map, namespace, timeout_seconds=5):
                seen.append((event["type"], event["object"].metadata.name))
                if len(seen) == 1:
                    await core.delete_namespaced_config_map("w1", namespace)
                if len(seen) == 2:
                    break
    assert seen == [("ADDED", "w1"), ("DELETED", "w1")]


async def test_custom_objects_api_manages_custom_resources(
    api_client: Any, namespace: str, widget_crd: tuple[GroupVersionResource, dict[str, Any]]
) -> None:
    gvr, _ = widget_crd
    custom = client.CustomObjectsApi(api_client)
    body = {"apiVersion": gvr.api_version, "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"n": 1}}
    created = await custom.create_namespaced_custom_object(
        gvr.group, gvr.version, namespace, gvr.resource, body
    )
    assert created["metadata"]["generation"] == 1
    got = await custom.get_namespaced_custom_object(gvr.group, gvr.version, namespace, gvr.resource, "w1")
    assert got["spec"] == {"n": 1}
    status = await custom.patch_namespaced_custom_object_status(
        gvr.group,
        gvr.version,
        namespace,
        gvr.resource,
        "w1",
        {"status": {"ok": True}},
        _content_type="application/merge-patch+json",
    )
    assert status["status"] == {"ok": True}
    listing = await custom.list_namespaced_custom_object(gvr.group, gvr.version, namespace, gvr.resource)
    assert [i["metadata"]["name"] for i in listing["items"]] == ["w1"]
