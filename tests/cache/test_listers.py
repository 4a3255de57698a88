"""Listers: reading the cache by namespace, name and label selector."""

from __future__ import annotations

from typing import Any

import pytest

from pycontroller.cache.keys import NAMESPACE_INDEX, meta_namespace_index_func
from pycontroller.cache.listers import Lister
from pycontroller.cache.store import Indexer
from pycontroller.errors import ApiError, NotFoundError
from pycontroller.labels import SelectorError, parse


def obj(name: str, ns: str | None = None, **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if ns:
        meta["namespace"] = ns
    if labels:
        meta["labels"] = labels
    return {"metadata": meta}


@pytest.fixture(params=[True, False], ids=["namespace-index", "no-index"])
def lister(request: pytest.FixtureRequest) -> Lister:
    indexer = Indexer(indexers={NAMESPACE_INDEX: meta_namespace_index_func} if request.param else None)
    for o in [
        obj("a", "ns1", app="web"),
        obj("b", "ns1", app="db"),
        obj("c", "ns2", app="web"),
        obj("d", "ns1"),
    ]:
        indexer.add(o)
    return Lister(indexer, resource="configmaps")


def names(objs: list[Any]) -> list[str]:
    return sorted(o["metadata"]["name"] for o in objs)


def test_list_without_a_selector_returns_everything(lister: Lister) -> None:
    assert names(lister.list()) == ["a", "b", "c", "d"]
    assert names(lister.list("")) == ["a", "b", "c", "d"]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", ["a", "c"]),
        ("app!=web", ["b", "d"]),
        ("!app", ["d"]),
        ({"app": "db"}, ["b"]),
        ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["db", "web"]}]}, ["a", "b", "c"]),
        (parse("app in (web)"), ["a", "c"]),
    ],
)
def test_list_filters_by_any_form_of_label_selector(
    lister: Lister, selector: Any, expected: list[str]
) -> None:
    assert names(lister.list(selector)) == expected


def test_a_namespace_lister_sees_only_its_namespace(lister: Lister) -> None:
    assert names(lister.namespace("ns1").list()) == ["a", "b", "d"]
    assert names(lister.namespace("ns1").list("app=web")) == ["a"]
    assert lister.namespace("empty").list() == []
    assert lister.namespace("ns2").get("c")["metadata"]["name"] == "c"


def test_getting_a_missing_name_raises_not_found_like_the_api_server(lister: Lister) -> None:
    with pytest.raises(NotFoundError) as info:
        lister.namespace("ns2").get("a")
    error = info.value
    assert isinstance(error, ApiError)
    assert (error.status, error.reason) == (404, "NotFound")
    assert error.message == 'configmaps "a" not found'
    assert error.body["code"] == 404


def test_a_cluster_scoped_lister_gets_by_name() -> None:
    indexer = Indexer()
    indexer.add(obj("node-1"))
    lister = Lister(indexer, resource="nodes")
    assert lister.get("node-1")["metadata"]["name"] == "node-1"
    with pytest.raises(NotFoundError, match='nodes "node-2" not found'):
        lister.get("node-2")


def test_a_malformed_selector_is_a_value_error(lister: Lister) -> None:
    with pytest.raises(SelectorError):
        lister.list("app in web")


def test_the_empty_namespace_lists_every_namespace_and_gets_cluster_scoped_names(lister: Lister) -> None:
    assert names(lister.namespace("").list("app=web")) == ["a", "c"]
    with pytest.raises(NotFoundError):
        lister.namespace("").get("a")
    lister.indexer.add(obj("cluster-wide"))
    assert lister.namespace("").get("cluster-wide")["metadata"]["name"] == "cluster-wide"
    with pytest.raises(TypeError):
        lister.namespace(None)  # type: ignore[arg-type]
