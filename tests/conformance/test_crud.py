"""Create, read, update, patch and delete, with the fields the server fills in."""

from __future__ import annotations

import re

import pytest

from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.errors import NotFoundError

from ._support import (
    CONFIGMAPS,
    DEPLOYMENTS,
    EVENTS,
    LEASES,
    NEW_EVENTS,
    PODS,
    SECRETS,
    SERVICES,
    configmap,
    deployment,
    names,
    rv,
)

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
UID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


async def test_create_fills_uid_creation_timestamp_and_resource_version(
    rest_client: RestClient, namespace: str
) -> None:
    created = await rest_client.create(CONFIGMAPS, configmap("a", namespace, data={"k": "v"}))
    assert created["kind"] == "ConfigMap"
    assert created["apiVersion"] == "v1"
    meta = created["metadata"]
    assert meta["name"] == "a"
    assert meta["namespace"] == namespace
    assert UID.match(meta["uid"])
    assert TIMESTAMP.match(meta["creationTimestamp"])
    assert int(meta["resourceVersion"]) > 0
    assert created["data"] == {"k": "v"}
    fetched = await rest_client.get(CONFIGMAPS, "a", namespace)
    assert fetched["metadata"]["uid"] == meta["uid"]
    assert fetched["metadata"]["resourceVersion"] == meta["resourceVersion"]
    assert fetched["data"] == {"k": "v"}


async def test_the_namespace_in_the_path_is_given_to_an_object_without_one(
    rest_client: RestClient, namespace: str
) -> None:
    obj = configmap("a", namespace)
    del obj["metadata"]["namespace"]
    created = await rest_client.create(CONFIGMAPS, obj, namespace=namespace)
    assert created["metadata"]["namespace"] == namespace


async def test_generate_name_gets_a_random_suffix(rest_client: RestClient, namespace: str) -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-"}}
    first = await rest_client.create(CONFIGMAPS, obj, namespace=namespace)
    second = await rest_client.create(CONFIGMAPS, obj, namespace=namespace)
    for created in (first, second):
        assert re.match(r"^gen-[a-z0-9]{5}$", created["metadata"]["name"])
        assert created["metadata"]["generateName"] == "gen-"
    assert first["metadata"]["name"] != second["metadata"]["name"]


async def test_list_items_carry_no_kind_and_the_list_carries_its_own(
    rest_client: RestClient, namespace: str
) -> None:
    for name in ("b", "a", "c"):
        await rest_client.create(CONFIGMAPS, configmap(name, namespace))
    listing = await rest_client.list(CONFIGMAPS, namespace)
    assert listing["kind"] == "ConfigMapList"
    assert listing["apiVersion"] == "v1"
    assert int(listing["metadata"]["resourceVersion"]) > 0
    assert [i["metadata"]["name"] for i in listing["items"]] == ["a", "b", "c"]  # sorted by name
    for item in listing["items"]:
        assert "kind" not in item
        assert "apiVersion" not in item


async def test_listing_across_namespaces_sees_every_namespace(
    rest_client: RestClient, namespace: str
) -> None:
    await rest_client.create(CONFIGMAPS, configmap("across", namespace))
    listing = await rest_client.list(CONFIGMAPS)
    found = [i for i in listing["items"] if i["metadata"]["name"] == "across"]
    assert [i["metadata"]["namespace"] for i in found] == [namespace]


async def test_update_replaces_the_object_and_bumps_the_resource_version(
    rest_client: RestClient, namespace: str
) -> None:
    created = await rest_client.create(CONFIGMAPS, configmap("a", namespace, data={"k": "v"}))
    created["data"] = {"other": "x"}
    updated = await rest_client.replace(CONFIGMAPS, created)
    assert updated["data"] == {"other": "x"}
    assert rv(updated) > rv(created)
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]
    assert updated["metadata"]["creationTimestamp"] == created["metadata"]["creationTimestamp"]


async def test_an_update_without_resource_version_is_unconditional(
    rest_client: RestClient, namespace: str
) -> None:
    await rest_client.create(CONFIGMAPS, configmap("a", namespace, data={"k": "v"}))
    updated = await rest_client.replace(CONFIGMAPS, configmap("a", namespace, data={"k": "w"}))
    assert updated["data"] == {"k": "w"}


async def test_merge_patch_merges_maps_and_null_deletes_a_key(
    rest_client: RestClient, namespace: str
) -> None:
    await rest_client.create(
        CONFIGMAPS, configmap("a", namespace, labels={"x": "1", "y": "2"}, data={"k": "v"})
    )
    patched = await rest_client.patch(
        CONFIGMAPS, "a", {"metadata": {"labels": {"y": None, "z": "3"}}, "data": {"n": "m"}}, namespace
    )
    assert patched["metadata"]["labels"] == {"x": "1", "z": "3"}
    assert patched["data"] == {"k": "v", "n": "m"}


async def test_json_patch_applies_operations_in_order(rest_client: RestClient, namespace: str) -> None:
    await rest_client.create(CONFIGMAPS, configmap("a", namespace, data={"k": "v"}))
    patched = await rest_client.patch(
        CONFIGMAPS,
        "a",
        [
            {"op": "test", "path": "/data/k", "value": "v"},
            {"op": "add", "path": "/data/n", "value": "1"},
            {"op": "replace", "path": "/data/k", "value": "w"},
            {"op": "remove", "path": "/data/n"},
        ],
        namespace,
        patch_type="json",
    )
    assert patched["data"] == {"k": "w"}


async def test_strategic_merge_patch_merges_containers_by_name(
    rest_client: RestClient, namespace: str
) -> None:
    dep = deployment("web", namespace)
    dep["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "busybox"})
    await rest_client.create(DEPLOYMENTS, dep)
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.20"}]}}}}
    patched = await rest_client.patch(DEPLOYMENTS, "web", patch, namespace, patch_type="strategic")
    containers = patched["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("web", "nginx:1.20"), ("sidecar", "busybox")]
    # a JSON merge patch replaces the whole list instead
    merged = await rest_client.patch(DEPLOYMENTS, "web", patch, namespace, patch_type="merge")
    assert [c["name"] for c in merged["spec"]["template"]["spec"]["containers"]] == ["web"]


async def test_delete_answers_a_success_status_and_the_object_is_gone(
    rest_client: RestClient, namespace: str
) -> None:
    created = await rest_client.create(CONFIGMAPS, configmap("a", namespace))
    answer = await rest_client.delete(CONFIGMAPS, "a", namespace, propagation_policy="Background")
    assert answer["kind"] == "Status"
    assert answer["status"] == "Success"
    assert answer["details"]["name"] == "a"
    assert answer["details"]["kind"] == "configmaps"
    assert answer["details"]["uid"] == created["metadata"]["uid"]
    with pytest.raises(NotFoundError):
        await rest_client.get(CONFIGMAPS, "a", namespace)


async def test_deleting_a_deployment_returns_the_object(rest_client: RestClient, namespace: str) -> None:
    await rest_client.create(DEPLOYMENTS, deployment("web", namespace))
    answer = await rest_client.delete(DEPLOYMENTS, "web", namespace, propagation_policy="Background")
    # resources whose strategy keeps the object around until finalized answer the object itself
    assert answer["kind"] in {"Deployment", "Status"}
    with pytest.raises(NotFoundError):
        await rest_client.get(DEPLOYMENTS, "web", namespace)


async def test_delete_collection_removes_only_matching_objects(
    rest_client: RestClient, namespace: str
) -> None:
    await rest_client.create(CONFIGMAPS, configmap("a", namespace, labels={"tier": "web"}))
    await rest_client.create(CONFIGMAPS, configmap("b", namespace, labels={"tier": "web"}))
    await rest_client.create(CONFIGMAPS, configmap("c", namespace, labels={"tier": "db"}))
    answer = await rest_client.request(
        "DELETE", CONFIGMAPS.path(namespace), query={"labelSelector": "tier=web"}
    )
    assert answer["kind"] == "ConfigMapList"
    assert names(await rest_client.list(CONFIGMAPS, namespace)) == ["c"]


@pytest.mark.parametrize(
    ("gvr", "body"),
    [
        (
            SECRETS,
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "v"}},
        ),
        (
            LEASES,
            {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": "s"},
                "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15},
            },
        ),
        (
            PODS,
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "s"},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            },
        ),
    ],
    ids=["secret", "lease", "pod"],
)
async def test_other_built_ins_round_trip(
    rest_client: RestClient, namespace: str, gvr: GroupVersionResource, body: dict[str, object]
) -> None:
    created = await rest_client.create(gvr, body, namespace=namespace)
    assert created["kind"] == body["kind"]
    fetched = await rest_client.get(gvr, "s", namespace)
    assert fetched["metadata"]["uid"] == created["metadata"]["uid"]
    if gvr is SECRETS:
        assert fetched["data"] == {"k": "dg=="}  # stringData is folded into base64 data
        assert "stringData" not in fetched
    if gvr is LEASES:
        assert fetched["spec"]["holderIdentity"] == "me"


async def test_a_service_gets_its_defaults(rest_client: RestClient, namespace: str) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"ports": [{"port": 80}]},
    }
    created = await rest_client.create(SERVICES, body, namespace=namespace)
    assert created["spec"]["type"] == "ClusterIP"
    assert created["spec"]["ports"] == [{"protocol": "TCP", "port": 80, "targetPort": 80}]


async def test_core_events_round_trip(rest_client: RestClient, namespace: str) -> None:
    cm = await rest_client.create(CONFIGMAPS, configmap("subject", namespace))
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "subject.16b0c0ffee", "namespace": namespace},
        "involvedObject": {
            "kind": "ConfigMap",
            "namespace": namespace,
            "name": "subject",
            "uid": cm["metadata"]["uid"],
            "apiVersion": "v1",
            "resourceVersion": cm["metadata"]["resourceVersion"],
        },
        "reason": "Synced",
        "message": "synced successfully",
        "source": {"component": "conformance"},
        "firstTimestamp": "2024-01-01T00:00:00Z",
        "lastTimestamp": "2024-01-01T00:00:00Z",
        "count": 1,
        "type": "Normal",
    }
    created = await rest_client.create(EVENTS, event)
    assert created["reason"] == "Synced"
    patched = await rest_client.patch(
        EVENTS, "subject.16b0c0ffee", {"count": 2, "message": "again"}, namespace
    )
    assert patched["count"] == 2
    by_object = await rest_client.list(EVENTS, namespace, fieldSelector="metadata.name=subject.16b0c0ffee")
    assert [e["message"] for e in by_object["items"]] == ["again"]


async def test_events_k8s_io_events_round_trip(rest_client: RestClient, namespace: str) -> None:
    event = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "e1", "namespace": namespace},
        "eventTime": "2024-01-01T00:00:00.000000Z",
        "reportingController": "example.com/conformance",
        "reportingInstance": "conformance-1",
        "action": "Sync",
        "reason": "Synced",
        "note": "synced successfully",
        "type": "Normal",
        "regarding": {"kind": "ConfigMap", "namespace": namespace, "name": "subject", "apiVersion": "v1"},
    }
    created = await rest_client.create(NEW_EVENTS, event)
    assert created["reason"] == "Synced"
    assert created["note"] == "synced successfully"
    # the same object is visible through core/v1 with the older field names
    core = await rest_client.get(EVENTS, "e1", namespace)
    assert core["message"] == "synced successfully"
    assert core["involvedObject"]["name"] == "subject"
    assert core["reportingComponent"] == "example.com/conformance"


async def test_strategic_merge_directives_order_delete_and_merge_by_key(
    rest_client: RestClient, namespace: str
) -> None:
    dep = deployment("web", namespace)
    dep["spec"]["template"]["spec"]["containers"] = [
        {
            "name": "web",
            "image": "nginx",
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
            "ports": [{"containerPort": 80}],
        },
        {"name": "side", "image": "busybox"},
    ]
    await rest_client.create(DEPLOYMENTS, dep)
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "side"}, {"name": "web"}],
                    "containers": [
                        {
                            "name": "web",
                            "env": [
                                {"name": "A", "value": "9"},
                                {"name": "B", "$patch": "delete"},
                                {"name": "C", "value": "3"},
                            ],
                            "ports": [{"containerPort": 443}],
                        }
                    ],
                }
            }
        }
    }
    patched = await rest_client.patch(DEPLOYMENTS, "web", patch, namespace, patch_type="strategic")
    containers = patched["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["side", "web"]  # $setElementOrder
    web = containers[1]
    assert web["image"] == "nginx"  # untouched fields of a merged element stay
    assert web["env"] == [{"name": "A", "value": "9"}, {"name": "C", "value": "3"}]  # merged by name
    # merged by containerPort; elements new in the patch come before those only on the server
    assert [p["containerPort"] for p in web["ports"]] == [443, 80]

    removed = await rest_client.patch(
        DEPLOYMENTS,
        "web",
        {"spec": {"template": {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}}},
        namespace,
        patch_type="strategic",
    )
    assert [c["name"] for c in removed["spec"]["template"]["spec"]["containers"]] == ["web"]


async def test_strategic_merge_on_a_configmap_merges_maps(rest_client: RestClient, namespace: str) -> None:
    await rest_client.create(CONFIGMAPS, configmap("a", namespace, labels={"x": "1"}, data={"k": "v"}))
    patched = await rest_client.patch(
        CONFIGMAPS,
        "a",
        {"metadata": {"labels": {"y": "2"}}, "data": {"k": None, "n": "m"}},
        namespace,
        patch_type="strategic",
    )
    assert patched["metadata"]["labels"] == {"x": "1", "y": "2"}
    assert patched["data"] == {"n": "m"}
