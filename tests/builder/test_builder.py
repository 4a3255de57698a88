"""The Builder: a controller in a few lines, wired like controller-runtime's, on both API servers."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from pycontroller import (
    Builder,
    BuilderError,
    Manager,
    NoKindMatchError,
    Result,
    enqueue_mapped,
    label_selector,
)
from pycontroller.client import GroupVersionResource
from pycontroller.testing import eventually, running

CONFIGMAPS = GroupVersionResource("", "v1", "configmaps")
SECRETS = GroupVersionResource("", "v1", "secrets")
_seq = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_seq)}"


def _manager(api_client: Any, namespace: str) -> Manager:
    return Manager(api_client, namespace=namespace, metrics_bind_address="0", handle_signals=False)


async def test_for_and_owns_reconcile_the_object_and_the_owner_of_changed_children(
    api_client: Any, rest_client: Any, namespace: str
) -> None:
    mgr = _manager(api_client, namespace)
    seen: list[str] = []

    async def reconcile(key: str) -> Result | None:
        seen.append(key)
        return None

    ctl = (
        mgr.controller(unique("owner"))
        .for_("v1", "ConfigMap")
        .owns("v1", "Secret")
        .with_options(max_concurrent_reconciles=2)
        .complete(reconcile)
    )
    assert ctl.max_concurrent_reconciles == 2
    owner = await rest_client.create(CONFIGMAPS, {"metadata": {"name": "owner"}}, namespace)
    async with running(mgr):
        await eventually(lambda: f"{namespace}/owner" in seen)
        seen.clear()
        ref = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": "owner",
            "uid": owner["metadata"]["uid"],
            "controller": True,
        }
        await rest_client.create(
            SECRETS, {"metadata": {"name": "child", "ownerReferences": [ref]}, "data": {}}, namespace
        )
        await eventually(lambda: f"{namespace}/owner" in seen)
        assert f"{namespace}/child" not in seen  # the Secret's own key is never reconciled
        await rest_client.create(SECRETS, {"metadata": {"name": "orphan"}}, namespace)
        await rest_client.create(CONFIGMAPS, {"metadata": {"name": "marker"}}, namespace)
        await eventually(lambda: f"{namespace}/marker" in seen)
        assert f"{namespace}/orphan" not in seen


async def test_watches_and_event_filters_decide_what_is_reconciled(
    api_client: Any, rest_client: Any, namespace: str
) -> None:
    mgr = _manager(api_client, namespace)
    seen: list[str] = []

    def reconcile(key: str) -> None:  # a plain function: runs in a thread
        seen.append(key)

    (
        mgr.controller(unique("filtered"))
        .for_("v1", "ConfigMap", predicates=label_selector("pick=yes"))
        .watches("v1", "Secret", lambda secret: [f"{namespace}/from-secret"])
        .complete(reconcile)
    )
    async with running(mgr):
        await rest_client.create(CONFIGMAPS, {"metadata": {"name": "skipped"}}, namespace)
        await rest_client.create(
            CONFIGMAPS, {"metadata": {"name": "picked", "labels": {"pick": "yes"}}}, namespace
        )
        await rest_client.create(SECRETS, {"metadata": {"name": "s"}}, namespace)
        await eventually(lambda: {f"{namespace}/picked", f"{namespace}/from-secret"} <= set(seen))
        assert f"{namespace}/skipped" not in seen


async def test_a_global_event_filter_applies_to_every_watch(
    api_client: Any, rest_client: Any, namespace: str
) -> None:
    mgr = _manager(api_client, namespace)
    seen: list[str] = []

    async def reconcile(key: str) -> None:
        seen.append(key)

    (
        Builder(mgr, unique("global-filter"))
        .for_("v1", "ConfigMap")
        .watches("v1", "Secret", enqueue_mapped(lambda s: [f"{namespace}/{s['metadata']['name']}"]))
        .with_event_filter(label_selector({"team": "a"}))
        .complete(reconcile)
    )
    async with running(mgr):
        await rest_client.create(
            SECRETS, {"metadata": {"name": "b-secret", "labels": {"team": "b"}}}, namespace
        )
        await rest_client.create(
            CONFIGMAPS, {"metadata": {"name": "b-cm", "labels": {"team": "b"}}}, namespace
        )
        await rest_client.create(
            SECRETS, {"metadata": {"name": "a-secret", "labels": {"team": "a"}}}, namespace
        )
        await eventually(lambda: f"{namespace}/a-secret" in seen)
        assert not {f"{namespace}/b-secret", f"{namespace}/b-cm"} & set(seen)


async def test_reconcile_object_receives_a_copy_of_the_cached_object_or_none(
    api_client: Any, rest_client: Any, namespace: str
) -> None:
    mgr = _manager(api_client, namespace)
    got: list[Any] = []

    async def reconcile(obj: Any) -> None:
        got.append(obj)
        if obj is not None:
            obj["data"] = {"mutated": "by the reconcile"}  # a copy: the cache stays as it was

    mgr.controller(unique("by-object")).for_("v1", "ConfigMap").reconcile_object(reconcile)
    await rest_client.create(CONFIGMAPS, {"metadata": {"name": "o"}, "data": {"k": "v"}}, namespace)
    async with running(mgr):
        await eventually(lambda: got and got[0] is not None)
        informer = mgr.factory.informers[CONFIGMAPS]
        assert informer.indexer.get_by_key(f"{namespace}/o")["data"] == {"k": "v"}
        await rest_client.delete(CONFIGMAPS, "o", namespace)
        await eventually(lambda: got[-1] is None)


def test_complete_without_for_is_a_builder_error(api_client: Any) -> None:
    mgr = Manager(api_client, metrics_bind_address="0", handle_signals=False)
    with pytest.raises(BuilderError, match=r"needs for_\(api_version, kind\)"):
        mgr.controller(unique("no-for")).owns("apps/v1", "Deployment").complete(lambda key: None)


def test_two_controllers_with_one_name_is_a_builder_error(api_client: Any) -> None:
    mgr = Manager(api_client, metrics_bind_address="0", handle_signals=False)
    name = unique("twice")
    first = mgr.controller(name).for_("v1", "ConfigMap").complete(lambda key: None)
    with pytest.raises(BuilderError, match="already exists"):
        mgr.controller(name).for_("v1", "Secret").complete(lambda key: None)
    assert first.name == name


def test_misuse_is_refused_at_once(api_client: Any) -> None:
    mgr = Manager(api_client, metrics_bind_address="0", handle_signals=False)
    builder = mgr.controller(unique("misuse")).for_("v1", "ConfigMap")
    with pytest.raises(BuilderError, match="already called"):
        builder.for_("v1", "Secret")
    with pytest.raises(TypeError, match="api_version"):
        builder.owns("", "Secret")
    with pytest.raises(TypeError, match="EventHandler or a function"):
        builder.watches("v1", "Secret", 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="complete"):
        builder.complete("not a function")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="qualified"):
        builder.with_finalizer("nodomain", lambda obj: None)
    builder.complete(lambda key: None)
    with pytest.raises(BuilderError, match="already completed"):
        builder.complete(lambda key: None)


async def test_an_unknown_kind_fails_the_manager_with_no_kind_match(api_client: Any, namespace: str) -> None:
    mgr = _manager(api_client, namespace)
    mgr.controller(unique("unknown")).for_("v1", "ConfigMapp").complete(lambda key: None)
    with pytest.raises(NoKindMatchError, match="ConfigMapp"):
        async with running(mgr):
            raise AssertionError("the Manager must not become ready")


async def test_a_kind_also_asked_for_by_resource_still_reaches_the_controller(
    api_client: Any, rest_client: Any, namespace: str
) -> None:
    mgr = _manager(api_client, namespace)
    by_resource = mgr.informer_for("", "v1", "configmaps")  # the same resource, asked the other way
    seen: list[str] = []

    async def reconcile(key: str) -> None:
        seen.append(key)

    mgr.controller(unique("both-ways")).for_("v1", "ConfigMap").complete(reconcile)
    await rest_client.create(CONFIGMAPS, {"metadata": {"name": "x"}}, namespace)
    async with running(mgr):
        await eventually(lambda: f"{namespace}/x" in seen)
        assert by_resource.has_synced()
