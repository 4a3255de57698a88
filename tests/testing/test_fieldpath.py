"""Field sets (pycontroller.testing.apiserver.fieldpath) against a model: a plain set of paths."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from pycontroller.testing.apiserver.fieldpath import (
    FIELD,
    INDEX,
    KEY,
    VALUE,
    FieldSet,
    element_from_string,
    element_to_string,
    path_string,
)

ELEMENTS = st.sampled_from(
    [
        (FIELD, "a"),
        (FIELD, "b"),
        (FIELD, "spec"),
        (KEY, (("name", "web"),)),
        (KEY, (("containerPort", 80), ("protocol", "TCP"))),
        (VALUE, "x"),
        (VALUE, 3),
        (INDEX, 0),
        (INDEX, 10),
    ]
)
PATHS = st.lists(
    st.tuples(ELEMENTS).flatmap(
        lambda first: st.lists(ELEMENTS, max_size=3).map(lambda rest: (*first, *rest))
    ),
    max_size=12,
)


def build(paths: list[tuple]) -> FieldSet:
    out = FieldSet()
    for path in paths:
        out.insert(path)
    return out


@given(PATHS)
def test_a_set_holds_exactly_the_inserted_paths(paths: list[tuple]) -> None:
    built = build(paths)
    assert set(built.paths()) == set(paths)
    assert all(built.has(p) for p in paths)
    assert built.empty() == (not paths)


@given(PATHS, PATHS)
def test_the_algebra_matches_set_operations(left: list[tuple], right: list[tuple]) -> None:
    a, b = build(left), build(right)
    assert set(a.union(b).paths()) == set(left) | set(right)
    assert set(a.intersection(b).paths()) == set(left) & set(right)
    assert set(a.difference(b).paths()) == set(left) - set(right)
    removed = {p for p in left if any(p[: len(q)] == q for q in right)}
    assert set(a.recursive_difference(b).paths()) == set(left) - removed
    assert set(a.paths()) == set(left)  # inputs unchanged


@given(PATHS)
def test_fields_v1_round_trips(paths: list[tuple]) -> None:
    built = build(paths)
    encoded = orjson.loads(orjson.dumps(built.to_fields()))
    assert FieldSet.from_fields(encoded) == built


def test_fields_v1_is_written_like_the_real_server() -> None:
    built = build(
        [
            ((FIELD, "data"),),
            ((FIELD, "data"), (FIELD, "k")),
            ((FIELD, "spec"), (FIELD, "ports"), (KEY, (("containerPort", 80), ("protocol", "TCP")))),
            (
                (FIELD, "spec"),
                (FIELD, "ports"),
                (KEY, (("containerPort", 80), ("protocol", "TCP"))),
                (FIELD, "name"),
            ),
            ((FIELD, "spec"), (FIELD, "tags"), (VALUE, "b")),
            ((FIELD, "spec"), (FIELD, "tags"), (VALUE, "a")),
            ((FIELD, "spec"), (FIELD, "args"), (INDEX, 1)),
        ]
    )
    assert orjson.dumps(built.to_fields()) == (
        b'{"f:data":{".":{},"f:k":{}},"f:spec":{"f:args":{"i:1":{}},'
        b'"f:ports":{"k:{\\"containerPort\\":80,\\"protocol\\":\\"TCP\\"}":{".":{},"f:name":{}}},'
        b'"f:tags":{"v:\\"a\\"":{},"v:\\"b\\"":{}}}}'
    )


def test_elements_parse_and_print() -> None:
    for text in ("f:name", 'k:{"name":"web"}', 'v:"x"', "v:3", "i:2"):
        assert element_to_string(element_from_string(text)) == text
    path = ((FIELD, "spec"), (FIELD, "containers"), (KEY, (("name", "web"),)), (FIELD, "image"))
    assert path_string(path) == '.spec.containers[name="web"].image'
    assert path_string(((FIELD, "tags"), (VALUE, "a"), (INDEX, 0))) == '.tags[="a"][0]'


def test_malformed_fields_are_refused() -> None:
    import pytest

    for bad in ({"x:1": {}}, {"f:a": 1}, [], {"k:[1]": {}}):
        with pytest.raises(ValueError):
            FieldSet.from_fields(bad)


def test_go_paths_replay_the_shared_slice_of_structured_merge_diff_v4_0_2() -> None:
    web = ((FIELD, "spec"), (FIELD, "containers"), (KEY, (("name", "web"),)))
    built = build(
        [(*web, (FIELD, "image")), (*web, (FIELD, "env"), (KEY, (("name", "A"),)), (FIELD, "value"))]
    )
    assert list(built.paths()) == [
        (*web, (FIELD, "image")),
        (*web, (FIELD, "env"), (KEY, (("name", "A"),)), (FIELD, "value")),
    ]
    # the member "image" was appended into spare capacity that the child "env" then reused
    assert built.go_paths() == [
        (*web, (FIELD, "env")),
        (*web, (FIELD, "env"), (KEY, (("name", "A"),)), (FIELD, "value")),
    ]


async def test_registered_resources_record_fields_and_take_applies(fake_api_server: object) -> None:
    """A kind the real OpenAPI lacks gets managedFields with shapes deduced from its values."""
    from typing import Any

    from pycontroller.client import RestClient

    server: Any = fake_api_server
    server.register_resource("metrics.example.com", "v1", "Gauge", "gauges")
    client = RestClient(server.new_client(), owns_api_client=True)
    try:
        path = "/apis/metrics.example.com/v1/namespaces/default/gauges/g"
        body = {
            "apiVersion": "metrics.example.com/v1",
            "kind": "Gauge",
            "metadata": {"name": "g"},
            "spec": {"v": 1},
        }
        applied = await client.request(
            "PATCH",
            path,
            body=orjson.dumps(body),
            content_type="application/apply-patch+yaml",
            query={"fieldManager": "m"},
        )
    finally:
        await client.close()
    (entry,) = applied["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"]) == ("m", "Apply")
    assert entry["fieldsV1"] == {"f:spec": {".": {}, "f:v": {}}}


def test_the_create_fast_path_equals_a_full_compare() -> None:
    from pycontroller.testing.apiserver.smd import builtin_type, changed_from_zero, compare, crd_type

    deployment = builtin_type("apps/v1", "Deployment")
    assert deployment is not None
    objects = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d", "labels": {"a": "b"}, "finalizers": ["x"]},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"a": "b"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}},
                "template": {
                    "metadata": {"creationTimestamp": None, "labels": {"a": "b"}},
                    "spec": {
                        "containers": [
                            {"name": "web", "image": "x", "ports": [{"containerPort": 80}], "resources": {}},
                            {"name": "side", "env": [{"name": "A", "value": "1"}], "args": ["--v"]},
                        ],
                        "securityContext": {},
                    },
                },
            },
            "status": {},
        },
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {}},
    ]
    for obj in objects:
        diff = compare({}, obj, deployment, True)
        assert changed_from_zero({}, obj, deployment, True) == diff.added.union(diff.modified)
    widget = crd_type(
        {
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "ports": {
                            "type": "array",
                            "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["name"],
                            "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                        },
                        "tags": {
                            "type": "array",
                            "x-kubernetes-list-type": "set",
                            "items": {"type": "string"},
                        },
                    },
                }
            },
        }
    )
    zero = {"apiVersion": "x/v1", "kind": "W"}
    obj = {**zero, "metadata": {"name": "w"}, "spec": {"ports": [{"name": "a"}], "tags": ["t"], "other": {}}}
    diff = compare(zero, obj, widget, False)
    assert changed_from_zero(zero, obj, widget, False) == diff.added.union(diff.modified)
