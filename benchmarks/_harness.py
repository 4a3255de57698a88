"""Shared plumbing for the benchmark scripts: repeated runs, medians, a table, and ``--json``.

Each benchmark script builds rows of measurements and calls :func:`report`. Targets are checked
here as ratios and thresholds in the printed table, never by timed assertions in tests.

    args = parse_args("queue hot path")          # --runs N, --json, --quick
    rows.append(Row("add/get/done", median_of(runs, fn), "cycles/s", target=1.5e6))
    report("queue hot path", rows, args)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Row", "median_of", "parse_args", "report", "timed"]


@dataclass
class Row:
    """One measured line: ``value`` in ``unit``; ``target`` and ``higher_is_better`` judge it."""

    name: str
    value: float
    unit: str
    target: float | None = None
    higher_is_better: bool = True
    runs: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return self.value >= self.target if self.higher_is_better else self.value <= self.target


def parse_args(
    description: str,
    argv: Sequence[str] | None = None,
    *,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """The common flags (--runs, --json, --quick) plus the script's own from ``add_arguments``.

    An unknown or malformed flag exits 2 with argparse's message, never silently ignored.
    """
    parser = argparse.ArgumentParser(description=description)
    if add_arguments is not None:
        add_arguments(parser)
    parser.add_argument("--runs", type=int, default=5, help="repetitions; the median is reported (default 5)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def median_of(runs: int, fn: Callable[[], float]) -> tuple[float, list[float]]:
    """Call ``fn`` ``runs`` times (it returns one measurement) and return (median, all values)."""
    values = [fn() for _ in range(runs)]
    return statistics.median(values), values


def timed(fn: Callable[[], Any]) -> float:
    """Seconds of wall time ``fn()`` takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _fmt(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def report(title: str, rows: list[Row], args: argparse.Namespace) -> None:
    """Print ``rows`` as a table, or as JSON with ``--json``."""
    env = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "runs": args.runs,
    }
    if args.json:
        out = {"benchmark": title, "env": env, "rows": [asdict(r) | {"met": r.met} for r in rows]}
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    print(f"# {title}  (python {env['python']}, {env['cpus']} cpus, median of {args.runs} runs)")
    width = max([len(r.name) for r in rows] + [10])
    print(f"{'benchmark':<{width}}  {'median':>10}  {'unit':<12} {'target':>10}  ok")
    for r in rows:
        target = "" if r.target is None else (">=" if r.higher_is_better else "<=") + _fmt(r.target)
        ok = {True: "yes", False: "NO", None: ""}[r.met]
        print(f"{r.name:<{width}}  {_fmt(r.value):>10}  {r.unit:<12} {target:>10}  {ok}  {r.note}")
