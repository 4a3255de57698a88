"""Per-resource cache options on both servers: selectors, several namespaces, transforms, bad input."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient, Configuration

from pycontroller import ByObject, CacheOptions, Manager
from pycontroller.cache.delta_fifo import DeltaFIFO
from pycontroller.cache.factory import SharedInformerFactory
from pycontroller.cache.informer import SharedIndexInformer, drop_managed_fields
from pycontroller.cache.keys import DeletedFinalStateUnknown, deletion_handling_meta_namespace_key_func
from pycontroller.cache.multi_namespace import MultiNamespaceReflector
from pycontroller.cache.options import (
    InformerOptionsConflictError,
    OutsideCacheScopeError,
    parse_field_selector,
)
from pycontroller.cache.real_fifo import RealFIFO
from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.errors import ConfigError
from pycontroller.labels import SelectorError
from tests.cache.informer_support import Recorder, ScriptedReflector, cm, eventually

CONFIGMAPS = GroupVersionResource("", "v1", "configmaps")
SECRETS = GroupVersionResource("", "v1", "secrets")


def configmap(name: str, namespace: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels}, "data": {"k": name}}


@pytest.fixture
async def factory(rest_client: RestClient) -> AsyncIterator[SharedInformerFactory]:
    factory = SharedInformerFactory(rest_client)
    yield factory
    await factory.shutdown()


@pytest.fixture
async def namespaces(rest_client: RestClient) -> AsyncIterator[list[str]]:
    """Three more namespaces for the test (deleted afterwards)."""
    names = [f"opt-{uuid.uuid4().hex[:10]}" for _ in range(3)]
    for name in names:
        await rest_client.request("POST", "/api/v1/namespaces", body={"metadata": {"name": name}})
    yield names
    for name in names:
        try:
            await rest_client.request("DELETE", f"/api/v1/namespaces/{name}")
        except Exception:  # the fake may have gone already
            pass


def names(objs: list[Any]) -> list[str]:
    return sorted(o["metadata"]["name"] for o in objs)


async def synced(factory: SharedInformerFactory) -> None:
    factory.start()
    result = await factory.wait_for_cache_sync(timeout=30)
    assert result and all(result.values())


# -- selectors --------------------------------------------------------------------------------------


async def test_a_label_selector_restricts_the_cache_and_an_object_leaving_it_is_a_delete(
    factory: SharedInformerFactory, rest_client: RestClient, namespace: str
) -> None:
    await rest_client.create(CONFIGMAPS, configmap("in", namespace, app="x"), namespace)
    await rest_client.create(CONFIGMAPS, configmap("out", namespace, app="y"), namespace)
    informer = factory.informer_for(CONFIGMAPS, label_selector="app=x", namespaces=[namespace])
    recorder = Recorder()
    informer.add_event_handler(recorder)
    await synced(factory)
    assert names(informer.indexer.list()) == ["in"]

    await rest_client.create(CONFIGMAPS, configmap("later", namespace, app="x"), namespace)
    await rest_client.create(CONFIGMAPS, configmap("later-out", namespace, app="z"), namespace)
    # "out" starts matching, "in" stops matching: an add and a delete, as the server's watch says
    await rest_client.patch(CONFIGMAPS, "out", {"metadata": {"labels": {"app": "x"}}}, namespace)
    await rest_client.patch(CONFIGMAPS, "in", {"metadata": {"labels": {"app": "gone"}}}, namespace)
    await eventually(lambda: ("delete", "in") in recorder.events, timeout=30)
    assert names(informer.indexer.list()) == ["later", "out"]
    seen = {e[1] for e in recorder.events}
    assert "later-out" not in seen
    assert [e[0] for e in recorder.events if e[1] == "in"] == ["add", "delete"]
    assert [e[0] for e in recorder.events if e[1] == "out"] == ["add"]


async def test_a_field_selector_restricts_the_cache(
    factory: SharedInformerFactory, rest_client: RestClient, namespace: str
) -> None:
    for name in ("a", "b"):
        await rest_client.create(CONFIGMAPS, configmap(name, namespace), namespace)
    informer = factory.informer_for(CONFIGMAPS, field_selector="metadata.name=b", namespaces=[namespace])
    recorder = Recorder()
    informer.add_event_handler(recorder)
    await synced(factory)
    await rest_client.patch(CONFIGMAPS, "a", {"data": {"k": "2"}}, namespace)
    await rest_client.patch(CONFIGMAPS, "b", {"data": {"k": "2"}}, namespace)
    await eventually(lambda: any(e[0] == "update" for e in recorder.events), timeout=30)
    assert names(informer.indexer.list()) == ["b"]
    assert {e[1] for e in recorder.events} == {"b"}


# -- several namespaces -----------------------------------------------------------------------------


async def test_several_namespaces_are_one_informer_and_one_cache(
    factory: SharedInformerFactory, rest_client: RestClient, namespaces: list[str]
) -> None:
    a, b, c = namespaces
    for ns in namespaces:
        await rest_client.create(CONFIGMAPS, configmap(f"pre-{ns}", ns), ns)
    informer = factory.informer_for(CONFIGMAPS, namespaces=[a, b])
    assert factory.informer_for(CONFIGMAPS) is informer
    recorder = Recorder()
    informer.add_event_handler(recorder)
    await synced(factory)
    assert names(informer.indexer.list()) == sorted([f"pre-{a}", f"pre-{b}"])
    assert all(e[0] == "add" and e[3] is True for e in recorder.events)
    assert informer.last_sync_resource_version() != ""

    for ns in namespaces:
        await rest_client.create(CONFIGMAPS, configmap(f"live-{ns}", ns), ns)
    await rest_client.delete(CONFIGMAPS, f"pre-{a}", a)
    await eventually(lambda: ("delete", f"pre-{a}") in recorder.events, timeout=30)
    await eventually(lambda: len(informer.indexer) == 3, timeout=30)
    assert names(informer.indexer.list()) == sorted([f"pre-{b}", f"live-{a}", f"live-{b}"])
    assert not any(c in e[1] for e in recorder.events)
    lister = informer.lister()
    assert names(lister.namespace(b).list()) == sorted([f"pre-{b}", f"live-{b}"])
    assert lister.namespace(c).list() == []
    stats = informer.reflector_stats
    assert stats is not None and stats.lists == 2 and stats.watches >= 2


async def test_the_first_sync_waits_for_every_namespace_and_a_relist_is_scoped_to_its_namespace(
    no_server: RestClient,
) -> None:
    # The reflectors are not run: the test writes to each namespace's store as they would.
    informer = SharedIndexInformer(None, CONFIGMAPS, reflector_factory=lambda fifo: ScriptedReflector(fifo))
    fifo = DeltaFIFO(deletion_handling_meta_namespace_key_func, informer.indexer)
    multi = MultiNamespaceReflector(no_server, CONFIGMAPS, fifo, informer.indexer, ["a", "b"], name="t")
    a, b = (multi.reflectors[ns].store for ns in ("a", "b"))
    a.replace([cm("x", "1", "a"), cm("gone", "2", "a")], "5")
    a.add(cm("early", "6", "a"))  # a watch event of a, before b listed: held back
    assert len(fifo) == 0 and not fifo.has_synced() and multi.last_sync_resource_version() == ""
    b.replace([cm("y", "3", "b")], "7")
    assert fifo.list_keys() == ["a/x", "a/gone", "b/y", "a/early"]
    assert multi.last_sync_resource_version() == "7"
    popped: list[tuple[str, str, bool]] = []
    fifo._drain(lambda key, deltas, initial: popped.append((key, deltas[-1].type, initial)), 100)
    assert popped[:3] == [("a/x", "Replaced", True), ("a/gone", "Replaced", True), ("b/y", "Replaced", True)]
    assert popped[3] == ("a/early", "Added", False) and fifo.has_synced()
    for key in ("a/x", "a/gone", "b/y", "a/early"):
        informer.indexer._store(
            key, {"metadata": {"name": key[2:], "namespace": key[0], "resourceVersion": "1"}}
        )

    # a relist of "a" (after a 410): tombstones for a's vanished keys, nothing for b
    b.add(cm("queued", "8", "b"))
    a.replace([cm("x", "9", "a")], "9")
    deltas = {key: fifo.get_by_key(key) for key in fifo.list_keys()}
    assert sorted(deltas) == ["a/early", "a/gone", "a/x", "b/queued"]
    for key in ("a/early", "a/gone"):
        (delta,) = deltas[key] or []
        assert delta.type == "Deleted" and isinstance(delta.object, DeletedFinalStateUnknown)
        assert delta.object.key == key
    assert [d.type for d in deltas["a/x"] or []] == ["Updated"]


async def test_a_scoped_relist_through_an_in_order_fifo_deletes_only_its_namespace(
    no_server: RestClient,
) -> None:
    informer = SharedIndexInformer(None, CONFIGMAPS, reflector_factory=lambda fifo: ScriptedReflector(fifo))
    fifo = RealFIFO(deletion_handling_meta_namespace_key_func)
    multi = MultiNamespaceReflector(no_server, CONFIGMAPS, fifo, informer.indexer, ["a", "b"], name="t")
    a, b = (multi.reflectors[ns].store for ns in ("a", "b"))
    a.replace([cm("x", "1", "a"), cm("gone", "2", "a")], "5")
    b.replace([cm("y", "3", "b")], "7")
    a.add(cm("queued", "8", "a"))  # still queued (not cached) when a relists without it
    (replaced_all, added) = fifo.deltas()
    assert added.type == "Added"
    assert replaced_all.type == "ReplacedAll" and len(replaced_all.object.objects) == 3
    informer.indexer._store("a/x", cm("x", "1", "a"))
    informer.indexer._store("a/gone", cm("gone", "2", "a"))
    informer.indexer._store("b/y", cm("y", "3", "b"))
    a.replace([cm("x", "9", "a")], "9")
    after = [(d.type, fifo.key_of(d.object)) for d in fifo.deltas()[2:]]
    assert after == [("Deleted", "a/gone"), ("Deleted", "a/queued"), ("Updated", "a/x")]


async def test_default_namespaces_of_the_cache_options_apply_to_every_resource(
    rest_client: RestClient, namespaces: list[str]
) -> None:
    a, b, c = namespaces
    options = CacheOptions(
        default_namespaces=[a, b],
        by_object={("", "secrets"): ByObject(namespaces=[c])},
    )
    factory = SharedInformerFactory(rest_client, cache_options=options)
    try:
        for ns in namespaces:
            await rest_client.create(CONFIGMAPS, configmap("x", ns), ns)
            await rest_client.create(SECRETS, {"metadata": {"name": "s"}, "data": {}}, ns)
        cms = factory.informer_for(CONFIGMAPS)
        secrets = factory.informer_for(SECRETS)
        await synced(factory)
        assert sorted(cms.indexer.list_keys()) == sorted([f"{a}/x", f"{b}/x"])
        assert secrets.indexer.list_keys() == [f"{c}/s"]
        assert factory.options_of(secrets) is not None
    finally:
        await factory.shutdown()


# -- transforms -------------------------------------------------------------------------------------


def mark(obj: Any) -> Any:
    """A transform that keeps only what the test needs and records that it ran."""
    meta = obj["metadata"]
    return {"metadata": {**meta, "annotations": {"transformed": "yes"}}, "data": None}


async def test_a_transform_applies_to_listed_and_watched_objects_alike(
    factory: SharedInformerFactory, rest_client: RestClient, namespace: str
) -> None:
    await rest_client.create(CONFIGMAPS, configmap("listed", namespace), namespace)
    informer = factory.informer_for(CONFIGMAPS, namespaces=[namespace], transform=mark)
    seen: list[Any] = []
    informer.add_event_handler(_Collect(seen))
    await synced(factory)
    await rest_client.create(CONFIGMAPS, configmap("watched", namespace), namespace)
    await rest_client.patch(CONFIGMAPS, "listed", {"data": {"k": "new"}}, namespace)
    await eventually(lambda: len(seen) >= 3, timeout=30)
    for obj in [*seen, *informer.indexer.list()]:
        assert obj["metadata"]["annotations"] == {"transformed": "yes"}
        assert obj["data"] is None


async def test_managed_fields_are_dropped_by_default_and_kept_on_request(
    rest_client: RestClient, namespace: str
) -> None:
    await rest_client.create(CONFIGMAPS, configmap("a", namespace), namespace)
    dropping = SharedInformerFactory(rest_client)
    keeping = SharedInformerFactory(rest_client, cache_options=CacheOptions(default_transform=None))
    try:
        dropped = dropping.informer_for(CONFIGMAPS, namespaces=[namespace])
        kept = keeping.informer_for(CONFIGMAPS, namespaces=[namespace])
        await synced(dropping)
        await synced(keeping)
        await rest_client.create(CONFIGMAPS, configmap("b", namespace), namespace)
        await eventually(lambda: len(dropped.indexer) == 2 and len(kept.indexer) == 2, timeout=30)
        server_side = await rest_client.get(CONFIGMAPS, "b", namespace)
        for obj in dropped.indexer.list():
            assert "managedFields" not in obj["metadata"]
        for obj in kept.indexer.list():
            assert ("managedFields" in obj["metadata"]) == ("managedFields" in server_side["metadata"])
    finally:
        await dropping.shutdown()
        await keeping.shutdown()


class _Collect:
    def __init__(self, into: list[Any]) -> None:
        self.into = into

    def on_add(self, obj: Any, is_in_initial_list: bool) -> None:
        self.into.append(obj)

    def on_update(self, old: Any, new: Any) -> None:
        self.into.append(new)

    def on_delete(self, obj: Any) -> None:
        self.into.append(obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj)


# -- bad input (no server needed) --------------------------------------------------------------------


@pytest.fixture
async def no_server() -> AsyncIterator[RestClient]:
    """A client of a server that does not exist: options are checked before any request."""
    async with ApiClient(Configuration(host="http://127.0.0.1:9")) as api:
        yield RestClient(api)


@pytest.fixture
def offline(no_server: RestClient) -> SharedInformerFactory:
    return SharedInformerFactory(no_server)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"label_selector": "app in (a"}, "invalid label selector"),
        ({"label_selector": "a b"}, "invalid label selector"),
        ({"field_selector": "metadata.name"}, "cannot understand 'metadata.name'"),
        ({"field_selector": "=x"}, "has no field name"),
        ({"field_selector": "a=b\\q"}, "invalid escape sequence"),
    ],
)
def test_an_invalid_selector_is_refused_when_the_informer_is_made(
    offline: SharedInformerFactory, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(SelectorError, match=message):
        offline.informer_for(CONFIGMAPS, **kwargs)
    assert offline.informers == {}


def test_an_invalid_selector_in_the_cache_options_is_refused_at_the_first_informer(
    no_server: RestClient,
) -> None:
    options = CacheOptions(by_object={("", "configmaps"): ByObject(label_selector="!!")})
    factory = SharedInformerFactory(no_server, cache_options=options)
    with pytest.raises(SelectorError, match="informer for core/configmaps: invalid label selector"):
        factory.informer_for(CONFIGMAPS)


def test_other_options_for_an_existing_informer_are_a_clear_error(offline: SharedInformerFactory) -> None:
    informer = offline.informer_for(CONFIGMAPS, label_selector="app=x", namespaces=["a", "b"])
    assert offline.informer_for(CONFIGMAPS) is informer  # no options: the shared one
    assert offline.informer_for(CONFIGMAPS, namespaces=["b", "a"], label_selector="app=x") is informer
    with pytest.raises(InformerOptionsConflictError, match="label_selector: 'app=y' != 'app=x'"):
        offline.informer_for(CONFIGMAPS, label_selector="app=y", namespaces=["a", "b"])
    with pytest.raises(InformerOptionsConflictError, match="namespaces"):
        offline.informer_for(CONFIGMAPS, label_selector="app=x")
    with pytest.raises(InformerOptionsConflictError, match="transform"):
        offline.informer_for(CONFIGMAPS, label_selector="app=x", namespaces=["a", "b"], transform=None)
    # a metadata-only informer is a separate informer with its own options
    meta = offline.informer_for(CONFIGMAPS, metadata_only=True)
    assert meta is not informer and offline.metadata_informers == {CONFIGMAPS: meta}


@pytest.mark.parametrize(
    "bad",
    [
        {"by_object": {"configmaps": ByObject()}},
        {"by_object": {("", "configmaps"): {"label_selector": "a"}}},
        {"default_namespaces": "team-a"},
        {"default_namespaces": []},
        {"default_namespaces": ["", "a"]},
    ],
)
def test_malformed_cache_options_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        CacheOptions(**bad)


def test_kind_keys_apply_when_the_kind_is_known(no_server: RestClient) -> None:
    options = CacheOptions(by_object={("", "Secret"): ByObject(label_selector="app=x", transform=None)})
    factory = SharedInformerFactory(no_server, cache_options=options)
    informer = factory.informer_for(SECRETS, kind="Secret")
    resolved = factory.options_of(informer)
    assert resolved is not None
    assert resolved.label_selector == "app=x" and resolved.transform is None
    plain = factory.options_of(factory.informer_for(CONFIGMAPS))
    assert plain is not None and plain.transform is drop_managed_fields and plain.label_selector is None


def test_the_manager_passes_its_cache_options_to_its_factory(no_server: RestClient) -> None:
    options = CacheOptions(default_namespaces=["a"], default_label_selector="team=blue")
    mgr = Manager(no_server, cache=options, metrics_bind_address="0")
    informer = mgr.informer_for("", "v1", "configmaps")
    assert informer.namespace == "a" and informer.label_selector == "team=blue"
    with pytest.raises(InformerOptionsConflictError):
        mgr.informer_for("", "v1", "configmaps", label_selector="team=red")
    with pytest.raises(ConfigError, match="CacheOptions"):
        Manager(no_server, cache={"namespaces": ["a"]}, metrics_bind_address="0")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("", []),
        ("metadata.name=a", [("metadata.name", "=", "a")]),
        ("a==b,c!=d", [("a", "==", "b"), ("c", "!=", "d")]),
        ("a=", [("a", "=", "")]),
        ("a=x\\,y", [("a", "=", "x,y")]),
    ],
)
def test_field_selectors_parse_like_client_go(text: str, terms: list[tuple[str, str, str]]) -> None:
    assert parse_field_selector(text) == terms


async def test_the_manager_applies_kind_keyed_options_to_an_informer_asked_for_by_kind(
    api_client: Any, rest_client: RestClient, namespace: str, namespaces: list[str]
) -> None:
    other = namespaces[0]
    options = CacheOptions(
        by_object={("", "Secret"): ByObject(label_selector="app=x")}, default_namespaces=[namespace]
    )
    mgr = Manager(api_client, cache=options, metrics_bind_address="0", handle_signals=False)
    secrets = mgr.informer_for("v1", "Secret")
    configmaps = mgr.informer_for("v1", "ConfigMap")
    for ns in (namespace, other):
        for app in ("x", "y"):
            await rest_client.create(SECRETS, {"metadata": {"name": f"s-{app}", "labels": {"app": app}}}, ns)
            await rest_client.create(CONFIGMAPS, configmap(f"c-{app}", ns, app=app), ns)
    run = asyncio.create_task(mgr.run())
    try:
        await eventually(lambda: secrets.has_synced() and configmaps.has_synced(), timeout=30)
        assert secrets.indexer.list_keys() == [f"{namespace}/s-x"]
        assert sorted(configmaps.indexer.list_keys()) == [f"{namespace}/c-x", f"{namespace}/c-y"]
    finally:
        mgr.request_shutdown()
        await asyncio.wait_for(run, 30)


def test_a_read_outside_the_cached_namespaces_is_a_clear_error(offline: SharedInformerFactory) -> None:
    informer = offline.informer_for(CONFIGMAPS, namespaces=["a", "b"])
    options = offline.options_of(informer)
    assert options is not None
    options.check_namespace("get configmaps a/x", "a")
    with pytest.raises(
        OutsideCacheScopeError,
        match=r"namespace 'c' is outside the cache, which holds only namespaces \[a, b\]",
    ):
        options.check_namespace("get configmaps c/x", "c")
    with pytest.raises(OutsideCacheScopeError, match="all namespaces is outside the cache"):
        options.check_namespace("list configmaps", None)
    everything = offline.options_of(offline.informer_for(SECRETS))
    assert everything is not None and everything.covers_namespace(None) and everything.covers_namespace("z")


async def test_the_managers_cached_client_refuses_reads_outside_the_cached_namespaces(
    api_client: Any, rest_client: RestClient, namespace: str, namespaces: list[str]
) -> None:
    other = namespaces[0]
    for ns in (namespace, other):
        await rest_client.create(CONFIGMAPS, configmap("x", ns), ns)
    mgr = Manager(
        api_client,
        cache=CacheOptions(default_namespaces=[namespace]),
        metrics_bind_address="0",
        handle_signals=False,
    )
    run = asyncio.create_task(mgr.run())
    try:
        await asyncio.wait_for(mgr.wait_until_ready(), 30)
        assert (await mgr.client.get(CONFIGMAPS, "x", namespace))["metadata"]["namespace"] == namespace
        with pytest.raises(OutsideCacheScopeError, match=f"namespace '{other}' is outside the cache"):
            await mgr.client.get(CONFIGMAPS, "x", other)
        with pytest.raises(OutsideCacheScopeError):
            await mgr.client.list(CONFIGMAPS, other)
        assert [o["metadata"]["namespace"] for o in (await mgr.client.list(CONFIGMAPS))["items"]] == [
            namespace
        ]
    finally:
        mgr.request_shutdown()
        await asyncio.wait_for(run, 30)
