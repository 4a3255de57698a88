"""Finalizers through the Builder: added in one write, cleanup on deletion, removal, retries, restarts."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from pycontroller import FinalizerError, Finalizers, Manager, NotFoundError
from pycontroller.client import GroupVersionResource
from pycontroller.testing import eventually, running

CONFIGMAPS = GroupVersionResource("", "v1", "configmaps")
EVENTS = GroupVersionResource("", "v1", "events")
FINALIZER = "example.com/cleanup"
_seq = itertools.count()


async def _gone(rest_client: Any, namespace: str) -> None:
    try:
        obj = await rest_client.get(CONFIGMAPS, "res", namespace)
    except NotFoundError:
        return
    raise AssertionError(f"still there, finalizers {obj['metadata'].get('finalizers')}")


def _manager(api_client: Any, namespace: str) -> Manager:
    return Manager(api_client, namespace=namespace, metrics_bind_address="0", handle_signals=False)


async def test_the_finalizer_is_added_in_one_write_and_cleanup_runs_before_the_object_goes(
    api_client: Any, rest_client: Any, namespace: str
) -> None:
    created = await rest_client.create(
        CONFIGMAPS, {"metadata": {"name": "res"}, "data": {"a": "1"}}, namespace
    )
    cleaned: list[dict[str, Any]] = []
    reconciled: list[str] = []

    async def cleanup(obj: Any) -> None:
        cleaned.append(obj)

    async def reconcile(key: str) -> None:
        reconciled.append(key)

    mgr = _manager(api_client, namespace)
    (
        mgr.controller(f"fin-{next(_seq)}")
        .for_("v1", "ConfigMap")
        .with_finalizer(FINALIZER, cleanup)
        .complete(reconcile)
    )
    async with running(mgr):

        async def has_finalizer() -> None:
            live = await rest_client.get(CONFIGMAPS, "res", namespace)
            assert live["metadata"].get("finalizers") == [FINALIZER]

        await eventually(has_finalizer)
        live = await rest_client.get(CONFIGMAPS, "res", namespace)
        # exactly one write: the resourceVersion moved once, nothing else changed
        assert live["data"] == {"a": "1"}
        assert int(live["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
        await eventually(lambda: f"{namespace}/res" in reconciled)

        await rest_client.delete(CONFIGMAPS, "res", namespace)

        await eventually(lambda: _gone(rest_client, namespace))
        assert len(cleaned) == 1
        assert cleaned[0]["metadata"]["name"] == "res"
        assert cleaned[0]["metadata"].get("deletionTimestamp")


async def test_a_failing_cleanup_is_retried_and_reported_until_it_succeeds(
    api_client: Any, rest_client: Any, namespace: str
) -> None:
    attempts = 0

    def cleanup(obj: Any) -> None:  # a plain function works too
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise RuntimeError(f"external system down (attempt {attempts})")

    mgr = _manager(api_client, namespace)
    name = f"fin-retry-{next(_seq)}"
    mgr.controller(name).for_("v1", "ConfigMap").with_finalizer(FINALIZER, cleanup).complete(lambda key: None)
    await rest_client.create(CONFIGMAPS, {"metadata": {"name": "res"}}, namespace)
    async with running(mgr):

        async def has_finalizer() -> None:
            live = await rest_client.get(CONFIGMAPS, "res", namespace)
            assert live["metadata"].get("finalizers") == [FINALIZER]

        await eventually(has_finalizer)
        await rest_client.delete(CONFIGMAPS, "res", namespace)

        await eventually(lambda: _gone(rest_client, namespace))
    assert attempts == 3
    events = (await rest_client.list(EVENTS, namespace))["items"]
    warnings = [e for e in events if e.get("reason") == "FinalizerError"]
    assert warnings and warnings[0]["type"] == "Warning"
    assert "external system down" in warnings[0]["message"]
    assert warnings[0]["source"]["component"] == name


async def test_finalizers_survive_a_restart_and_an_object_deleted_while_down_is_cleaned_up(
    api_client: Any, rest_client: Any, namespace: str
) -> None:
    cleaned: list[str] = []
    await rest_client.create(CONFIGMAPS, {"metadata": {"name": "res"}}, namespace)

    def build() -> Manager:
        mgr = _manager(api_client, namespace)
        (
            mgr.controller(f"fin-restart-{next(_seq)}")
            .for_("v1", "ConfigMap")
            .with_finalizer(FINALIZER, lambda obj: cleaned.append(obj["metadata"]["name"]))
            .complete(lambda key: None)
        )
        return mgr

    first = build()
    async with running(first):

        async def has_finalizer() -> None:
            live = await rest_client.get(CONFIGMAPS, "res", namespace)
            assert live["metadata"].get("finalizers") == [FINALIZER]

        await eventually(has_finalizer)
    rv = (await rest_client.get(CONFIGMAPS, "res", namespace))["metadata"]["resourceVersion"]
    second = build()
    async with running(second):
        # already there: a restart adds nothing (no write)
        assert (await rest_client.get(CONFIGMAPS, "res", namespace))["metadata"]["resourceVersion"] == rv
    await rest_client.delete(CONFIGMAPS, "res", namespace)  # deleted while no controller runs
    assert (await rest_client.get(CONFIGMAPS, "res", namespace))["metadata"].get("deletionTimestamp")
    assert cleaned == []
    third = build()
    async with running(third):
        await eventually(lambda: _gone(rest_client, namespace))
    assert cleaned == ["res"]


async def test_finalize_in_memory_adds_then_removes_only_after_success() -> None:
    fins = Finalizers()
    calls: list[str] = []

    async def ok(obj: Any) -> None:
        calls.append("ok")

    def bad(obj: Any) -> None:
        calls.append("bad")
        raise ValueError("nope")

    fins.register("a.io/ok", ok)
    fins.register("a.io/bad", bad)
    with pytest.raises(ValueError, match="already registered"):
        fins.register("a.io/ok", ok)
    obj: dict[str, Any] = {"metadata": {"name": "x"}}
    result = await fins.finalize(obj)
    assert result.updated and not result.deleting
    assert obj["metadata"]["finalizers"] == ["a.io/ok", "a.io/bad"]
    assert not (await fins.finalize(obj)).updated  # idempotent
    obj["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    with pytest.raises(FinalizerError, match=r"a\.io/bad: ValueError: nope") as info:
        await fins.finalize(obj)
    assert info.value.updated
    assert obj["metadata"]["finalizers"] == ["a.io/bad"]  # the one that succeeded is gone
    assert calls == ["ok", "bad"]
