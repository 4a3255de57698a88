"""The fake server's storage: snapshots at past resourceVersions, history bounds, shared bytes, patches."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycontroller.testing.apiserver import ApiFailure
from pycontroller.testing.apiserver.patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from pycontroller.testing.apiserver.registry import Registry
from pycontroller.testing.apiserver.storage import Table

NAMES = st.sampled_from(["a", "b", "c", "d"])
OPS = st.lists(st.tuples(st.sampled_from(["put", "delete"]), NAMES, st.integers(0, 3)), max_size=30)


def configmaps(registry: Registry) -> Table:
    resolved = registry.resolve("", "v1", "configmaps")
    assert resolved is not None
    return resolved[0]


def state(table: Table) -> dict[str, Any]:
    return {s.key[1]: s.obj.get("data") for s in table.sorted_now()}


@settings(max_examples=60, deadline=None)
@given(OPS)
def test_a_snapshot_at_any_retained_version_is_the_state_at_that_version(
    ops: list[tuple[str, str, int]],
) -> None:
    registry = Registry()
    table = configmaps(registry)
    seen = {registry.rv: state(table)}
    for op, name, value in ops:
        if op == "put":
            body = {"metadata": {"name": name}, "data": {"v": str(value)}}
            if ("default", name) in table.objects:
                registry.update(table, "default", name, body)
            else:
                registry.create(table, "default", body)
        elif ("default", name) in table.objects:
            registry.delete(table, "default", name)
        seen[registry.rv] = state(table)
    for rv, expected in seen.items():
        snapshot = table.snapshot(rv, registry.rv)
        assert {s.key[1]: s.obj.get("data") for s in snapshot} == expected, rv
        assert [s.key for s in snapshot] == sorted(s.key for s in snapshot)


def test_an_update_that_changes_nothing_is_not_written() -> None:
    registry = Registry()
    table = configmaps(registry)
    created = registry.create(table, "default", {"metadata": {"name": "a"}, "data": {"k": "v"}})
    rv = registry.rv
    same = registry.update(table, "default", "a", {"metadata": {"name": "a"}, "data": {"k": "v"}})
    assert same is created
    assert registry.rv == rv
    assert len(table.history) == 1


def test_history_is_bounded_and_older_versions_are_compacted() -> None:
    registry = Registry(history_size=3)
    table = configmaps(registry)
    for i in range(5):
        registry.create(table, "default", {"metadata": {"name": f"c{i}"}})
    assert len(table.history) == 3
    assert table.compacted == table.history[0].rv - 1
    assert [e.obj.key[1] for e in table.events_after(table.compacted)] == ["c2", "c3", "c4"]


def test_objects_are_serialized_once_and_the_bytes_shared() -> None:
    registry = Registry()
    table = configmaps(registry)
    stored = registry.create(table, "default", {"metadata": {"name": "a"}})
    event = table.history[-1]
    assert stored.bytes_for("v1") is stored.raw
    assert event.line("v1") is event.line("v1")
    assert orjson.loads(stored.item_bytes("v1", True)).keys() == {"metadata"}


def test_events_are_one_storage_served_at_two_api_versions() -> None:
    registry = Registry()
    resolved = registry.resolve("events.k8s.io", "v1", "events")
    assert resolved is not None
    table, served = resolved
    assert served == "events.k8s.io/v1"
    body = {
        "apiVersion": served,
        "kind": "Event",
        "metadata": {"name": "e"},
        "note": "hi",
        "regarding": {"name": "x"},
    }
    stored = registry.create(table, "default", body, served)
    assert stored.obj["apiVersion"] == "v1"
    assert stored.obj["message"] == "hi"
    assert stored.obj["involvedObject"] == {"name": "x"}
    new = orjson.loads(stored.bytes_for(served))
    assert (new["apiVersion"], new["note"], new["regarding"]) == (served, "hi", {"name": "x"})
    patched = registry.patch(table, "default", "e", "merge", {"note": "bye"}, api_version=served)
    assert patched.obj["message"] == "bye"


def test_a_namespace_that_does_not_exist_refuses_objects() -> None:
    registry = Registry()
    with pytest.raises(ApiFailure) as info:
        registry.create(configmaps(registry), "nope", {"metadata": {"name": "a"}})
    assert (info.value.code, info.value.message) == (404, 'namespaces "nope" not found')


# -- patches ---------------------------------------------------------------------------------------


def test_merge_patch_deletes_with_null_and_replaces_lists() -> None:
    target = {"a": {"b": 1, "c": 2}, "l": [1, 2]}
    assert merge_patch(target, {"a": {"b": None, "d": 3}, "l": [3]}) == {"a": {"c": 2, "d": 3}, "l": [3]}
    assert target == {"a": {"b": 1, "c": 2}, "l": [1, 2]}


def test_json_patch_applies_every_operation_in_order() -> None:
    doc = {"a": [1, 2], "b": {"c": 1}}
    ops = [
        {"op": "add", "path": "/a/-", "value": 3},
        {"op": "replace", "path": "/b/c", "value": 2},
        {"op": "copy", "from": "/b", "path": "/d"},
        {"op": "move", "from": "/a/0", "path": "/e"},
        {"op": "remove", "path": "/b"},
        {"op": "test", "path": "/d/c", "value": 2},
    ]
    assert json_patch(doc, ops) == {"a": [2, 3], "d": {"c": 2}, "e": 1}
    with pytest.raises(PatchError):
        json_patch(doc, [{"op": "test", "path": "/a/0", "value": 9}])
    with pytest.raises(PatchError):
        json_patch(doc, [{"op": "remove", "path": "/missing"}])


def test_strategic_merge_honours_merge_keys_and_directives() -> None:
    target = {
        "metadata": {"finalizers": ["a"]},
        "spec": {
            "containers": [
                {"name": "web", "image": "1", "ports": [{"containerPort": 80, "name": "http"}]},
                {"name": "side", "image": "x"},
            ],
            "ports": [{"port": 80, "name": "http"}],
            "tolerations": [{"key": "a"}],
        },
    }
    patch = {
        "metadata": {"finalizers": ["b"], "$deleteFromPrimitiveList/finalizers": ["a"]},
        "spec": {
            "containers": [
                {"name": "web", "ports": [{"containerPort": 80, "protocol": "TCP"}]},
                {"name": "side", "$patch": "delete"},
            ],
            "ports": [{"port": 443}],
            "tolerations": [{"key": "b"}],
            "$setElementOrder/containers": [{"name": "web"}],
        },
    }
    result = strategic_merge_patch(target, patch)
    assert result["metadata"]["finalizers"] == ["b"]
    assert result["spec"]["containers"] == [
        {"name": "web", "image": "1", "ports": [{"containerPort": 80, "name": "http", "protocol": "TCP"}]}
    ]
    assert result["spec"]["ports"] == [{"port": 443}, {"port": 80, "name": "http"}]  # patch items first
    assert result["spec"]["tolerations"] == [{"key": "b"}]  # no merge key: replaced
    replaced = strategic_merge_patch(target, {"spec": {"$patch": "replace", "containers": []}})
    assert replaced["spec"] == {"containers": []}


def test_a_terminating_namespace_goes_away_once_finalized() -> None:
    registry = Registry()
    resolved = registry.resolve("", "v1", "namespaces")
    assert resolved is not None
    namespaces = resolved[0]
    registry.create(namespaces, None, {"metadata": {"name": "doomed"}})
    marked, gone = registry.delete(namespaces, None, "doomed")
    assert not gone and marked.obj["status"]["phase"] == "Terminating"
    registry.update(
        namespaces,
        None,
        "doomed",
        {"metadata": {"name": "doomed"}, "spec": {"finalizers": []}},
        subresource="finalize",
    )
    assert ("", "doomed") not in namespaces.objects


def test_custom_resources_are_pruned_defaulted_and_validated_by_their_schema() -> None:
    from pycontroller.testing.apiserver.schema import apply_schema

    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "maxLength": 5},
                    "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
                    "mode": {"type": "string", "enum": ["a", "b"]},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                },
            }
        },
    }
    obj = {
        "apiVersion": "x/v1",
        "kind": "K",
        "metadata": {"name": "n"},
        "spec": {"name": "ok", "junk": 1, "free": {"a": {"b": 1}}},
        "extra": 1,
    }
    pruned, causes = apply_schema(obj, schema)
    assert causes == []
    assert pruned == {
        "apiVersion": "x/v1",
        "kind": "K",
        "metadata": {"name": "n"},
        "spec": {"name": "ok", "free": {"a": {"b": 1}}, "replicas": 1},
    }
    _, causes = apply_schema({"spec": {"name": "toolong", "replicas": 11, "mode": "c"}}, schema)
    assert [(field, message) for _, field, message in causes] == [
        ("spec.mode", 'Unsupported value: "c": supported values: "a", "b"'),
        ("spec.name", 'Invalid value: "toolong": spec.name in body should be at most 5 chars long'),
        ("spec.replicas", "Invalid value: 11: spec.replicas in body should be less than or equal to 10"),
    ]
    _, causes = apply_schema({"spec": {"replicas": "x"}}, schema)
    assert [c[1] for c in causes] == ["spec.replicas", "spec.name"]
