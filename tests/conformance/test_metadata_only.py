"""Metadata-only answers (``Accept: ...;as=PartialObjectMetadata[List];g=meta.k8s.io;v=v1``).

What metadata-only informers (and controller-runtime's metadata client) rely on, compared on both
servers: the list and item shapes, the whole ObjectMeta of each object, paging, selectors, watch
events (bookmarks included) and the 406 answers to mismatched requests.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from pycontroller.client import RestClient
from pycontroller.errors import ApiError

from ._support import CONFIGMAPS, DEPLOYMENTS, configmap, deployment

LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
ITEM = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"


async def fetch(rc: RestClient, path: str, accept: str, **query: Any) -> Any:
    async with rc.stream(path, query=query, accept=accept) as resp:
        assert resp.headers["Content-Type"].startswith("application/json")
        return orjson.loads(await resp.read())


async def test_a_metadata_list_carries_each_objects_whole_metadata(
    rest_client: RestClient, namespace: str
) -> None:
    full = [
        await rest_client.create(
            CONFIGMAPS,
            configmap(name, namespace, data={"big": "x" * 100}, labels={"app": name}),
        )
        for name in ("a", "b")
    ]
    body = await fetch(rest_client, CONFIGMAPS.path(namespace), LIST)
    assert body["kind"] == "PartialObjectMetadataList"
    assert body["apiVersion"] == "meta.k8s.io/v1"
    assert set(body["metadata"]) == {"resourceVersion"}
    assert [set(item) for item in body["items"]] == [{"kind", "apiVersion", "metadata"}] * 2
    for item, obj in zip(body["items"], full, strict=True):
        assert item["kind"] == "PartialObjectMetadata" and item["apiVersion"] == "meta.k8s.io/v1"
        assert item["metadata"] == obj["metadata"]


async def test_a_metadata_list_pages_and_filters_like_a_full_list(
    rest_client: RestClient, namespace: str
) -> None:
    for name in ("a", "b", "c"):
        await rest_client.create(CONFIGMAPS, configmap(name, namespace, labels={"odd": str(name != "b")}))
    first = await fetch(rest_client, CONFIGMAPS.path(namespace), LIST, limit=2)
    assert [i["metadata"]["name"] for i in first["items"]] == ["a", "b"]
    assert first["metadata"]["continue"]
    rest = await fetch(
        rest_client, CONFIGMAPS.path(namespace), LIST, limit=2, **{"continue": first["metadata"]["continue"]}
    )
    assert [i["metadata"]["name"] for i in rest["items"]] == ["c"]
    assert rest["kind"] == "PartialObjectMetadataList"
    selected = await fetch(rest_client, CONFIGMAPS.path(namespace), LIST, labelSelector="odd=True")
    assert [i["metadata"]["name"] for i in selected["items"]] == ["a", "c"]


async def test_v1beta1_metadata_is_served_too(rest_client: RestClient, namespace: str) -> None:
    await rest_client.create(CONFIGMAPS, configmap("a", namespace))
    body = await fetch(rest_client, CONFIGMAPS.path(namespace), LIST.replace("v=v1", "v=v1beta1"))
    assert body["apiVersion"] == "meta.k8s.io/v1beta1"
    assert body["items"][0]["apiVersion"] == "meta.k8s.io/v1beta1"


async def test_a_metadata_get_answers_one_partial_object(rest_client: RestClient, namespace: str) -> None:
    created = await rest_client.create(DEPLOYMENTS, deployment("web", namespace))
    body = await fetch(rest_client, DEPLOYMENTS.path(namespace, "web"), ITEM)
    assert body == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": created["metadata"],
    }


@pytest.mark.parametrize(
    ("target", "accept", "message"),
    [
        (
            "list",
            ITEM,
            "you requested PartialObjectMetadata, but the requested object is a list (*core.ConfigMapList)",
        ),
        (
            "object",
            LIST,
            "you requested PartialObjectMetadataList, but the requested object is not a list (*core.ConfigMap)",
        ),
        (
            "list",
            "application/json;as=Nonsense;g=meta.k8s.io;v=v1",
            "only the following media types are accepted: application/json, application/yaml, "
            "application/vnd.kubernetes.protobuf",
        ),
    ],
)
async def test_a_mismatched_metadata_request_is_not_acceptable(
    rest_client: RestClient, namespace: str, target: str, accept: str, message: str
) -> None:
    await rest_client.create(CONFIGMAPS, configmap("a", namespace))
    path = CONFIGMAPS.path(namespace, "a" if target == "object" else None)
    with pytest.raises(ApiError) as caught:
        await fetch(rest_client, path, accept)
    assert caught.value.status == 406
    assert caught.value.reason == "NotAcceptable"
    assert caught.value.message == message


async def test_metadata_watch_events_carry_partial_objects(rest_client: RestClient, namespace: str) -> None:
    first = await rest_client.create(CONFIGMAPS, configmap("a", namespace, data={"k": "1"}))
    rv = first["metadata"]["resourceVersion"]
    updated = await rest_client.patch(CONFIGMAPS, "a", {"data": {"k": "2"}}, namespace)
    await rest_client.delete(CONFIGMAPS, "a", namespace)
    query = {"watch": "true", "resourceVersion": rv, "timeoutSeconds": "2"}
    async with rest_client.stream(CONFIGMAPS.path(namespace), query=query, accept=ITEM) as resp:
        events = []
        async for line in resp.content:
            event = orjson.loads(line)
            events.append(event)
            if event["type"] == "DELETED":
                break
    assert [e["type"] for e in events] == ["MODIFIED", "DELETED"]
    for event in events:
        assert set(event["object"]) == {"kind", "apiVersion", "metadata"}
        assert event["object"]["kind"] == "PartialObjectMetadata"
        assert event["object"]["apiVersion"] == "meta.k8s.io/v1"
    assert events[0]["object"]["metadata"] == updated["metadata"]
