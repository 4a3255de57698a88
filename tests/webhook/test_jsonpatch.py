"""RFC 6902 diff: applying diff(old, new) to old gives new, for any JSON documents."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycontroller.webhook.jsonpatch import JsonPatchError, apply, diff

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(alphabet="ab/~c", max_size=3), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values, json_values)
def test_applying_the_diff_turns_old_into_new(old: Any, new: Any) -> None:
    assert apply(old, diff(old, new)) == new


@given(json_values)
def test_equal_documents_have_an_empty_diff(doc: Any) -> None:
    assert diff(doc, doc) == []


def test_keys_with_slash_and_tilde_are_escaped() -> None:
    ops = diff({"metadata": {}}, {"metadata": {"labels": {"a/b~c": "x"}}})
    assert ops == [{"op": "add", "path": "/metadata/labels", "value": {"a/b~c": "x"}}]
    ops = diff({"m": {"a/b~c": "x"}}, {"m": {"a/b~c": "y"}})
    assert ops == [{"op": "replace", "path": "/m/a~1b~0c", "value": "y"}]


def test_a_bool_replacing_an_int_is_a_change() -> None:
    assert diff({"a": 1}, {"a": True}) == [{"op": "replace", "path": "/a", "value": True}]


def test_a_patch_that_does_not_apply_is_refused() -> None:
    with pytest.raises(JsonPatchError, match="no member"):
        apply({}, [{"op": "replace", "path": "/a", "value": 1}])
    with pytest.raises(JsonPatchError, match="unknown operation"):
        apply({}, [{"op": "frobnicate", "path": "/a"}])
