"""Metadata-only informers on both servers: PartialObjectMetadata lists and watches, only metadata cached."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pycontroller.cache.factory import SharedInformerFactory
from pycontroller.client import GroupVersionResource, RestClient
from tests.cache.informer_support import Recorder, eventually

SECRETS = GroupVersionResource("", "v1", "secrets")


@pytest.fixture
async def factory(rest_client: RestClient) -> AsyncIterator[SharedInformerFactory]:
    factory = SharedInformerFactory(rest_client)
    yield factory
    await factory.shutdown()


def secret(name: str, **labels: str) -> dict[str, object]:
    return {"metadata": {"name": name, "labels": labels}, "stringData": {"password": "hunter2" * 20}}


async def test_a_metadata_only_informer_caches_partial_objects_from_list_and_watch(
    factory: SharedInformerFactory, rest_client: RestClient, namespace: str
) -> None:
    listed = await rest_client.create(SECRETS, secret("listed", app="x"), namespace)
    meta = factory.informer_for(SECRETS, namespaces=[namespace], metadata_only=True, transform=None)
    full = factory.informer_for(SECRETS, namespaces=[namespace], transform=None)
    assert meta is not full
    recorder = Recorder()
    meta.add_event_handler(recorder)
    factory.start()
    assert await factory.wait_for_cache_sync(timeout=30) == {SECRETS: True}
    watched = await rest_client.create(SECRETS, secret("watched"), namespace)
    relabelled = await rest_client.patch(SECRETS, "listed", {"metadata": {"labels": {"app": "y"}}}, namespace)
    await eventually(lambda: ("update", "listed") in {e[:2] for e in recorder.events}, timeout=30)
    await eventually(lambda: len(full.indexer) == 2, timeout=30)

    cached = {o["metadata"]["name"]: o for o in meta.indexer.list()}
    assert sorted(cached) == ["listed", "watched"]
    for obj in cached.values():
        assert set(obj) == {"kind", "apiVersion", "metadata"}
        assert (obj["kind"], obj["apiVersion"]) == ("PartialObjectMetadata", "meta.k8s.io/v1")
    assert cached["listed"]["metadata"] == relabelled["metadata"]
    assert cached["watched"]["metadata"] == watched["metadata"]
    assert listed["metadata"]["uid"] == cached["listed"]["metadata"]["uid"]
    # the lister filters metadata-only objects by label like full ones
    assert [o["metadata"]["name"] for o in meta.lister().namespace(namespace).list("app=y")] == ["listed"]
    assert all("data" in o for o in full.indexer.list())
    assert [e[0] for e in recorder.events if e[1] == "listed"] == ["add", "update"]
