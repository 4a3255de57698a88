"""A Manager with a real shared informer on the API servers: events become reconciles of their keys."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pycontroller.client import GroupVersionResource
from pycontroller.controller import Controller
from pycontroller.manager import Manager
from pycontroller.predicate import resource_version_changed
from tests.controller.conftest import until

pytest.importorskip("pycontroller.cache.factory", reason="the shared informer factory has not landed")

CONFIGMAPS = GroupVersionResource("", "v1", "configmaps")


async def test_creates_updates_and_deletes_reach_reconcile_and_the_cache_answers_reads(
    api_client: Any, rest_client: Any, namespace: str, name: str
) -> None:
    mgr = Manager(api_client, namespace=namespace, metrics_bind_address="0", handle_signals=False)
    informer = mgr.informer_for("", "v1", "configmaps")
    seen: dict[str, list[Any]] = {}

    async def reconcile(key: str) -> None:
        obj = informer.indexer.get_by_key(key)
        seen.setdefault(key, []).append(None if obj is None else obj.get("data"))

    ctl = Controller(name, reconcile, max_concurrent_reconciles=4)
    ctl.watch(informer, predicates=[resource_version_changed])
    mgr.add(ctl)
    for i in range(3):
        await rest_client.create(
            CONFIGMAPS, {"metadata": {"name": f"pre-{i}"}, "data": {"v": "0"}}, namespace
        )
    run = asyncio.create_task(mgr.run())
    await until(lambda: all(f"{namespace}/pre-{i}" in seen for i in range(3)), timeout=15)
    await rest_client.create(CONFIGMAPS, {"metadata": {"name": "late"}, "data": {"v": "1"}}, namespace)
    await until(lambda: seen.get(f"{namespace}/late") == [{"v": "1"}], timeout=15)
    await rest_client.patch(CONFIGMAPS, "late", {"data": {"v": "2"}}, namespace)
    await until(lambda: seen[f"{namespace}/late"][-1] == {"v": "2"}, timeout=15)
    await rest_client.delete(CONFIGMAPS, "late", namespace)
    await until(lambda: seen[f"{namespace}/late"][-1] is None, timeout=15)
    mgr.request_shutdown()
    await asyncio.wait_for(run, 15)
    assert ctl._metrics.errors == 0


async def test_the_cache_metrics_are_served_while_the_manager_runs_and_withdrawn_after(
    api_client: Any, rest_client: Any, namespace: str, name: str
) -> None:
    import aiohttp

    mgr = Manager(api_client, namespace=namespace, metrics_bind_address="127.0.0.1:0", handle_signals=False)
    informer = mgr.informer_for("", "v1", "configmaps")
    ctl = Controller(name, lambda key: None)
    ctl.watch(informer)
    mgr.add(ctl)
    for i in range(2):
        await rest_client.create(CONFIGMAPS, {"metadata": {"name": f"m-{i}"}}, namespace)
    run = asyncio.create_task(mgr.run())
    await until(lambda: mgr.metrics_port is not None and informer.has_synced(), timeout=15)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{mgr.metrics_port}/metrics") as resp:
            body = await resp.text()
    lines = set(body.splitlines())
    resource = informer.name
    assert f'pycontroller_informer_cached_objects{{resource="{resource}"}} 2.0' in lines
    assert f'pycontroller_informer_synced{{resource="{resource}"}} 1.0' in lines
    assert f'pycontroller_reflector_lists_total{{resource="{resource}"}} 1.0' in lines
    assert f'pycontroller_reflector_bad_input_total{{resource="{resource}"}} 0.0' in lines
    mgr.request_shutdown()
    await asyncio.wait_for(run, 15)
    from prometheus_client import REGISTRY, generate_latest

    assert f'resource="{resource}"'.encode() not in generate_latest(REGISTRY)
