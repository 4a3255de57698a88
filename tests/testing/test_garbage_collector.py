"""The opt-in garbage collector and namespace finalizer of the in-memory API server.

kube-controller-manager is not part of envtest, so these are fake-only tests; each expectation
follows the real garbage collector's documented behaviour (background, foreground with
blockOwnerDeletion, orphaning, namespace deletion).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.errors import NotFoundError
from pycontroller.testing.apiserver import FakeAPIServer

FOO_CRD = (
    Path(__file__).parents[2] / "samples" / "sample_controller" / "artifacts" / "crd-status-subresource.yaml"
)
FOOS = GroupVersionResource("samplecontroller.k8s.io", "v1alpha1", "foos")
DEPLOYMENTS = GroupVersionResource("apps", "v1", "deployments")
REPLICASETS = GroupVersionResource("apps", "v1", "replicasets")
CONFIGMAPS = GroupVersionResource("", "v1", "configmaps")
NAMESPACES = GroupVersionResource("", "v1", "namespaces")
JOBS = GroupVersionResource("batch", "v1", "jobs")
PODS = GroupVersionResource("", "v1", "pods")
MERGE = "application/merge-patch+json"


@pytest_asyncio.fixture
async def client() -> AsyncIterator[RestClient]:
    async with FakeAPIServer(garbage_collector=True, crds=[FOO_CRD]) as server:
        rest = RestClient(server.new_client(), owns_api_client=True)
        try:
            yield rest
        finally:
            await rest.close()


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait (deadline 10 s) for the collector, which runs right after the request that triggered it."""
    try:
        async with asyncio.timeout(10):
            while True:
                if await check():
                    return
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def gone(
    client: RestClient, gvr: GroupVersionResource, name: str, namespace: str | None = "default"
) -> bool:
    try:
        await client.get(gvr, name, namespace=namespace)
    except NotFoundError:
        return True
    return False


def owner_ref(owner: dict[str, Any], *, block: bool = True, controller: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": controller,
        "blockOwnerDeletion": block,
    }


async def make_foo(client: RestClient, name: str = "example-foo") -> dict[str, Any]:
    foo = {
        "apiVersion": "samplecontroller.k8s.io/v1alpha1",
        "kind": "Foo",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"deploymentName": f"{name}-nginx", "replicas": 1},
    }
    return await client.create(FOOS, foo)


async def make_deployment(
    client: RestClient, name: str, owners: list[dict[str, Any]], finalizers: list[str] | None = None
) -> dict[str, Any]:
    labels = {"app": "nginx", "controller": name}
    meta: dict[str, Any] = {"name": name, "namespace": "default", "ownerReferences": owners}
    if finalizers:
        meta["finalizers"] = finalizers
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "nginx", "image": "nginx"}]},
            },
        },
    }
    return await client.create(DEPLOYMENTS, body)


async def test_deleting_a_foo_deletes_its_deployment_and_that_its_replica_set(client: RestClient) -> None:
    foo = await make_foo(client)
    deployment = await make_deployment(client, "example-foo-nginx", [owner_ref(foo)])
    replicaset = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": "example-foo-nginx-1",
            "namespace": "default",
            "ownerReferences": [owner_ref(deployment)],
        },
        "spec": deployment["spec"],
    }
    await client.create(REPLICASETS, replicaset)
    await client.delete(FOOS, "example-foo", namespace="default")  # background, the default
    await eventually(lambda: gone(client, DEPLOYMENTS, "example-foo-nginx"), "the Deployment to go")
    await eventually(lambda: gone(client, REPLICASETS, "example-foo-nginx-1"), "the ReplicaSet to go")


async def test_without_the_option_nothing_is_collected() -> None:
    async with FakeAPIServer(crds=[FOO_CRD]) as server:
        rest = RestClient(server.new_client(), owns_api_client=True)
        try:
            foo = await make_foo(rest)
            await make_deployment(rest, "kept", [owner_ref(foo)])
            await rest.delete(FOOS, "example-foo", namespace="default")
            await asyncio.sleep(0)  # give a collector, were there one, its turn
            assert await rest.get(DEPLOYMENTS, "kept", namespace="default")
            with pytest.raises(RuntimeError, match="garbage_collector=True"):
                server.collect_garbage()
        finally:
            await rest.close()


async def test_foreground_deletion_waits_for_blocking_dependents(client: RestClient) -> None:
    foo = await make_foo(client)
    await make_deployment(client, "held", [owner_ref(foo)], finalizers=["example.com/hold"])
    await client.request(
        "DELETE",
        "/apis/samplecontroller.k8s.io/v1alpha1/namespaces/default/foos/example-foo",
        body={"propagationPolicy": "Foreground"},
    )

    async def dependent_deleting() -> bool:
        held = await client.get(DEPLOYMENTS, "held", namespace="default")
        return bool(held["metadata"].get("deletionTimestamp"))

    await eventually(dependent_deleting, "the dependent to be deleted")
    waiting = await client.get(FOOS, "example-foo", namespace="default")
    assert waiting["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert waiting["metadata"]["deletionTimestamp"]
    await client.request(
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/held",
        body={"metadata": {"finalizers": None}},
        content_type=MERGE,
    )
    await eventually(lambda: gone(client, FOOS, "example-foo"), "the Foo to go once its dependent went")


async def test_dependents_that_do_not_block_let_the_owner_go_first(client: RestClient) -> None:
    foo = await make_foo(client)
    await make_deployment(client, "loose", [owner_ref(foo, block=False)], finalizers=["example.com/hold"])
    await client.request(
        "DELETE",
        "/apis/samplecontroller.k8s.io/v1alpha1/namespaces/default/foos/example-foo",
        body={"propagationPolicy": "Foreground"},
    )
    await eventually(lambda: gone(client, FOOS, "example-foo"), "the Foo to go")
    loose = await client.get(DEPLOYMENTS, "loose", namespace="default")
    assert loose["metadata"]["deletionTimestamp"]  # deleted too, held only by its own finalizer


async def test_orphaning_keeps_dependents_without_the_reference(client: RestClient) -> None:
    foo = await make_foo(client)
    other = await client.create(
        CONFIGMAPS,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other", "namespace": "default"}},
    )
    await make_deployment(client, "orphan", [owner_ref(foo), owner_ref(other, controller=False)])
    await client.request(
        "DELETE",
        "/apis/samplecontroller.k8s.io/v1alpha1/namespaces/default/foos/example-foo",
        body={"propagationPolicy": "Orphan"},
    )
    await eventually(lambda: gone(client, FOOS, "example-foo"), "the Foo to go")
    kept = await client.get(DEPLOYMENTS, "orphan", namespace="default")
    assert [r["name"] for r in kept["metadata"]["ownerReferences"]] == ["other"]


async def test_a_job_deleted_without_a_policy_orphans_its_pods(client: RestClient) -> None:
    job = await client.create(
        JOBS,
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "j", "namespace": "default"},
            "spec": {
                "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}
            },
        },
    )
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "j-1", "namespace": "default", "ownerReferences": [owner_ref(job)]},
        "spec": {"containers": [{"name": "c", "image": "x"}]},
    }
    await client.create(PODS, pod)
    await client.delete(JOBS, "j", namespace="default")  # the real default for Jobs: orphan
    await eventually(lambda: gone(client, JOBS, "j"), "the Job to go")
    left = await client.get(PODS, "j-1", namespace="default")
    assert "ownerReferences" not in left["metadata"]


async def test_an_object_whose_owners_are_gone_is_collected_and_a_dangling_reference_dropped(
    client: RestClient,
) -> None:
    keeper = await client.create(
        CONFIGMAPS,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "keeper", "namespace": "default"}},
    )
    ghost = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "ghost",
        "uid": "00000000-0000-0000-0000-000000000000",
    }
    await make_deployment(client, "orphaned-at-birth", [ghost])
    await make_deployment(client, "half", [ghost, owner_ref(keeper, controller=False)])
    await eventually(lambda: gone(client, DEPLOYMENTS, "orphaned-at-birth"), "the ownerless Deployment to go")

    async def dropped() -> bool:
        half = await client.get(DEPLOYMENTS, "half", namespace="default")
        return [r["name"] for r in half["metadata"]["ownerReferences"]] == ["keeper"]

    await eventually(dropped, "the dangling reference to be dropped")


async def test_a_deleted_namespace_is_emptied_and_finalized(client: RestClient) -> None:
    await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}})
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "doomed"}}
    await client.create(CONFIGMAPS, cm)
    held = {**cm, "metadata": {"name": "held", "namespace": "doomed", "finalizers": ["example.com/hold"]}}
    await client.create(CONFIGMAPS, held)
    await client.delete(NAMESPACES, "doomed")
    await eventually(lambda: gone(client, CONFIGMAPS, "a", "doomed"), "the namespace's objects to go")
    namespace = await client.get(NAMESPACES, "doomed")
    assert namespace["status"]["phase"] == "Terminating"  # held by the object's finalizer
    await client.request(
        "PATCH",
        "/api/v1/namespaces/doomed/configmaps/held",
        body={"metadata": {"finalizers": None}},
        content_type=MERGE,
    )
    await eventually(lambda: gone(client, NAMESPACES, "doomed", None), "the namespace to be finalized")
