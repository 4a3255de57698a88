"""The streaming list decoder gives exactly what decoding the whole body gives, however it is cut."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycontroller.cache.list_decode import ListDecoder
from pycontroller.errors import DecodeError

# Strings full of what the decoder looks for, so candidate boundaries land inside strings too.
tricky = st.text(alphabet=st.sampled_from(list('ab},{"\\:[]metadata')), max_size=30)
values = st.recursive(
    st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | tricky,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky, inner, max_size=3),
    max_leaves=8,
)
item = st.fixed_dictionaries(
    {
        "metadata": st.fixed_dictionaries(
            {"name": tricky, "labels": st.dictionaries(tricky, tricky, max_size=2)}
        )
    },
    optional={"data": st.dictionaries(tricky, values, max_size=3), "items": st.lists(values, max_size=2)},
)


def decode(body: bytes, cuts: list[int]) -> Any:
    decoder = ListDecoder("test")
    last = 0
    for cut in sorted(c % (len(body) + 1) for c in cuts):
        decoder.feed(body[last:cut])
        last = cut
    decoder.feed(body[last:])
    return decoder.finish()


@settings(max_examples=300, deadline=None)
@given(
    items=st.lists(item, max_size=6),
    cuts=st.lists(st.integers(min_value=0), max_size=8),
    newline=st.booleans(),
)
def test_any_list_cut_anywhere_decodes_like_the_whole_body(
    items: list[Any], cuts: list[int], newline: bool
) -> None:
    page = {"kind": "ConfigMapList", "apiVersion": "v1", "metadata": {"resourceVersion": "7"}, "items": items}
    body = orjson.dumps(page) + (b"\n" if newline else b"")
    assert decode(body, cuts) == page


@pytest.mark.parametrize(
    "body",
    [
        b'{"kind": "List", "items": [{"a": 1}, {"a": 2}]}',  # not compact: the whole-body path
        b'{"items":[{"a":1}],"kind":"List"}',  # items not last
        b'{"kind":"PartialObjectMetadataList","items":[]}\n',
        b"[1, 2]",
    ],
)
def test_other_shapes_fall_back_to_one_whole_decode(body: bytes) -> None:
    assert decode(body, [5, 17, 30]) == orjson.loads(body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"kind":"List","items":[{"a":1},{"a":',
        b"<html>oops</html>",
        b'{"kind":"List","items":[{"a":1},{x}]}',
    ],
)
def test_a_body_that_is_not_a_json_list_is_a_decode_error(body: bytes) -> None:
    with pytest.raises(DecodeError, match="list test"):
        decode(body, [10])
