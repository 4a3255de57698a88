"""The computed merge patch always turns the original into the modified object (RFC 7386)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from pycontroller.mergepatch import apply_merge_patch, create_merge_patch

# JSON values without nulls: a merge patch cannot set a field to null (null deletes).
scalars = st.one_of(st.booleans(), st.integers(-5, 5), st.text(max_size=3))
keys = st.sampled_from(["a", "b", "c", "d"])
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)
objects = st.dictionaries(keys, values, max_size=4)


@given(objects, objects)
def test_applying_the_patch_to_the_original_gives_the_modified_object(
    original: dict[str, Any], modified: dict[str, Any]
) -> None:
    patch = create_merge_patch(original, modified)
    assert apply_merge_patch(original, patch) == modified


@given(objects)
def test_an_unchanged_object_gives_an_empty_patch(obj: dict[str, Any]) -> None:
    assert create_merge_patch(obj, obj) == {}
