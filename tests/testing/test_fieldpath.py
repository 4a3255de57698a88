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
