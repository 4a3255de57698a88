"""controllerutil: owner references, finalizers, and create_or_update against the API servers."""

from __future__ import annotations

from typing import Any

import pytest

from pycontroller.client import GroupVersionResource
from pycontroller.controllerutil import (
    AlreadyOwnedError,
    OperationResult,
    add_finalizer,
    contains_finalizer,
    create_or_update,
    get_controller_of,
    has_controller_reference,
    remove_finalizer,
    set_controller_reference,
    set_owner_reference,
)
from pycontroller.errors import InvalidObjectError


def foo(name: str = "foo", uid: str = "uid-1", ns: str | None = "ns") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "uid": uid}
    if ns:
        meta["namespace"] = ns
    return {"apiVersion": "samplecontroller.k8s.io/v1alpha1", "kind": "Foo", "metadata": meta}


def deployment(ns: str | None = "ns") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "web"}
    if ns:
        meta["namespace"] = ns
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta}


def test_set_controller_reference_adds_a_controller_reference_once() -> None:
    d = deployment()
    set_controller_reference(foo(), d)
    set_controller_reference(foo(), d)
    assert d["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "samplecontroller.k8s.io/v1alpha1",
            "kind": "Foo",
            "name": "foo",
            "uid": "uid-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert get_controller_of(d)["name"] == "foo"  # type: ignore[index]
    assert has_controller_reference(d)


def test_set_controller_reference_refuses_when_another_controller_owns_the_object() -> None:
    d = deployment()
    set_controller_reference(foo("first", "u1"), d)
    with pytest.raises(AlreadyOwnedError, match="already owned by another Foo controller 'first'"):
        set_controller_reference(foo("second", "u2"), d)
    assert [r["name"] for r in d["metadata"]["ownerReferences"]] == ["first"]


def test_a_plain_owner_reference_does_not_make_a_controller() -> None:
    d = deployment()
    set_owner_reference(foo("a", "u1"), d)
    assert get_controller_of(d) is None
    set_controller_reference(foo("b", "u2"), d)
    assert len(d["metadata"]["ownerReferences"]) == 2


def test_owner_references_across_namespaces_or_from_cluster_scoped_objects_are_refused() -> None:
    with pytest.raises(InvalidObjectError, match="cross-namespace"):
        set_controller_reference(foo(ns="other"), deployment())
    with pytest.raises(InvalidObjectError, match="cluster-scoped object"):
        set_controller_reference(foo(), deployment(ns=None))
    set_controller_reference(foo(ns=None), deployment())  # a cluster-scoped owner is fine


def test_an_owner_without_a_uid_is_refused_naming_the_field() -> None:
    owner = foo()
    del owner["metadata"]["uid"]
    with pytest.raises(InvalidObjectError, match=r"metadata\.uid"):
        set_controller_reference(owner, deployment())


def test_finalizers_are_added_once_and_removed() -> None:
    d = deployment()
    assert add_finalizer(d, "example.com/cleanup") is True
    assert add_finalizer(d, "example.com/cleanup") is False
    assert contains_finalizer(d, "example.com/cleanup")
    assert remove_finalizer(d, "example.com/cleanup") is True
    assert remove_finalizer(d, "example.com/cleanup") is False
    assert not contains_finalizer(d, "example.com/cleanup")
    assert "finalizers" not in d["metadata"]


def test_helpers_refuse_non_objects() -> None:
    with pytest.raises(TypeError, match="list"):
        add_finalizer([], "x")  # type: ignore[arg-type]
    with pytest.raises(InvalidObjectError, match="no metadata"):
        get_controller_of({"kind": "Foo"})


CONFIGMAPS = GroupVersionResource("", "v1", "configmaps")


async def test_create_or_update_creates_then_updates_then_leaves_unchanged(
    rest_client: Any, namespace: str
) -> None:
    def desired(obj: dict[str, Any]) -> None:
        obj["data"] = {"color": "blue"}

    cm: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cfg", "namespace": namespace},
    }
    assert await create_or_update(rest_client, cm, desired) == OperationResult.CREATED
    assert cm["metadata"]["resourceVersion"]
    rv = cm["metadata"]["resourceVersion"]

    cm2: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cfg", "namespace": namespace},
    }
    assert await create_or_update(rest_client, cm2, desired) == OperationResult.UNCHANGED
    assert cm2["metadata"]["resourceVersion"] == rv  # no write happened

    async def greener(obj: dict[str, Any]) -> None:
        obj["data"] = {"color": "green"}

    assert await create_or_update(rest_client, cm2, greener) == OperationResult.UPDATED
    stored = await rest_client.get(CONFIGMAPS, "cfg", namespace)
    assert stored["data"] == {"color": "green"} and stored["metadata"]["resourceVersion"] != rv


async def test_create_or_update_refuses_a_mutate_that_renames(rest_client: Any, namespace: str) -> None:
    def rename(obj: dict[str, Any]) -> None:
        obj["metadata"]["name"] = "other"

    cm: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "namespace": namespace},
    }
    with pytest.raises(InvalidObjectError, match="must not change the object's name"):
        await create_or_update(rest_client, cm, rename)
