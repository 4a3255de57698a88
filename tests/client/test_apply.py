"""Server-side apply through RestClient.apply / apply_status, on both servers.

The in-memory server gets server-side apply from the ``ssa`` stream; until it has it, the fake
cases are expected failures (they run, and start passing once apply lands).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from pycontroller import ApiError, ConflictError
from pycontroller.client import GroupVersionResource, RestClient
from tests.conformance._support import crd_manifest, rv, temporary_crd, unique

CONFIGMAPS = GroupVersionResource("", "v1", "configmaps")


def desired(namespace: str, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cfg", "namespace": namespace},
        "data": data,
    }


@pytest_asyncio.fixture
async def applying(rest_client: RestClient, namespace: str) -> AsyncIterator[RestClient]:
    """The client, after checking the server has server-side apply (xfail on a fake without it)."""
    try:
        await rest_client.apply(desired(namespace), field_manager="probe", dry_run=True)
    except ApiError as exc:
        if exc.status == 415:
            pytest.xfail("this in-memory server has no server-side apply yet (the ssa stream adds it)")
        raise
    yield rest_client


async def test_apply_creates_then_an_unchanged_apply_writes_nothing(
    applying: RestClient, namespace: str
) -> None:
    created = await applying.apply(desired(namespace, a="1"), field_manager="ctl")
    assert created["data"] == {"a": "1"}
    managers = {(m["manager"], m["operation"]) for m in created["metadata"]["managedFields"]}
    assert ("ctl", "Apply") in managers
    again = await applying.apply(desired(namespace, a="1"), field_manager="ctl")
    assert rv(again) == rv(created)


async def test_a_field_owned_by_another_manager_conflicts_unless_forced(
    applying: RestClient, namespace: str
) -> None:
    await applying.apply(desired(namespace, a="1"), field_manager="first")
    with pytest.raises(ConflictError) as caught:
        await applying.apply(desired(namespace, a="2"), field_manager="second")
    assert caught.value.reason == "Conflict"
    assert any(c.get("field") == ".data.a" for c in caught.value.causes), caught.value.causes
    forced = await applying.apply(desired(namespace, a="2"), field_manager="second", force=True)
    assert forced["data"] == {"a": "2"}
    # The same value from another manager is shared ownership, not a conflict.
    shared = await applying.apply(desired(namespace, a="2"), field_manager="third")
    assert shared["data"] == {"a": "2"}


async def test_apply_dry_run_stores_nothing(applying: RestClient, namespace: str) -> None:
    preview = await applying.apply(desired(namespace, a="1"), field_manager="ctl", dry_run=True)
    assert preview["data"] == {"a": "1"}
    with pytest.raises(ApiError) as caught:
        await applying.get(CONFIGMAPS, "cfg", namespace)
    assert caught.value.status == 404


async def test_apply_status_writes_the_status_subresource(applying: RestClient, namespace: str) -> None:
    group = f"{unique('ap')}.example.com"
    async with temporary_crd(applying, crd_manifest(group, "Widget")):
        base = {
            "apiVersion": f"{group}/v1",
            "kind": "Widget",
            "metadata": {"name": "w", "namespace": namespace},
        }
        await applying.apply({**base, "spec": {"size": 1}}, field_manager="ctl")
        status = await applying.apply_status({**base, "status": {"phase": "Ready"}}, field_manager="ctl")
        assert status["status"] == {"phase": "Ready"} and status["spec"] == {"size": 1}
        ignored = await applying.apply(
            {**base, "spec": {"size": 1}, "status": {"phase": "Lost"}}, field_manager="ctl"
        )
        assert ignored["status"] == {"phase": "Ready"}  # the main resource ignores status
