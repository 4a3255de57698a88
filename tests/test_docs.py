"""Every code block in docs/ runs here, so the documentation cannot drift from the code.

Conventions:

* ```python blocks run in order, in one namespace per page, with top-level ``await``, against the
  ``api_server`` fixture: ``$KUBECONFIG`` points at it (so ``Manager()`` finds a cluster) and the
  working directory is the repository root. ``async def test_*`` functions a page defines are then
  called with the fixtures they name (``api_client``, ``rest_client``, ``namespace``, ``manager``,
  ``client``, ``api_server``).
* A block preceded by ``<!-- not-run: reason -->`` is shown, not run (a fragment of a sample, a
  program that runs until interrupted); the reason is required.
* ```yaml blocks must parse; ```sh, ```text and unlabelled blocks are not run.
"""

from __future__ import annotations

import ast
import gc
import inspect
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md"))
FENCE = re.compile(r"^```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
NOT_RUN = re.compile(r"<!--\s*not-run:\s*(?P<reason>[^>]*?)\s*-->\s*$")
FIXTURES = ("api_server", "api_client", "rest_client", "namespace", "manager", "client")


def blocks(path: Path) -> list[tuple[str, int, str, str | None]]:
    """(language, line, body, not-run reason or None) for each fenced block of ``path``."""
    text = path.read_text()
    found = []
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = NOT_RUN.search(before)
        found.append((m["lang"], line, m["body"], marker["reason"] if marker else None))
    return found


def test_every_page_has_code_blocks_and_no_marker_lacks_a_reason() -> None:
    assert DOCS, "docs/ has no pages"
    for page in DOCS:
        for lang, line, _body, reason in blocks(page):
            assert reason is None or reason.strip(), f"{page.name}:{line}: not-run needs a reason"
            if reason is not None:
                assert lang == "python", f"{page.name}:{line}: only python blocks need a not-run marker"


@pytest.mark.parametrize("page", DOCS, ids=[p.name for p in DOCS])
def test_yaml_blocks_parse(page: Path) -> None:
    for lang, line, body, _ in blocks(page):
        if lang == "yaml":
            assert list(yaml.safe_load_all(body)), f"{page.name}:{line}: empty YAML"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("page", DOCS, ids=[p.name for p in DOCS])
async def test_python_blocks_run(
    page: Path,
    kubeconfig: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_server: Any,
    api_client: Any,
    rest_client: Any,
    namespace: str,
    manager: Any,
    client: Any,
) -> None:
    fixtures = {
        "api_server": api_server,
        "api_client": api_client,
        "rest_client": rest_client,
        "namespace": namespace,
        "manager": manager,
        "client": client,
    }
    runnable = [
        (line, body) for lang, line, body, reason in blocks(page) if lang == "python" and reason is None
    ]
    if not runnable:
        pytest.skip(f"{page.name} has no runnable python block")
    gc.collect()  # controllers a page built in an earlier run release their names
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.chdir(ROOT)
    namespace: dict[str, Any] = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    for line, body in runnable:
        # Line numbers in tracebacks point into the page.
        code = compile("\n" * (line) + body, str(page), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        result = eval(code, namespace)
        if inspect.isawaitable(result):
            await result
    for name, fn in list(namespace.items()):
        if name.startswith("test_") and inspect.iscoroutinefunction(fn):
            wanted = inspect.signature(fn).parameters
            unknown = [p for p in wanted if p not in FIXTURES]
            assert not unknown, f"{page.name}: {name} asks for {unknown}; the docs harness offers {FIXTURES}"
            await fn(**{p: fixtures[p] for p in wanted})
