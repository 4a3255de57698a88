"""eventf formats like Go's fmt.Sprintf, so messages match client-go operators' word for word."""

from __future__ import annotations

import pytest

from pycontroller.record import go_sprintf


@pytest.mark.parametrize(
    ("fmt", "args", "expected"),
    [
        (
            "Resource %q already exists and is not managed by Foo",
            ("web",),
            'Resource "web" already exists and is not managed by Foo',
        ),
        ("%s has %d replicas", ("web", 3), "web has 3 replicas"),
        ("%v %v %v %v", (True, None, 1.5, [1, 2]), "true <nil> 1.5 [1 2]"),
        ("%v %v", (1e6, 100000.0), "1e+06 100000"),
        ("%5d|%-5s|%05.1f|%x|%X|%t", (42, "ab", 3.14159, 255, 255, False), "   42|ab   |003.1|ff|FF|false"),
        ("100%% done", (), "100% done"),
        ("%d", ("x",), "%!d(string=x)"),
        ("%s and %s", ("a",), "a and %!s(MISSING)"),
        ("done", (1, "b"), "done%!(EXTRA int=1, string=b)"),
        ("%T %T", (1, "s"), "int string"),
    ],
)
def test_go_verbs_render_as_go_renders_them(fmt: str, args: tuple[object, ...], expected: str) -> None:
    assert go_sprintf(fmt, *args) == expected
