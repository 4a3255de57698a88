"""The thread-safe indexed store."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from pycontroller.cache.keys import NAMESPACE_INDEX, DeletedFinalStateUnknown, meta_namespace_index_func
from pycontroller.cache.store import Indexer
from pycontroller.errors import InvalidObjectError


def obj(name: str, ns: str | None = "default", rv: str = "1", **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "resourceVersion": rv, "labels": labels}
    if ns is not None:
        meta["namespace"] = ns
    return {"metadata": meta}


def by_label(key: str) -> Any:
    def index(o: dict[str, Any]) -> list[str]:
        value = o["metadata"].get("labels", {}).get(key)
        return [value] if value is not None else []

    return index


def label_pairs(o: dict[str, Any]) -> list[str]:
    """A multi-valued index: one value per label."""
    return [f"{k}={v}" for k, v in sorted(o["metadata"].get("labels", {}).items())]


def namespaced() -> Indexer:
    return Indexer(indexers={NAMESPACE_INDEX: meta_namespace_index_func})


def test_objects_are_found_by_key_and_by_object() -> None:
    store = namespaced()
    a = obj("a")
    store.add(a)
    assert store.get_by_key("default/a") is a
    assert store.get({"metadata": {"name": "a", "namespace": "default"}}) is a
    assert store.get_by_key("default/b") is None
    assert store.list() == [a]
    assert store.list_keys() == ["default/a"]
    assert len(store) == 1 and "default/a" in store


def test_an_update_moves_the_object_between_index_buckets_and_drops_empty_ones() -> None:
    store = Indexer(indexers={"app": by_label("app")})
    store.add(obj("a", app="x"))
    store.update(obj("a", rv="2", app="y"))
    assert store.index_keys("app", "x") == []
    assert store.list_index_func_values("app") == ["y"]
    assert [o["metadata"]["resourceVersion"] for o in store.by_index("app", "y")] == ["2"]


def test_deleting_removes_the_object_from_every_index() -> None:
    store = namespaced()
    store.add(obj("a"))
    store.add(obj("b", ns="other"))
    store.delete(obj("a"))
    assert store.list_index_func_values(NAMESPACE_INDEX) == ["other"]
    assert store.by_index(NAMESPACE_INDEX, "default") == []
    store.delete(obj("never-there"))  # absent: nothing happens


def test_deleting_a_tombstone_deletes_the_key_it_records() -> None:
    store = namespaced()
    store.add(obj("a"))
    store.delete(DeletedFinalStateUnknown("default/a", None))
    assert store.list() == []


def test_an_object_without_a_name_is_refused_and_changes_nothing() -> None:
    store = namespaced()
    store.add(obj("a"))
    with pytest.raises(InvalidObjectError):
        store.add({"metadata": {"namespace": "default"}})
    with pytest.raises(InvalidObjectError):
        store.replace([obj("b"), {"kind": "ConfigMap"}], "7")
    assert store.list_keys() == ["default/a"]
    assert store.by_index(NAMESPACE_INDEX, "default") == [store.get_by_key("default/a")]


def test_an_index_function_that_raises_changes_nothing() -> None:
    def picky(o: dict[str, Any]) -> list[str]:
        if o["metadata"]["name"] == "bad":
            raise RuntimeError("no")
        return ["v"]

    store = Indexer(indexers={"picky": picky})
    store.add(obj("a"))
    with pytest.raises(RuntimeError):
        store.add(obj("bad"))
    assert store.list_keys() == ["default/a"]
    assert store.index_keys("picky", "v") == ["default/a"]


def test_replace_swaps_the_whole_content_and_rebuilds_indexes() -> None:
    store = namespaced()
    store.add(obj("a"))
    store.replace([obj("b", ns="x"), obj("c", ns=None)], "42")
    assert sorted(store.list_keys()) == ["c", "x/b"]
    assert store.list_index_func_values(NAMESPACE_INDEX) == ["x"]
    assert store.resource_version == "42"


def test_index_returns_the_objects_sharing_any_value_with_the_given_object() -> None:
    def colours(o: dict[str, Any]) -> list[str]:
        return list(o["metadata"]["labels"].get("colours", "").split("-")) if o["metadata"]["labels"] else []

    store = Indexer(indexers={"colours": colours})
    store.add(obj("a", colours="red-blue"))
    store.add(obj("b", colours="blue"))
    store.add(obj("c", colours="green"))
    found = store.index("colours", obj("probe", colours="red-blue"))
    assert sorted(o["metadata"]["name"] for o in found) == ["a", "b"]
    assert sorted(o["metadata"]["name"] for o in store.index("colours", obj("p", colours="green"))) == ["c"]


def test_indexers_added_to_a_filled_store_are_back_filled() -> None:
    store = namespaced()
    store.add(obj("a", app="x"))
    store.add(obj("b", app="x"))
    store.add_indexers({"app": by_label("app")})
    assert sorted(store.index_keys("app", "x")) == ["default/a", "default/b"]
    assert set(store.get_indexers()) == {NAMESPACE_INDEX, "app"}


def test_an_indexer_name_clash_is_refused_and_adds_nothing() -> None:
    store = namespaced()
    with pytest.raises(ValueError, match="conflict"):
        store.add_indexers({"new": by_label("a"), NAMESPACE_INDEX: meta_namespace_index_func})
    assert set(store.get_indexers()) == {NAMESPACE_INDEX}


def test_asking_for_an_unknown_index_is_a_value_error() -> None:
    store = namespaced()
    with pytest.raises(ValueError, match="does not exist"):
        store.by_index("nope", "x")
    with pytest.raises(ValueError, match="does not exist"):
        store.index_keys("nope", "x")
    with pytest.raises(ValueError, match="does not exist"):
        store.list_index_func_values("nope")


def test_resync_changes_nothing() -> None:
    store = namespaced()
    store.add(obj("a"))
    store.resync()
    assert store.list_keys() == ["default/a"]


async def test_readers_in_threads_always_see_a_consistent_store_while_the_loop_writes() -> None:
    store = Indexer(indexers={NAMESPACE_INDEX: meta_namespace_index_func, "app": by_label("app")})
    stop = threading.Event()
    problems: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            keys = set(store.list_keys())
            for value in store.list_index_func_values("app"):
                for o in store.by_index("app", value):
                    if o["metadata"]["labels"]["app"] != value:
                        problems.append("object in the wrong bucket")
            for o in store.by_index(NAMESPACE_INDEX, "ns1"):
                if o["metadata"]["namespace"] != "ns1":
                    problems.append("wrong namespace")
            del keys

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for i in range(3000):
            name = f"o{i % 50}"
            store.update(obj(name, ns=f"ns{i % 3}", rv=str(i), app=f"a{i % 7}"))
            if i % 11 == 0:
                store.delete(obj(f"o{(i * 7) % 50}", ns="ns0"))
            if i % 500 == 0:
                store.replace([obj(f"r{j}", ns="ns1", app="a1") for j in range(20)], str(i))
            if i % 100 == 0:
                await asyncio.sleep(0)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert problems == []


NAMES = st.sampled_from(["a", "b", "c", "d"])
NAMESPACES = st.sampled_from(["n1", "n2", None])
APPS = st.sampled_from(["x", "y", None])


class IndexerMachine(RuleBasedStateMachine):
    """The Indexer against a dict model: contents and every index agree after any sequence."""

    def __init__(self) -> None:
        super().__init__()
        self.store = namespaced()
        self.model: dict[str, dict[str, Any]] = {}
        self.extra_index = False

    @staticmethod
    def make(name: str, ns: str | None, app: str | None, rv: int) -> dict[str, Any]:
        labels = {"app": app} if app else {}
        if rv % 3 == 0:
            labels["tier"] = "web"
        return obj(name, ns=ns, rv=str(rv), **labels)

    @staticmethod
    def key(o: dict[str, Any]) -> str:
        meta = o["metadata"]
        return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]

    @rule(name=NAMES, ns=NAMESPACES, app=APPS, rv=st.integers(0, 9))
    def add(self, name: str, ns: str | None, app: str | None, rv: int) -> None:
        o = self.make(name, ns, app, rv)
        self.store.add(o)
        self.model[self.key(o)] = o

    @rule(name=NAMES, ns=NAMESPACES)
    def delete(self, name: str, ns: str | None) -> None:
        o = self.make(name, ns, None, 0)
        self.store.delete(o)
        self.model.pop(self.key(o), None)

    @rule(
        objs=st.lists(st.tuples(NAMES, NAMESPACES, APPS, st.integers(0, 9)), max_size=5),
    )
    def replace(self, objs: list[tuple[str, str | None, str | None, int]]) -> None:
        made = [self.make(*t) for t in objs]
        self.store.replace(made, "1")
        self.model = {self.key(o): o for o in made}

    @rule()
    def add_app_index(self) -> None:
        if not self.extra_index:
            self.store.add_indexers({"app": by_label("app"), "pairs": label_pairs})
            self.extra_index = True

    @rule()
    def invalid_add(self) -> None:
        with pytest.raises(InvalidObjectError):
            self.store.add({"metadata": {"namespace": "n1"}})

    @invariant()
    def contents_match(self) -> None:
        assert {self.key(o): o for o in self.store.list()} == self.model
        for key, o in self.model.items():
            assert self.store.get_by_key(key) is o

    @invariant()
    def indexes_match(self) -> None:
        expected: dict[str, set[str]] = {}
        for key, o in self.model.items():
            ns = o["metadata"].get("namespace")
            if ns:
                expected.setdefault(ns, set()).add(key)
        assert set(self.store.list_index_func_values(NAMESPACE_INDEX)) == set(expected)
        for ns, keys in expected.items():
            assert set(self.store.index_keys(NAMESPACE_INDEX, ns)) == keys
        if self.extra_index:
            apps: dict[str, set[str]] = {}
            for key, o in self.model.items():
                app = o["metadata"]["labels"].get("app")
                if app:
                    apps.setdefault(app, set()).add(key)
            assert set(self.store.list_index_func_values("app")) == set(apps)
            for app, keys in apps.items():
                assert {self.key(o) for o in self.store.by_index("app", app)} == keys
            pairs: dict[str, set[str]] = {}
            for key, o in self.model.items():
                for pair in label_pairs(o):
                    pairs.setdefault(pair, set()).add(key)
            assert set(self.store.list_index_func_values("pairs")) == set(pairs)
            for pair, keys in pairs.items():
                assert set(self.store.index_keys("pairs", pair)) == keys
            for o in self.model.values():  # index(): objects sharing any value with o
                expected = {
                    k for k, other in self.model.items() if set(label_pairs(other)) & set(label_pairs(o))
                }
                assert {self.key(found) for found in self.store.index("pairs", o)} == expected


TestIndexerMachine = IndexerMachine.TestCase
TestIndexerMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)


# -- resourceVersion tracking and the transformer (client-go's store options) -------------------


def test_the_store_tracks_the_resource_version_of_every_write() -> None:
    from pycontroller.cache.keys import DeletedFinalStateUnknown

    store = namespaced()
    assert store.last_store_sync_resource_version() == ""
    store.replace([obj("a", rv="10")], "12")
    assert store.last_store_sync_resource_version() == "12"
    store.add(obj("b", rv="13"))
    assert store.last_store_sync_resource_version() == "13"
    store.update(obj("a", rv="14"))
    assert store.last_store_sync_resource_version() == "14"
    store.delete(obj("a", rv="15"))
    assert store.last_store_sync_resource_version() == "15"
    store.delete(DeletedFinalStateUnknown("default/b", None))  # a tombstone carries no version
    assert store.last_store_sync_resource_version() == "15" and len(store) == 0
    store.bookmark("20")
    assert store.last_store_sync_resource_version() == "20" == store.resource_version


def test_the_transformer_shapes_every_stored_object_and_a_raising_one_changes_nothing() -> None:
    def slim(o: dict[str, Any]) -> dict[str, Any]:
        if o["metadata"]["name"] == "bad":
            raise ValueError("cannot slim")
        return {"metadata": {k: v for k, v in o["metadata"].items() if k != "managedFields"}}

    store = Indexer(transformer=slim)
    heavy = obj("a")
    heavy["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    store.add(heavy)
    assert "managedFields" not in store.get_by_key("default/a")["metadata"]
    store.replace([heavy, obj("b")], "3")
    assert all("managedFields" not in o["metadata"] for o in store.list())
    with pytest.raises(ValueError, match="slim"):
        store.add(obj("bad"))
    with pytest.raises(ValueError, match="slim"):
        store.replace([obj("c"), obj("bad")], "4")
    assert sorted(store.list_keys()) == ["default/a", "default/b"] and store.resource_version == "3"
    with pytest.raises(TypeError):
        Indexer(transformer=42)  # type: ignore[arg-type]
