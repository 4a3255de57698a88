"""benchmarks/sharding.py stays runnable: its simulation prints rows as JSON, quickly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_ring_simulation_prints_load_and_movement_rows() -> None:
    result = subprocess.run(
        [sys.executable, "benchmarks/sharding.py", "--simulate-only", "--keys", "3000", "--ring-sizes", "10",
         "--runs", "1", "--json"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row["value"] for row in json.loads(result.stdout)["rows"]}
    assert 1.0 <= rows["[sim 10 shards] load max/mean"] < 1.6
    assert 0.0 < rows["[sim 10 shards] moved on join"] < 0.2
