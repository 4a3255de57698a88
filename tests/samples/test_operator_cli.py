"""The copy and load-test operators' command line: flags, their variables, clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from samples.operator_cli import parse_operator_args

ROOT = Path(__file__).resolve().parents[2]


def test_operator_flags_come_from_prefixed_environment_variables() -> None:
    env = {
        "COPY_OPERATOR_WORKERS": "4",
        "COPY_OPERATOR_LEADER_ELECT": "on",
        "COPY_OPERATOR_METRICS_BIND_ADDRESS": "0",
        "COPY_OPERATOR_HEALTH_PROBE_BIND_ADDRESS": ":8081",
    }
    args = parse_operator_args("copy", "COPY_OPERATOR_", "", [], env)
    assert (args.workers, args.leader_elect) == (4, True)
    assert (args.metrics_bind_address, args.health_probe_bind_address) == ("0", ":8081")


def test_a_bad_operator_variable_exits_2_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_operator_args("lt", "LOADTEST_OPERATOR_", "", [], {"LOADTEST_OPERATOR_WORKERS": "many"})
    assert exit_info.value.code == 2
    assert "LOADTEST_OPERATOR_WORKERS='many'" in capsys.readouterr().err


@pytest.mark.parametrize("module", ["samples.copy_operator", "samples.loadtest_operator"])
def test_without_a_cluster_an_operator_says_so_and_exits_1(module: str, tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", module], cwd=ROOT, env=env, capture_output=True, text=True, timeout=50
    )
    assert proc.returncode == 1
    assert "no Kubernetes configuration found" in proc.stderr
    assert "Traceback" not in proc.stderr
