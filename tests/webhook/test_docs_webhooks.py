"""docs/webhooks.md runs: its python blocks in order (top-level await, one namespace), then its
``async def test_*`` functions with the fixtures they name, on both API servers."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

PAGE = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
FENCE = re.compile(r"^```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)


def blocks(lang: str) -> list[tuple[int, str]]:
    text = PAGE.read_text()
    return [
        (text.count("\n", 0, m.start()) + 1, m["body"]) for m in FENCE.finditer(text) if m["lang"] == lang
    ]


def test_yaml_blocks_parse() -> None:
    for _, body in blocks("yaml"):
        assert list(yaml.safe_load_all(body))


@pytest.mark.timeout(120)
async def test_python_blocks_run(api_server: Any, rest_client: Any, namespace: str) -> None:
    fixtures = {"api_server": api_server, "rest_client": rest_client, "namespace": namespace}
    scope: dict[str, Any] = {"__name__": "docs_webhooks"}
    runnable = blocks("python")
    assert runnable
    for line, body in runnable:
        code = compile("\n" * line + body, str(PAGE), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        result = eval(code, scope)
        if inspect.isawaitable(result):
            await result
    tests = [fn for name, fn in scope.items() if name.startswith("test_") and inspect.iscoroutinefunction(fn)]
    assert tests
    for fn in tests:
        await fn(**{p: fixtures[p] for p in inspect.signature(fn).parameters})
