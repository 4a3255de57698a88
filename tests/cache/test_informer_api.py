"""Shared informers against an API server (the in-memory fake, and envtest when its assets exist)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pycontroller.cache.factory import SharedInformerFactory
from pycontroller.cache.handlers import ResourceEventHandlerFuncs
from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.errors import NotFoundError, ShutDownError
from tests.cache.informer_support import Recorder, eventually

CONFIGMAPS = GroupVersionResource("", "v1", "configmaps")


def configmap(name: str, namespace: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": {"k": name},
    }


@pytest.fixture
async def factory(rest_client: RestClient, namespace: str) -> AsyncIterator[SharedInformerFactory]:
    factory = SharedInformerFactory(rest_client, namespace=namespace)
    yield factory
    await factory.shutdown()


async def test_one_informer_per_resource_lists_watches_and_serves_listers(
    factory: SharedInformerFactory, rest_client: RestClient, namespace: str
) -> None:
    for i in range(3):
        await rest_client.create(CONFIGMAPS, configmap(f"pre-{i}", namespace, app="web" if i else "db"))
    informer = factory.informer_for("", "v1", "configmaps")
    assert factory.informer_for(CONFIGMAPS) is informer
    recorder = Recorder()
    registration = informer.add_event_handler(recorder)
    factory.start()
    assert await factory.wait_for_cache_sync(timeout=30) == {CONFIGMAPS: True}
    await eventually(registration.has_synced, timeout=30)
    assert sorted(e[1] for e in recorder.events) == ["pre-0", "pre-1", "pre-2"]
    assert all(e[0] == "add" and e[3] is True for e in recorder.events)
    assert informer.last_sync_resource_version() != ""

    created = await rest_client.create(CONFIGMAPS, configmap("live", namespace, app="web"))
    updated = dict(created, data={"k": "changed"})
    await rest_client.replace(CONFIGMAPS, updated)
    await rest_client.delete(CONFIGMAPS, "pre-0", namespace)
    await eventually(lambda: ("delete", "pre-0") in recorder.events, timeout=30)
    live_events = [e[0] for e in recorder.events if e[1] == "live"]
    assert live_events[:1] == ["add"]
    await eventually(
        lambda: [e[0] for e in recorder.events if e[1] == "live"] == ["add", "update"], timeout=30
    )

    lister = informer.lister().namespace(namespace)
    assert sorted(o["metadata"]["name"] for o in lister.list("app=web")) == ["live", "pre-1", "pre-2"]
    assert lister.get("live")["data"] == {"k": "changed"}
    with pytest.raises(NotFoundError, match='configmaps "pre-0" not found'):
        lister.get("pre-0")


async def test_a_handler_added_after_sync_is_replayed_the_cache(
    factory: SharedInformerFactory, rest_client: RestClient, namespace: str
) -> None:
    await rest_client.create(CONFIGMAPS, configmap("a", namespace))
    informer = factory.informer_for(CONFIGMAPS)
    factory.start()
    assert (await factory.wait_for_cache_sync(timeout=30))[CONFIGMAPS]
    seen: list[tuple[str, bool]] = []

    async def on_add(obj: Any, initial: bool) -> None:
        seen.append((obj["metadata"]["name"], initial))

    registration = informer.add_event_handler(ResourceEventHandlerFuncs(on_add=on_add))
    await eventually(registration.has_synced, timeout=30)
    assert seen == [("a", True)]


async def test_shutdown_stops_every_informer_and_refuses_new_work(
    rest_client: RestClient, namespace: str
) -> None:
    factory = SharedInformerFactory(rest_client, namespace=namespace)
    informer = factory.informer_for(CONFIGMAPS)
    factory.start()
    assert (await factory.wait_for_cache_sync(timeout=30))[CONFIGMAPS]
    await factory.shutdown()
    assert informer.is_stopped
    await asyncio.sleep(0)
    with pytest.raises(ShutDownError):
        factory.informer_for(CONFIGMAPS)
    with pytest.raises(ShutDownError):
        factory.start()


async def test_wait_for_cache_sync_reports_only_started_informers(
    factory: SharedInformerFactory,
) -> None:
    factory.informer_for(CONFIGMAPS)
    assert await factory.wait_for_cache_sync(timeout=1) == {}


async def test_reflector_options_reach_the_reflector_so_a_streaming_list_can_be_asked_for(
    rest_client: RestClient, namespace: str
) -> None:
    await rest_client.create(CONFIGMAPS, configmap("streamed", namespace))
    factory = SharedInformerFactory(
        rest_client, namespace=namespace, reflector_options={"use_streaming_list": True}
    )
    try:
        informer = factory.informer_for(CONFIGMAPS)
        factory.start()
        # The fake serves the streaming list; the 1.20 server refuses it and the reflector lists.
        assert (await factory.wait_for_cache_sync(timeout=30))[CONFIGMAPS]
        assert informer.lister().namespace(namespace).get("streamed")["data"] == {"k": "streamed"}
        assert informer._reflector is not None and informer._reflector.use_streaming_list  # type: ignore[attr-defined]
    finally:
        await factory.shutdown()


async def test_the_factory_accepts_a_kubernetes_asyncio_api_client(
    api_client: Any, rest_client: RestClient, namespace: str
) -> None:
    await rest_client.create(CONFIGMAPS, configmap("typed-client", namespace))
    factory = SharedInformerFactory(api_client, namespace=namespace)
    try:
        informer = factory.informer_for("", "v1", "configmaps")
        factory.start()
        assert (await factory.wait_for_cache_sync(timeout=30))[CONFIGMAPS]
        assert informer.indexer.get_by_key(f"{namespace}/typed-client") is not None
    finally:
        await factory.shutdown()
