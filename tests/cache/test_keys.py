"""Object keys, tombstones and the namespace index function."""

from __future__ import annotations

from typing import Any

import pytest

from pycontroller.cache.keys import (
    NAMESPACE_INDEX,
    DeletedFinalStateUnknown,
    deletion_handling_meta_namespace_key_func,
    meta_namespace_index_func,
    meta_namespace_key_func,
    split_meta_namespace_key,
)
from pycontroller.errors import InvalidObjectError


def test_a_namespaced_object_is_keyed_namespace_slash_name() -> None:
    assert meta_namespace_key_func({"metadata": {"namespace": "ns", "name": "a"}}) == "ns/a"


def test_a_cluster_scoped_object_is_keyed_by_its_name_alone() -> None:
    assert meta_namespace_key_func({"metadata": {"name": "node-1"}}) == "node-1"
    assert meta_namespace_key_func({"metadata": {"name": "node-1", "namespace": ""}}) == "node-1"


@pytest.mark.parametrize(
    "obj",
    [
        {},
        {"metadata": None},
        {"metadata": {}},
        {"metadata": {"name": ""}},
        {"metadata": {"name": 3}},
        None,
        "x",
    ],
)
def test_an_object_without_a_name_cannot_be_keyed(obj: Any) -> None:
    with pytest.raises(InvalidObjectError):
        meta_namespace_key_func(obj)


def test_a_tombstone_is_keyed_by_its_recorded_key() -> None:
    tombstone = DeletedFinalStateUnknown("ns/gone", None)
    assert deletion_handling_meta_namespace_key_func(tombstone) == "ns/gone"
    assert deletion_handling_meta_namespace_key_func({"metadata": {"name": "a"}}) == "a"


@pytest.mark.parametrize(("key", "parts"), [("ns/a", ("ns", "a")), ("a", ("", "a")), ("/a", ("", "a"))])
def test_splitting_a_key_gives_namespace_and_name(key: str, parts: tuple[str, str]) -> None:
    assert split_meta_namespace_key(key) == parts


@pytest.mark.parametrize("key", ["", "a/b/c", "ns/"])
def test_splitting_a_malformed_key_is_a_value_error(key: str) -> None:
    with pytest.raises(ValueError, match="unexpected key format"):
        split_meta_namespace_key(key)


def test_the_namespace_index_puts_cluster_scoped_objects_nowhere() -> None:
    assert NAMESPACE_INDEX == "namespace"
    assert meta_namespace_index_func({"metadata": {"namespace": "ns", "name": "a"}}) == ["ns"]
    assert meta_namespace_index_func({"metadata": {"name": "a"}}) == []
    with pytest.raises(InvalidObjectError):
        meta_namespace_index_func({"kind": "ConfigMap"})
