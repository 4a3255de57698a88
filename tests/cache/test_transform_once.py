"""The informer's transform runs once per object, as soon as the object is decoded: before it is
queued (so an initial list is never held whole untransformed), for listed and watched objects alike."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import orjson
import pytest

from pycontroller.cache.handlers import ResourceEventHandlerFuncs
from pycontroller.cache.informer import SharedIndexInformer
from pycontroller.cache.list_decode import SKIP, ListDecoder
from pycontroller.cache.reflector import Reflector
from pycontroller.client import GroupVersionResource, RestClient
from tests.cache.informer_support import eventually

CONFIGMAPS = GroupVersionResource("", "v1", "configmaps")


class CountingTransform:
    """Counts its calls per name and marks what it returns, refusing an already marked object."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def __call__(self, obj: Any) -> Any:
        meta = obj["metadata"]
        assert "transformed" not in (meta.get("annotations") or {}), "transformed twice"
        self.calls[meta["name"]] += 1
        return {**obj, "metadata": {**meta, "annotations": {"transformed": "yes"}}}


def transformed(obj: Any) -> bool:
    return bool(obj["metadata"].get("annotations") == {"transformed": "yes"})


class RecordingStore:
    """A reflector store that records every object handed to it (what would be queued)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, Any]] = []
        self.replaced = asyncio.Event()

    def add(self, obj: Any) -> None:
        self.received.append(("add", obj))

    def update(self, obj: Any) -> None:
        self.received.append(("update", obj))

    def delete(self, obj: Any) -> None:
        self.received.append(("delete", obj))

    def replace(self, objs: list[Any], resource_version: str) -> None:
        self.received.extend(("replace", obj) for obj in objs)
        self.replaced.set()

    def resync(self) -> None:
        pass


async def create(rc: RestClient, namespace: str, name: str) -> None:
    await rc.create(CONFIGMAPS, {"metadata": {"name": name}, "data": {"k": name}}, namespace)


async def test_the_reflector_transforms_every_object_once_before_handing_it_to_the_store(
    rest_client: RestClient, namespace: str
) -> None:
    for i in range(5):
        await create(rest_client, namespace, f"cm-{i}")
    transform = CountingTransform()
    store = RecordingStore()
    # page_size=2: the list comes in three pages.
    reflector = Reflector(
        rest_client, CONFIGMAPS, store, namespace=namespace, transform=transform, page_size=2
    )
    task = asyncio.create_task(reflector.run())
    try:
        await asyncio.wait_for(store.replaced.wait(), 30)
        await create(rest_client, namespace, "watched")
        await rest_client.patch(CONFIGMAPS, "cm-0", {"data": {"k": "new"}}, namespace)
        await rest_client.delete(CONFIGMAPS, "cm-1", namespace)
        await eventually(lambda: len(store.received) >= 8, timeout=30)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert [action for action, _ in store.received] == ["replace"] * 5 + ["add", "update", "delete"]
    assert all(transformed(obj) for _, obj in store.received)
    # Once per object: each listed object once, then once per watch event.
    assert transform.calls == Counter({"cm-0": 2, "cm-1": 2, "cm-2": 1, "cm-3": 1, "cm-4": 1, "watched": 1})
    assert all(obj["kind"] == "ConfigMap" for action, obj in store.received if action == "replace")


@pytest.mark.parametrize("in_order", [True, False], ids=["RealFIFO", "DeltaFIFO"])
async def test_the_informer_transforms_once_and_handlers_and_cache_see_transformed_objects(
    rest_client: RestClient, namespace: str, in_order: bool
) -> None:
    for i in range(3):
        await create(rest_client, namespace, f"cm-{i}")
    transform = CountingTransform()
    informer = SharedIndexInformer(rest_client, CONFIGMAPS, namespace=namespace, in_order=in_order)
    informer.set_transform(transform)
    seen: list[tuple[str, Any]] = []
    informer.add_event_handler(
        ResourceEventHandlerFuncs(
            on_add=lambda obj: seen.append(("add", obj)),
            on_update=lambda old, new: seen.append(("update", new)),
            on_delete=lambda obj: seen.append(("delete", obj)),
        )
    )
    informer.start()
    try:
        assert await informer.wait_for_sync(timeout=30)
        await rest_client.patch(CONFIGMAPS, "cm-0", {"data": {"k": "new"}}, namespace)
        await rest_client.delete(CONFIGMAPS, "cm-1", namespace)
        await eventually(lambda: len(seen) >= 5, timeout=30)
    finally:
        await informer.stop()
    assert [action for action, _ in seen] == ["add"] * 3 + ["update", "delete"]
    assert all(transformed(obj) for _, obj in seen)
    assert all(transformed(obj) for obj in informer.indexer.list())
    assert transform.calls == Counter({"cm-0": 2, "cm-1": 2, "cm-2": 1})


def test_the_list_decoder_hands_each_item_to_the_hook_as_soon_as_it_is_decoded() -> None:
    items = [{"metadata": {"name": f"i{i}"}, "data": {"k": "x" * 50}} for i in range(4)]
    body = orjson.dumps({"kind": "ConfigMapList", "apiVersion": "v1", "metadata": {}, "items": items})
    hooked: list[tuple[str, str]] = []

    def hook(item: Any, list_kind: str) -> Any:
        hooked.append((item["metadata"]["name"], list_kind))
        return SKIP if item["metadata"]["name"] == "i2" else {"slim": item["metadata"]["name"]}

    decoder = ListDecoder("test", hook)
    # Feed up to the middle of the third item: the first two are decoded and hooked already.
    cut = body.index(b'"i2"')
    decoder.feed(body[:cut])
    assert hooked == [("i0", "ConfigMapList"), ("i1", "ConfigMapList")]
    decoder.feed(body[cut:])
    result = decoder.finish()
    assert [name for name, _ in hooked] == ["i0", "i1", "i2", "i3"]
    assert result["items"] == [{"slim": "i0"}, {"slim": "i1"}, {"slim": "i3"}]


def test_the_hook_also_runs_when_the_decoder_falls_back_to_one_whole_decode() -> None:
    # Whitespace between items is not the compact shape the decoder splits: it decodes the whole body.
    body = b'{"kind":"ConfigMapList","items":[ {"metadata":{"name":"a"}} , {"metadata":{"name":"b"}} ]}'
    decoder = ListDecoder("test", lambda item, kind: {"name": item["metadata"]["name"], "kind": kind})
    decoder.feed(body)
    assert decoder.finish()["items"] == [
        {"name": "a", "kind": "ConfigMapList"},
        {"name": "b", "kind": "ConfigMapList"},
    ]
