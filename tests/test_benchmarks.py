"""The benchmark scripts stay runnable: they parse their flags, refuse bad ones, and print JSON.

Their numbers are judged by the scripts' own tables (never by timed assertions here).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ["apiserver", "controller", "informer", "queue_hot_path", "restmapper", "sharding", "webhook"]


def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / f"{script}.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


@pytest.mark.parametrize("script", SCRIPTS)
def test_each_benchmark_explains_its_flags(script: str) -> None:
    result = run(script, "--help")
    assert result.returncode == 0, result.stderr
    assert "--runs" in result.stdout and "--json" in result.stdout


@pytest.mark.parametrize("script", SCRIPTS)
def test_each_benchmark_refuses_an_unknown_flag(script: str) -> None:
    result = run(script, "--no-such-flag")
    assert result.returncode == 2
    assert "unrecognized arguments: --no-such-flag" in result.stderr


def test_the_queue_benchmark_prints_rows_with_targets_as_json() -> None:
    result = run("queue_hot_path", "--quick", "--runs", "1", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    names = [row["name"] for row in out["rows"]]
    assert any(name.startswith("(a) add/get/done") for name in names)
    assert any(name.startswith("(e) add_rate_limited") for name in names)
    assert all(row["value"] > 0 for row in out["rows"])


def test_the_webhook_benchmark_measures_reviews_through_https_as_json() -> None:
    result = run("webhook", "--quick", "--runs", "1", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)["rows"]}
    assert rows["reviews per server CPU-second, 32 callers"]["value"] > 0
    assert rows["  p99 latency, 32"]["value"] > 0
