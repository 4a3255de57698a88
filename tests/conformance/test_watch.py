"""Watch: newline-delimited JSON events over a chunked HTTP response.

Every read has a deadline (see ``_support.Watch``), so a server that stops talking fails the test
instead of hanging it.
"""

from __future__ import annotations

import time

import pytest

from pycontroller.client import RestClient

from ._support import CONFIGMAPS, Watch, compact, configmap, crd_manifest, rv, summary, temporary_crd, unique


async def test_a_watch_without_resource_version_starts_with_the_current_state(
    rest_client: RestClient, namespace: str
) -> None:
    await rest_client.create(CONFIGMAPS, configmap("a", namespace))
    await rest_client.create(CONFIGMAPS, configmap("b", namespace))
    async with Watch(rest_client, CONFIGMAPS.path(namespace)) as watch:
        assert watch.response.status == 200
        assert watch.response.headers["Content-Type"].startswith("application/json")
        initial = await watch.take(2)
        assert sorted(summary(initial)) == [("ADDED", "a"), ("ADDED", "b")]
        for event in initial:
            assert event["object"]["kind"] == "ConfigMap"
            assert event["object"]["apiVersion"] == "v1"
        await rest_client.create(CONFIGMAPS, configmap("c", namespace))
        assert summary(await watch.take(1)) == [("ADDED", "c")]


async def test_a_watch_from_zero_also_starts_with_synthetic_adds(
    rest_client: RestClient, namespace: str
) -> None:
    created = await rest_client.create(CONFIGMAPS, configmap("a", namespace))
    await rest_client.patch(CONFIGMAPS, "a", {"data": {"k": "v"}}, namespace)
    async with Watch(rest_client, CONFIGMAPS.path(namespace), resourceVersion="0") as watch:
        [event] = await watch.take(1)
        assert summary([event]) == [("ADDED", "a")]
        assert event["object"]["data"] == {"k": "v"}  # the current state, not history
        assert rv(event["object"]) > rv(created)


async def test_a_watch_from_a_resource_version_replays_what_happened_after_it(
    rest_client: RestClient, namespace: str
) -> None:
    start = await rest_client.create(CONFIGMAPS, configmap("a", namespace))
    modified = await rest_client.patch(CONFIGMAPS, "a", {"data": {"k": "v"}}, namespace)
    await rest_client.create(CONFIGMAPS, configmap("b", namespace))
    await rest_client.delete(CONFIGMAPS, "a", namespace)
    async with Watch(
        rest_client, CONFIGMAPS.path(namespace), resourceVersion=start["metadata"]["resourceVersion"]
    ) as watch:
        events = await watch.take(3)
    assert summary(events) == [("MODIFIED", "a"), ("ADDED", "b"), ("DELETED", "a")]
    assert events[0]["object"]["metadata"]["resourceVersion"] == modified["metadata"]["resourceVersion"]
    versions = [rv(e["object"]) for e in events]
    assert versions == sorted(versions)
    # a DELETED event carries the last state with the deletion's resourceVersion
    assert events[2]["object"]["data"] == {"k": "v"}
    assert rv(events[2]["object"]) > rv(events[1]["object"])


async def test_a_namespaced_watch_sees_only_its_namespace(rest_client: RestClient, namespace: str) -> None:
    other = unique("other")
    await rest_client.request(
        "POST",
        "/api/v1/namespaces",
        body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": other}},
    )
    start = await rest_client.list(CONFIGMAPS, namespace)
    async with Watch(
        rest_client, CONFIGMAPS.path(namespace), resourceVersion=start["metadata"]["resourceVersion"]
    ) as watch:
        await rest_client.create(CONFIGMAPS, configmap("elsewhere", other))
        await rest_client.create(CONFIGMAPS, configmap("here", namespace))
        events = await watch.take(1)
    assert summary(events) == [("ADDED", "here")]
    await rest_client.request("DELETE", f"/api/v1/namespaces/{other}")


async def test_a_watch_across_namespaces_sees_every_namespace(
    rest_client: RestClient, namespace: str
) -> None:
    start = await rest_client.list(CONFIGMAPS, namespace)
    marker = unique("all")
    async with Watch(
        rest_client,
        CONFIGMAPS.path(),
        resourceVersion=start["metadata"]["resourceVersion"],
        labelSelector=f"mark={marker}",
    ) as watch:
        await rest_client.create(CONFIGMAPS, configmap("x", namespace, labels={"mark": marker}))
        [event] = await watch.take(1)
    assert event["object"]["metadata"]["namespace"] == namespace


async def test_an_object_leaving_the_selector_arrives_as_deleted(
    rest_client: RestClient, namespace: str
) -> None:
    created = await rest_client.create(CONFIGMAPS, configmap("a", namespace, labels={"app": "x"}))
    async with Watch(
        rest_client,
        CONFIGMAPS.path(namespace),
        resourceVersion=created["metadata"]["resourceVersion"],
        labelSelector="app=x",
    ) as watch:
        left = await rest_client.patch(CONFIGMAPS, "a", {"metadata": {"labels": {"app": "y"}}}, namespace)
        back = await rest_client.patch(CONFIGMAPS, "a", {"metadata": {"labels": {"app": "x"}}}, namespace)
        await rest_client.patch(CONFIGMAPS, "a", {"data": {"k": "v"}}, namespace)
        events = await watch.take(3)
    assert summary(events) == [("DELETED", "a"), ("ADDED", "a"), ("MODIFIED", "a")]
    # leaving: the last state that matched, at the resourceVersion of the change that made it leave
    assert events[0]["object"]["metadata"]["labels"] == {"app": "x"}
    assert events[0]["object"]["metadata"]["resourceVersion"] == left["metadata"]["resourceVersion"]
    # coming back: the new state
    assert events[1]["object"]["metadata"]["resourceVersion"] == back["metadata"]["resourceVersion"]


async def test_a_field_selector_watch_follows_one_name(rest_client: RestClient, namespace: str) -> None:
    start = await rest_client.list(CONFIGMAPS, namespace)
    async with Watch(
        rest_client,
        CONFIGMAPS.path(namespace),
        resourceVersion=start["metadata"]["resourceVersion"],
        fieldSelector="metadata.name=b",
    ) as watch:
        await rest_client.create(CONFIGMAPS, configmap("a", namespace))
        await rest_client.create(CONFIGMAPS, configmap("b", namespace))
        events = await watch.take(1)
    assert summary(events) == [("ADDED", "b")]


async def test_timeout_seconds_ends_the_stream(rest_client: RestClient, namespace: str) -> None:
    begin = time.monotonic()
    async with Watch(rest_client, CONFIGMAPS.path(namespace), timeoutSeconds=1) as watch:
        events = await watch.rest(timeout=10)
    elapsed = time.monotonic() - begin
    assert [e for e in events if e["type"] != "BOOKMARK"] == []
    assert 0.5 <= elapsed < 5


async def test_bookmarks_carry_only_the_kind_and_a_resource_version(
    rest_client: RestClient, namespace: str
) -> None:
    created = await rest_client.create(CONFIGMAPS, configmap("a", namespace))
    # kube-apiserver 1.20 sends a bookmark shortly before the watch's deadline (deadline - 2 s), then
    # about once a minute, and only once something newer than the watch's start happened: with
    # timeoutSeconds=3 and one write, one arrives about 1 s in.
    async with Watch(
        rest_client,
        CONFIGMAPS.path(namespace),
        resourceVersion=created["metadata"]["resourceVersion"],
        allowWatchBookmarks="true",
        timeoutSeconds=3,
    ) as watch:
        later = await rest_client.create(CONFIGMAPS, configmap("b", namespace))
        events = await watch.rest(timeout=15)
    assert summary(events)[0] == ("ADDED", "b")
    bookmarks = events[1:]
    assert bookmarks, events
    for bookmark in bookmarks:
        assert bookmark["type"] == "BOOKMARK"
        obj = bookmark["object"]
        assert obj["kind"] == "ConfigMap"
        assert obj["apiVersion"] == "v1"
        assert rv(obj) >= rv(later)
        assert "name" not in obj["metadata"]


async def test_no_bookmarks_unless_asked(rest_client: RestClient, namespace: str) -> None:
    created = await rest_client.create(CONFIGMAPS, configmap("a", namespace))
    async with Watch(
        rest_client,
        CONFIGMAPS.path(namespace),
        resourceVersion=created["metadata"]["resourceVersion"],
        timeoutSeconds=3,
    ) as watch:
        await rest_client.create(CONFIGMAPS, configmap("b", namespace))
        events = await watch.rest(timeout=15)
    assert summary(events) == [("ADDED", "b")]


async def test_a_watch_from_a_compacted_version_gets_a_410_error_event(
    api_server: object, rest_client: RestClient
) -> None:
    # A fresh resource type: kube-apiserver's watch cache for it starts at the CRD's creation, so any
    # earlier version is too old there; the fake forgets it through compaction.
    before = await rest_client.request("GET", "/api/v1/namespaces/default/configmaps")
    old = before["metadata"]["resourceVersion"]
    manifest = crd_manifest(f"{unique('w')}.example.com", "Widget")
    async with temporary_crd(rest_client, manifest) as widgets:
        await rest_client.create(
            widgets,
            {
                "apiVersion": widgets.api_version,
                "kind": "Widget",
                "metadata": {"name": "w", "namespace": "default"},
            },
        )
        await compact(api_server)
        async with Watch(rest_client, widgets.path("default"), resourceVersion=old) as watch:
            assert watch.response.status == 200  # the error comes inside the stream
            events = await watch.rest(timeout=10)
    assert len(events) == 1
    [event] = events
    assert event["type"] == "ERROR"
    status = event["object"]
    assert status["kind"] == "Status"
    assert status["apiVersion"] == "v1"
    assert status["status"] == "Failure"
    assert status["code"] == 410
    assert status["reason"] == "Expired"
    assert status["message"].startswith(f"too old resource version: {old} (")


async def test_watch_events_are_delivered_in_resource_version_order(
    rest_client: RestClient, namespace: str
) -> None:
    start = await rest_client.list(CONFIGMAPS, namespace)
    async with Watch(
        rest_client, CONFIGMAPS.path(namespace), resourceVersion=start["metadata"]["resourceVersion"]
    ) as watch:
        for i in range(10):
            await rest_client.create(CONFIGMAPS, configmap(f"cm-{i}", namespace))
        events = await watch.take(10)
    assert [e["object"]["metadata"]["name"] for e in events] == [f"cm-{i}" for i in range(10)]
    versions = [rv(e["object"]) for e in events]
    assert versions == sorted(set(versions))


@pytest.mark.fake_only(
    reason="streaming lists (sendInitialEvents) arrived in Kubernetes 1.27; envtest runs 1.20"
)
async def test_send_initial_events_streams_the_state_and_ends_it_with_an_annotated_bookmark(
    rest_client: RestClient, namespace: str
) -> None:
    await rest_client.create(CONFIGMAPS, configmap("a", namespace))
    await rest_client.create(CONFIGMAPS, configmap("b", namespace))
    async with Watch(
        rest_client,
        CONFIGMAPS.path(namespace),
        sendInitialEvents="true",
        resourceVersionMatch="NotOlderThan",
        allowWatchBookmarks="true",
    ) as watch:
        events = await watch.take(3, skip_bookmarks=False)
        assert sorted(summary(events[:2])) == [("ADDED", "a"), ("ADDED", "b")]
        end = events[2]
        assert end["type"] == "BOOKMARK"
        assert end["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
        assert rv(end["object"]) >= max(rv(e["object"]) for e in events[:2])
        await rest_client.create(CONFIGMAPS, configmap("c", namespace))
        assert summary(await watch.take(1)) == [("ADDED", "c")]


async def test_a_cluster_scoped_resource_can_be_watched(rest_client: RestClient) -> None:
    from ._support import NAMESPACES

    start = await rest_client.list(NAMESPACES)
    name = unique("watched")
    async with Watch(
        rest_client, NAMESPACES.path(), resourceVersion=start["metadata"]["resourceVersion"]
    ) as watch:
        await rest_client.create(
            NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        )
        [event] = await watch.take(1)
    assert summary([event]) == [("ADDED", name)]
    assert event["object"]["kind"] == "Namespace"
    assert event["object"]["status"]["phase"] == "Active"
    await rest_client.delete(NAMESPACES, name)


async def test_a_finalized_delete_is_watched_as_modified_then_deleted(
    rest_client: RestClient, namespace: str
) -> None:
    obj = configmap("held", namespace)
    obj["metadata"]["finalizers"] = ["example.com/hold"]
    created = await rest_client.create(CONFIGMAPS, obj)
    async with Watch(
        rest_client, CONFIGMAPS.path(namespace), resourceVersion=created["metadata"]["resourceVersion"]
    ) as watch:
        await rest_client.delete(CONFIGMAPS, "held", namespace)
        [marked] = await watch.take(1)
        assert summary([marked]) == [("MODIFIED", "held")]
        assert marked["object"]["metadata"]["deletionTimestamp"]
        await rest_client.patch(CONFIGMAPS, "held", {"metadata": {"finalizers": None}}, namespace)
        [gone] = await watch.take(1)
    assert summary([gone]) == [("DELETED", "held")]
    assert rv(gone["object"]) > rv(marked["object"])
