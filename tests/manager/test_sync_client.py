"""SyncClient: a plain-function reconciler writes through the Manager's loop, on both servers."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from pycontroller import Controller, Manager, NotFoundError, OperationResult, retry_on_conflict
from pycontroller.cache.keys import split_meta_namespace_key
from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.sync_client import BlockingCallOnLoopError, SyncClient
from tests.conformance._support import configmap, unique
from tests.controller.conftest import until

CONFIGMAPS = GroupVersionResource("", "v1", "configmaps")


async def test_a_plain_reconciler_reads_and_writes_through_the_sync_client(
    api_client: Any, rest_client: RestClient, namespace: str
) -> None:
    mgr = Manager(api_client, namespace=namespace, metrics_bind_address="0", handle_signals=False)
    sources = mgr.informer_for("v1", "ConfigMap")
    outcomes: dict[str, Any] = {}
    threads: set[str] = set()

    def reconcile(key: str) -> None:
        threads.add(threading.current_thread().name)
        sync = mgr.client.sync  # first asked for here, in a worker thread: it runs on the Manager's loop
        ns, name = split_meta_namespace_key(key)
        if not name.startswith("src-"):
            return
        source = sync.get(("v1", "ConfigMap"), name, ns)
        copy = configmap(name.replace("src-", "copy-"), ns)
        result = sync.create_or_patch(copy, lambda o: o.update(data=dict(source.get("data") or {})))

        def label_source() -> dict[str, Any]:
            fresh = sync.get(CONFIGMAPS, name, ns)
            fresh.setdefault("metadata", {}).setdefault("labels", {})["copied"] = "yes"
            return sync.replace(fresh)

        retry_on_conflict(label_source)
        try:
            sync.get(CONFIGMAPS, "never-there", ns)
        except NotFoundError as exc:  # the typed error, raised in this thread
            outcomes.setdefault(key, (result, exc.status))  # the label write reconciles it again

    ctl = Controller(unique("plain"), reconcile, max_concurrent_reconciles=2)
    ctl.watch(sources)
    mgr.add(ctl)
    await rest_client.create(configmap("src-a", namespace, data={"k": "v"}))
    run = asyncio.create_task(mgr.run())
    try:
        await until(lambda: f"{namespace}/src-a" in outcomes, timeout=15)
    finally:
        mgr.request_shutdown()
        await asyncio.wait_for(run, 15)
    assert outcomes[f"{namespace}/src-a"] == (OperationResult.CREATED, 404)
    assert all(t.startswith("reconcile-") for t in threads)
    copy = await rest_client.get(CONFIGMAPS, "copy-a", namespace)
    assert copy["data"] == {"k": "v"}
    source = await rest_client.get(CONFIGMAPS, "src-a", namespace)
    assert source["metadata"]["labels"] == {"copied": "yes"}


async def test_a_blocking_call_on_the_loop_thread_fails_instead_of_deadlocking(
    rest_client: RestClient,
) -> None:
    sync = SyncClient(rest_client)
    with pytest.raises(BlockingCallOnLoopError, match="await the RestClient"):
        sync.get(CONFIGMAPS, "x", "default")


async def test_from_a_worker_thread_the_calls_return_and_raise_like_the_async_ones(
    rest_client: RestClient, namespace: str
) -> None:
    sync = SyncClient(rest_client)

    def work() -> tuple[str, int]:
        created = sync.create(configmap("t", namespace))
        try:
            sync.create(configmap("t", namespace))
        except Exception as exc:  # AlreadyExistsError, unchanged
            return created["metadata"]["name"], getattr(exc, "status", 0)
        return created["metadata"]["name"], 0

    assert await asyncio.to_thread(work) == ("t", 409)
