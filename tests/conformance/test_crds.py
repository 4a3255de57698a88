"""CustomResourceDefinitions: served after creation, status subresource, cluster scope, removal."""

from __future__ import annotations

from typing import Any

import pytest

from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.errors import NotFoundError

from ._support import (
    CRDS,
    Watch,
    crd_manifest,
    create_crd,
    delete_crd,
    rv,
    summary,
    temporary_crd,
    unique,
    wait_for,
)

Widget = tuple[GroupVersionResource, dict[str, Any]]


def widget(gvr: GroupVersionResource, name: str, namespace: str | None, **fields: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": gvr.api_version, "kind": "Widget", "metadata": meta, **fields}


async def test_a_created_crd_is_established_and_its_objects_round_trip(
    rest_client: RestClient, namespace: str, widget_crd: Widget
) -> None:
    gvr, manifest = widget_crd
    crd = await rest_client.get(CRDS, manifest["metadata"]["name"])
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions["Established"] == "True"
    assert conditions["NamesAccepted"] == "True"
    assert crd["status"]["acceptedNames"]["kind"] == "Widget"

    created = await rest_client.create(gvr, widget(gvr, "w1", namespace, spec={"size": 3}))
    assert created["kind"] == "Widget"
    assert created["apiVersion"] == gvr.api_version
    assert created["spec"] == {"size": 3}
    assert created["metadata"]["generation"] == 1
    assert created["metadata"]["uid"]
    listing = await rest_client.list(gvr, namespace)
    assert listing["kind"] == "WidgetList"
    assert listing["apiVersion"] == gvr.api_version
    assert [i["metadata"]["name"] for i in listing["items"]] == ["w1"]
    patched = await rest_client.patch(gvr, "w1", {"spec": {"size": 4}}, namespace)
    assert patched["spec"] == {"size": 4}
    assert patched["metadata"]["generation"] == 2
    await rest_client.delete(gvr, "w1", namespace)
    with pytest.raises(NotFoundError):
        await rest_client.get(gvr, "w1", namespace)


async def test_custom_objects_need_an_existing_namespace(rest_client: RestClient, widget_crd: Widget) -> None:
    gvr, _ = widget_crd
    with pytest.raises(NotFoundError) as info:
        await rest_client.create(gvr, widget(gvr, "w1", "no-such-namespace"))
    assert info.value.message == 'namespaces "no-such-namespace" not found'


async def test_custom_object_errors_name_the_plural_and_group(
    rest_client: RestClient, namespace: str, widget_crd: Widget
) -> None:
    gvr, _ = widget_crd
    with pytest.raises(NotFoundError) as info:
        await rest_client.get(gvr, "nope", namespace)
    assert info.value.message == f'widgets.{gvr.group} "nope" not found'
    assert info.value.details == {"name": "nope", "group": gvr.group, "kind": "widgets"}


async def test_the_status_subresource_splits_spec_and_status_writes(
    rest_client: RestClient, namespace: str, widget_crd: Widget
) -> None:
    gvr, _ = widget_crd
    created = await rest_client.create(
        gvr, widget(gvr, "w1", namespace, spec={"size": 1}, status={"ready": True})
    )
    assert "status" not in created  # status is dropped on create
    with_status = await rest_client.replace_status(
        gvr, {**created, "spec": {"size": 9}, "status": {"ready": True}}
    )
    assert with_status["status"] == {"ready": True}
    assert with_status["spec"] == {"size": 1}
    assert with_status["metadata"]["generation"] == 1
    main = await rest_client.patch(gvr, "w1", {"spec": {"size": 2}, "status": {"ready": False}}, namespace)
    assert main["status"] == {"ready": True}
    assert main["spec"] == {"size": 2}
    assert main["metadata"]["generation"] == 2
    # metadata-only changes do not bump the generation
    labelled = await rest_client.patch(gvr, "w1", {"metadata": {"labels": {"a": "b"}}}, namespace)
    assert labelled["metadata"]["generation"] == 2
    assert rv(labelled) > rv(main)
    status_patch = await rest_client.patch(
        gvr, "w1", {"status": {"ready": False}}, namespace, subresource="status"
    )
    assert status_patch["status"] == {"ready": False}
    assert status_patch["metadata"]["generation"] == 2


async def test_without_a_status_subresource_status_is_an_ordinary_field(
    rest_client: RestClient, namespace: str
) -> None:
    manifest = crd_manifest(f"{unique('s')}.example.com", "Widget", status=False)
    async with temporary_crd(rest_client, manifest) as gvr:
        created = await rest_client.create(
            gvr, widget(gvr, "w1", namespace, spec={"size": 1}, status={"ready": True})
        )
        assert created["status"] == {"ready": True}
        with pytest.raises(NotFoundError):
            await rest_client.replace_status(gvr, created)
        # every change but metadata bumps the generation when there is no status subresource
        changed = await rest_client.patch(gvr, "w1", {"status": {"ready": False}}, namespace)
        assert changed["metadata"]["generation"] == 2


async def test_a_cluster_scoped_crd_serves_objects_without_namespace(rest_client: RestClient) -> None:
    manifest = crd_manifest(f"{unique('c')}.example.com", "Widget", scope="Cluster")
    async with temporary_crd(rest_client, manifest) as gvr:
        discovery = await rest_client.request("GET", f"/apis/{gvr.group}/v1")
        assert {r["name"]: r["namespaced"] for r in discovery["resources"]}["widgets"] is False
        created = await rest_client.create(gvr, widget(gvr, "global", None, spec={"x": 1}))
        assert "namespace" not in created["metadata"]
        fetched = await rest_client.get(gvr, "global")
        assert fetched["metadata"]["uid"] == created["metadata"]["uid"]
        listing = await rest_client.list(gvr)
        assert [i["metadata"]["name"] for i in listing["items"]] == ["global"]
        with_status = await rest_client.replace_status(gvr, {**fetched, "status": {"phase": "Ready"}})
        assert with_status["status"] == {"phase": "Ready"}


async def test_every_served_version_is_served(rest_client: RestClient, namespace: str) -> None:
    group = f"{unique('v')}.example.com"
    manifest = crd_manifest(group, "Widget", versions=("v1", "v1beta1"))
    async with temporary_crd(rest_client, manifest) as gvr:
        beta = GroupVersionResource(group, "v1beta1", "widgets")
        await wait_for(lambda: _served(rest_client, beta, namespace), what="v1beta1 to be served")
        await rest_client.create(gvr, widget(gvr, "w1", namespace, spec={"x": 1}))
        seen = await rest_client.get(beta, "w1", namespace)
        assert seen["apiVersion"] == f"{group}/v1beta1"
        assert seen["spec"] == {"x": 1}
        groups = await rest_client.request("GET", "/apis")
        entry = next(g for g in groups["groups"] if g["name"] == group)
        assert {v["version"] for v in entry["versions"]} == {"v1", "v1beta1"}


async def _served(client: RestClient, gvr: GroupVersionResource, namespace: str) -> bool:
    try:
        await client.list(gvr, namespace)
    except NotFoundError:
        return False
    return True


async def test_deleting_a_crd_stops_serving_its_resource(rest_client: RestClient, namespace: str) -> None:
    manifest = crd_manifest(f"{unique('x')}.example.com", "Widget")
    gvr = await create_crd(rest_client, manifest)
    await rest_client.create(gvr, widget(gvr, "w1", namespace))
    await delete_crd(rest_client, manifest)

    async def unserved() -> bool:
        return not await _served(rest_client, gvr, namespace)

    await wait_for(unserved, what="the resource to stop being served")
    with pytest.raises(NotFoundError):
        await rest_client.get(CRDS, manifest["metadata"]["name"])


async def test_custom_objects_can_be_watched(
    rest_client: RestClient, namespace: str, widget_crd: Widget
) -> None:
    gvr, _ = widget_crd
    start = await rest_client.list(gvr, namespace)
    async with Watch(
        rest_client, gvr.path(namespace), resourceVersion=start["metadata"]["resourceVersion"]
    ) as watch:
        await rest_client.create(gvr, widget(gvr, "w1", namespace, spec={"a": 1}))
        await rest_client.patch(gvr, "w1", {"spec": {"a": 2}}, namespace)
        await rest_client.delete(gvr, "w1", namespace)
        events = await watch.take(3)
    assert summary(events) == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]
    assert events[1]["object"]["kind"] == "Widget"
    assert events[1]["object"]["spec"] == {"a": 2}


async def test_a_second_crd_with_the_same_name_already_exists(
    rest_client: RestClient, widget_crd: Widget
) -> None:
    from pycontroller.errors import AlreadyExistsError

    _, manifest = widget_crd
    with pytest.raises(AlreadyExistsError) as info:
        await rest_client.create(CRDS, manifest)
    assert info.value.message == (
        f'customresourcedefinitions.apiextensions.k8s.io "{manifest["metadata"]["name"]}" already exists'
    )


async def test_deleting_a_crd_deletes_its_objects_and_ends_open_watches(
    rest_client: RestClient, namespace: str
) -> None:
    manifest = crd_manifest(f"{unique('e')}.example.com", "Widget")
    gvr = await create_crd(rest_client, manifest)
    try:
        await rest_client.create(gvr, widget(gvr, "w1", namespace))
        async with Watch(rest_client, gvr.path(namespace)) as watch:
            assert summary(await watch.take(1)) == [("ADDED", "w1")]
            await delete_crd(rest_client, manifest)
            rest = await watch.rest(timeout=15)  # the stream ends
        assert summary([e for e in rest if e["type"] != "BOOKMARK"]) == [("DELETED", "w1")]
    finally:
        await delete_crd(rest_client, manifest)
