"""Informers asked for by kind: resolved through the mapper, failing fast, or waiting for a CRD."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from pycontroller import Controller, Lister, Manager, NoKindMatchError
from pycontroller.client import GroupVersionResource, RestClient
from tests.conformance._support import crd_manifest, create_crd, delete_crd, unique
from tests.controller.conftest import until

CONFIGMAPS = GroupVersionResource("", "v1", "configmaps")


def _manager(api_client: Any, namespace: str | None = None) -> Manager:
    return Manager(api_client, namespace=namespace, metrics_bind_address="0", handle_signals=False)


async def test_an_informer_asked_for_by_kind_lists_its_resource_and_is_the_shared_one(
    api_client: Any, rest_client: RestClient, namespace: str
) -> None:
    mgr = _manager(api_client, namespace)
    informer = mgr.informer_for("v1", "ConfigMap")
    lister = Lister(informer.indexer)  # built before anything is resolved
    await rest_client.create(CONFIGMAPS, {"metadata": {"name": "one"}}, namespace)
    run = asyncio.create_task(mgr.run())
    try:
        await until(lambda: informer.has_synced(), timeout=15)
        assert [o["metadata"]["name"] for o in lister.list()] == ["one"]
        assert informer.gvr == CONFIGMAPS
        assert mgr.informer_for("", "v1", "configmaps") is informer
        assert mgr.informer_for("v1", "cm") is informer
    finally:
        mgr.request_shutdown()
        await asyncio.wait_for(run, 15)


@pytest.mark.parametrize(
    "args",
    [("v1", "ConfigMapz"), ("", "v1", "configmapz"), ("nothere.example.com/v1", "Widget")],
    ids=["kind", "resource", "group"],
)
async def test_an_unserved_resource_fails_run_fast_naming_it(api_client: Any, args: tuple[str, ...]) -> None:
    mgr = _manager(api_client)
    mgr.informer_for(*args)
    async with asyncio.timeout(5):  # a deadline, not a measurement: the sync timeout is 120 s
        with pytest.raises(NoKindMatchError) as caught:
            await mgr.run()
    assert args[-1] in str(caught.value)
    assert "is the CustomResourceDefinition installed?" in str(caught.value)


async def test_wait_for_crd_waits_logging_once_then_syncs_and_reconciles(
    api_client: Any, rest_client: RestClient, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    group = f"{unique('w')}.example.com"
    mgr = _manager(api_client, namespace)
    widgets = mgr.informer_for(f"{group}/v1", "Widget", wait_for_crd=True)
    configmaps = mgr.informer_for("v1", "ConfigMap")
    seen: list[str] = []
    ctl = Controller(unique("waiter"), lambda key: seen.append(key))
    ctl.watch(widgets)
    mgr.add(ctl)
    caplog.set_level(logging.INFO, logger="pycontroller.manager")
    run = asyncio.create_task(mgr.run())
    manifest = crd_manifest(group, "Widget")
    try:
        # The other caches do not wait for the missing CRD.
        await until(lambda: configmaps.has_synced(), timeout=15)
        waiting = [r for r in caplog.records if "wait_for_crd" in r.getMessage()]
        assert len(waiting) == 1 and waiting[0].levelno == logging.INFO
        assert not run.done() and not widgets.is_started
        gvr = await create_crd(rest_client, manifest)
        await rest_client.create(
            gvr, {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w"}}, namespace
        )
        await until(lambda: f"{namespace}/w" in seen, timeout=30)
        assert widgets.gvr == GroupVersionResource(group, "v1", "widgets")
        assert len([r for r in caplog.records if "wait_for_crd" in r.getMessage()]) == 1
    finally:
        mgr.request_shutdown()
        await asyncio.wait_for(run, 15)
        await delete_crd(rest_client, manifest)


async def test_an_informer_asked_for_by_kind_after_start_is_resolved_and_started(
    api_client: Any, namespace: str
) -> None:
    mgr = _manager(api_client, namespace)
    configmaps = mgr.informer_for("v1", "ConfigMap")
    run = asyncio.create_task(mgr.run())
    try:
        await until(lambda: configmaps.has_synced(), timeout=15)
        leases = mgr.informer_for("coordination.k8s.io/v1", "Lease")  # a group not read yet
        await until(lambda: leases.has_synced(), timeout=15)
        assert leases.gvr == GroupVersionResource("coordination.k8s.io", "v1", "leases")
        assert mgr.informer_for("coordination.k8s.io", "v1", "leases") is leases
    finally:
        mgr.request_shutdown()
        await asyncio.wait_for(run, 15)


async def test_an_unserved_resource_asked_for_after_start_is_reported_naming_it(
    api_client: Any, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    mgr = _manager(api_client, namespace)
    configmaps = mgr.informer_for("v1", "ConfigMap")
    run = asyncio.create_task(mgr.run())
    try:
        await until(lambda: configmaps.has_synced(), timeout=15)
        mgr.informer_for("", "v1", "configmapz")
        await until(
            lambda: any(
                "configmapz" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records
            ),
            timeout=15,
        )
        assert not run.done()
    finally:
        mgr.request_shutdown()
        await asyncio.wait_for(run, 15)


async def test_one_resource_asked_for_by_kind_and_by_resource_before_start_syncs_both_with_a_warning(
    api_client: Any, rest_client: RestClient, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    mgr = _manager(api_client, namespace)
    by_kind = mgr.informer_for("v1", "ConfigMap")
    by_resource = mgr.informer_for("", "v1", "configmaps")
    await rest_client.create(CONFIGMAPS, {"metadata": {"name": "both"}}, namespace)
    run = asyncio.create_task(mgr.run())
    try:
        await until(lambda: by_kind.has_synced() and by_resource.has_synced(), timeout=15)
        for informer in (by_kind, by_resource):
            assert informer.indexer.get_by_key(f"{namespace}/both") is not None
        assert any("ask for it one way" in r.getMessage() for r in caplog.records)
    finally:
        mgr.request_shutdown()
        await asyncio.wait_for(run, 15)
    assert by_kind.is_stopped and by_resource.is_stopped
