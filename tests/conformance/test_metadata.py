"""resourceVersion, generation, the status subresource and finalizers."""

from __future__ import annotations

import re

import pytest

from pycontroller.client import RestClient
from pycontroller.errors import NotFoundError

from ._support import CONFIGMAPS, DEPLOYMENTS, LEASES, configmap, deployment, rv


async def test_resource_version_increases_across_resources_and_namespaces(
    rest_client: RestClient, namespace: str
) -> None:
    a = await rest_client.create(CONFIGMAPS, configmap("a", namespace))
    lease = await rest_client.create(
        LEASES,
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "l", "namespace": namespace},
        },
    )
    b = await rest_client.patch(CONFIGMAPS, "a", {"data": {"k": "v"}}, namespace)
    assert rv(a) < rv(lease) < rv(b)
    listing = await rest_client.list(CONFIGMAPS, namespace)
    assert int(listing["metadata"]["resourceVersion"]) >= rv(b)


async def test_a_no_op_update_keeps_the_resource_version(rest_client: RestClient, namespace: str) -> None:
    created = await rest_client.create(CONFIGMAPS, configmap("a", namespace, data={"k": "v"}))
    same = await rest_client.patch(CONFIGMAPS, "a", {"data": {"k": "v"}}, namespace)
    assert same["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


async def test_an_update_keeps_the_creation_timestamp(rest_client: RestClient, namespace: str) -> None:
    created = await rest_client.create(CONFIGMAPS, configmap("a", namespace))
    body = {**created, "data": {"k": "v"}}
    body["metadata"] = {**created["metadata"], "creationTimestamp": "2000-01-01T00:00:00Z"}
    updated = await rest_client.replace(CONFIGMAPS, body)
    assert updated["metadata"]["creationTimestamp"] == created["metadata"]["creationTimestamp"]


async def test_an_update_carrying_another_uid_conflicts(rest_client: RestClient, namespace: str) -> None:
    from pycontroller.errors import ConflictError

    created = await rest_client.create(CONFIGMAPS, configmap("a", namespace))
    body = {**created, "metadata": {**created["metadata"], "uid": "00000000-0000-0000-0000-000000000000"}}
    with pytest.raises(ConflictError):
        await rest_client.replace(CONFIGMAPS, body)


async def test_generation_counts_spec_changes_only(rest_client: RestClient, namespace: str) -> None:
    created = await rest_client.create(DEPLOYMENTS, deployment("web", namespace))
    assert created["metadata"]["generation"] == 1
    relabelled = await rest_client.patch(DEPLOYMENTS, "web", {"metadata": {"labels": {"x": "y"}}}, namespace)
    assert relabelled["metadata"]["generation"] == 1
    assert rv(relabelled) > rv(created)
    scaled = await rest_client.patch(DEPLOYMENTS, "web", {"spec": {"replicas": 3}}, namespace)
    assert scaled["metadata"]["generation"] == 2


async def test_writes_to_the_main_resource_ignore_status(rest_client: RestClient, namespace: str) -> None:
    created = await rest_client.create(DEPLOYMENTS, deployment("web", namespace))
    assert "availableReplicas" not in created.get("status", {})
    body = {**created, "status": {"availableReplicas": 5}}
    updated = await rest_client.replace(DEPLOYMENTS, body)
    assert "availableReplicas" not in updated.get("status", {})
    patched = await rest_client.patch(DEPLOYMENTS, "web", {"status": {"availableReplicas": 5}}, namespace)
    assert "availableReplicas" not in patched.get("status", {})


async def test_writes_to_status_change_only_status(rest_client: RestClient, namespace: str) -> None:
    created = await rest_client.create(DEPLOYMENTS, deployment("web", namespace))
    body = {
        **created,
        "spec": {**created["spec"], "replicas": 7},
        "status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1},
    }
    updated = await rest_client.replace_status(DEPLOYMENTS, body)
    assert updated["status"]["availableReplicas"] == 1
    assert updated["spec"]["replicas"] == 1
    assert updated["metadata"]["generation"] == 1
    assert rv(updated) > rv(created)
    patched = await rest_client.patch(
        DEPLOYMENTS, "web", {"status": {"observedGeneration": 1}}, namespace, subresource="status"
    )
    assert patched["status"]["observedGeneration"] == 1
    assert patched["status"]["availableReplicas"] == 1
    fetched = await rest_client.get(DEPLOYMENTS, "web", namespace)
    assert fetched["status"]["observedGeneration"] == 1
    assert fetched["spec"]["replicas"] == 1


async def test_a_status_write_with_a_stale_resource_version_conflicts(
    rest_client: RestClient, namespace: str
) -> None:
    from pycontroller.errors import ConflictError

    created = await rest_client.create(DEPLOYMENTS, deployment("web", namespace))
    await rest_client.patch(DEPLOYMENTS, "web", {"spec": {"replicas": 2}}, namespace)
    with pytest.raises(ConflictError):
        await rest_client.replace_status(DEPLOYMENTS, {**created, "status": {"replicas": 1}})


async def test_delete_with_finalizers_marks_the_object_until_they_are_removed(
    rest_client: RestClient, namespace: str
) -> None:
    obj = configmap("held", namespace)
    obj["metadata"]["finalizers"] = ["example.com/hold"]
    created = await rest_client.create(CONFIGMAPS, obj)
    answer = await rest_client.delete(CONFIGMAPS, "held", namespace)
    # the answer is the object, still there, marked for deletion
    assert answer["kind"] == "ConfigMap"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", answer["metadata"]["deletionTimestamp"])
    assert answer["metadata"]["deletionGracePeriodSeconds"] == 0
    assert rv(answer) > rv(created)
    fetched = await rest_client.get(CONFIGMAPS, "held", namespace)
    assert fetched["metadata"]["deletionTimestamp"] == answer["metadata"]["deletionTimestamp"]
    assert fetched["metadata"]["finalizers"] == ["example.com/hold"]

    # a second delete changes nothing
    again = await rest_client.delete(CONFIGMAPS, "held", namespace)
    assert again["metadata"]["deletionTimestamp"] == answer["metadata"]["deletionTimestamp"]

    # removing the last finalizer completes the deletion
    await rest_client.patch(CONFIGMAPS, "held", {"metadata": {"finalizers": None}}, namespace)
    with pytest.raises(NotFoundError):
        await rest_client.get(CONFIGMAPS, "held", namespace)


async def test_a_terminating_object_refuses_new_finalizers(rest_client: RestClient, namespace: str) -> None:
    from pycontroller.errors import InvalidError

    obj = configmap("held", namespace)
    obj["metadata"]["finalizers"] = ["example.com/hold"]
    await rest_client.create(CONFIGMAPS, obj)
    await rest_client.delete(CONFIGMAPS, "held", namespace)
    with pytest.raises(InvalidError) as info:
        await rest_client.patch(
            CONFIGMAPS,
            "held",
            {"metadata": {"finalizers": ["example.com/hold", "example.com/more"]}},
            namespace,
        )
    assert "no new finalizers can be added if the object is being deleted" in info.value.message
    await rest_client.patch(CONFIGMAPS, "held", {"metadata": {"finalizers": None}}, namespace)


async def test_delete_collection_leaves_finalized_objects_terminating(
    rest_client: RestClient, namespace: str
) -> None:
    held = configmap("held", namespace)
    held["metadata"]["finalizers"] = ["example.com/hold"]
    await rest_client.create(CONFIGMAPS, held)
    await rest_client.create(CONFIGMAPS, configmap("free", namespace))
    await rest_client.request("DELETE", CONFIGMAPS.path(namespace))
    remaining = await rest_client.list(CONFIGMAPS, namespace)
    assert [i["metadata"]["name"] for i in remaining["items"]] == ["held"]
    assert remaining["items"][0]["metadata"]["deletionTimestamp"]
    await rest_client.patch(CONFIGMAPS, "held", {"metadata": {"finalizers": None}}, namespace)


async def test_delete_preconditions_on_uid_guard_against_a_recreated_object(
    rest_client: RestClient, namespace: str
) -> None:
    from pycontroller.errors import ConflictError

    first = await rest_client.create(CONFIGMAPS, configmap("a", namespace))
    await rest_client.delete(CONFIGMAPS, "a", namespace)
    second = await rest_client.create(CONFIGMAPS, configmap("a", namespace))
    with pytest.raises(ConflictError) as info:
        await rest_client.delete(CONFIGMAPS, "a", namespace, preconditions={"uid": first["metadata"]["uid"]})
    assert info.value.message == (
        f'Operation cannot be fulfilled on ConfigMap "a": the UID in the precondition '
        f"({first['metadata']['uid']}) does not match the UID in record ({second['metadata']['uid']}). "
        "The object might have been deleted and then recreated"
    )
    assert (await rest_client.get(CONFIGMAPS, "a", namespace))["metadata"]["uid"] == second["metadata"]["uid"]


async def test_delete_preconditions_on_resource_version_guard_against_a_changed_object(
    rest_client: RestClient, namespace: str
) -> None:
    from pycontroller.errors import ConflictError

    created = await rest_client.create(CONFIGMAPS, configmap("a", namespace))
    changed = await rest_client.patch(CONFIGMAPS, "a", {"data": {"k": "v"}}, namespace)
    with pytest.raises(ConflictError) as info:
        await rest_client.delete(
            CONFIGMAPS,
            "a",
            namespace,
            preconditions={"resourceVersion": created["metadata"]["resourceVersion"]},
        )
    assert info.value.message == (
        f'Operation cannot be fulfilled on ConfigMap "a": the ResourceVersion in the precondition '
        f"({created['metadata']['resourceVersion']}) does not match the ResourceVersion in record "
        f"({changed['metadata']['resourceVersion']}). The object might have been modified"
    )
    await rest_client.delete(
        CONFIGMAPS, "a", namespace, preconditions={"resourceVersion": changed["metadata"]["resourceVersion"]}
    )
    with pytest.raises(NotFoundError):
        await rest_client.get(CONFIGMAPS, "a", namespace)
