"""`pycontroller run`: flags and their variables, user mistakes as exit status 2, a real run."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pycontroller.cli import _FLAGS, _env_name, build_parser, parse_args

ROOT = Path(__file__).resolve().parents[1]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"HOME": str(tmp_path), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), **extra}


def _cli(tmp_path: Path, *args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pycontroller", *args],
        cwd=tmp_path,
        env=_env(tmp_path, PYTHONPATH=str(ROOT), **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_help_lists_every_flag_with_its_environment_variable() -> None:
    run = build_parser()._subparsers._group_actions[0].choices["run"]  # type: ignore[union-attr]
    text = " ".join(run.format_help().split())
    for _dest, flags, _kwargs, var, _convert in _FLAGS:
        assert flags[0] in text
        assert f"[${_env_name(var)}]" in text
    assert "-v" in text


def test_flags_come_from_environment_variables_and_flags_win() -> None:
    env = {
        "PYCONTROLLER_LEADER_ELECT": "yes",
        "PYCONTROLLER_NAMESPACE": "a, b",
        "PYCONTROLLER_METRICS_BIND_ADDRESS": "0",
        "PYCONTROLLER_LOG_FORMAT": "json",
        "PYCONTROLLER_GRACEFUL_SHUTDOWN_TIMEOUT": "5",
        "PYCONTROLLER_LEADER_ELECTION_NAMESPACE": "ops",
    }
    args = parse_args(["run", "my.operator", "--graceful-shutdown-timeout", "7"], env)
    assert args.leader_elect is True
    assert args.namespace == ["a", "b"]
    assert (args.metrics_bind_address, args.health_probe_bind_address) == ("0", ":8081")
    assert args.log_format == "json"
    assert args.graceful_shutdown_timeout == 7.0
    assert args.leader_election_id == "my.operator"
    assert args.leader_election_namespace == "ops"
    verbose = parse_args(["run", "m", "-v", "--log-level", "error", "--embedded"], {})
    assert verbose.log_level == 10
    assert (verbose.metrics_bind_address, verbose.health_probe_bind_address) == ("0", "0")


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["run", "m", "--log-format", "xml"], {}, "'xml' is not a log format"),
        (["run", "m", "--metrics-bind-address", "nowhere"], {}, "is not an address"),
        (["run", "m", "--bogus"], {}, "unrecognized arguments: --bogus"),
        (["run", "m"], {"PYCONTROLLER_LEADER_ELECT": "maybe"}, "PYCONTROLLER_LEADER_ELECT='maybe'"),
        (["run", "m", "--kubeconfig", "/nonexistent/kc"], {}, "no such file"),
        (["run", "m", "--embedded", "--master", "http://x"], {}, "--embedded runs its own API server"),
        ([], {}, "required: COMMAND"),
    ],
)
def test_a_bad_command_line_exits_2_with_a_message(
    argv: list[str], env: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        parse_args(argv, env)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("module", "target", "message"),
    [
        (None, "no_such_module", "cannot import 'no_such_module': no module named 'no_such_module'"),
        ("raise ZeroDivisionError('oops')\n", "broken", "importing 'broken' failed: ZeroDivisionError: oops"),
        ("X = 1\n", "quiet", "added no controller to the Manager"),
        ("X = 1\n", "quiet:setup", "module 'quiet' has no attribute 'setup'"),
        ("X = 1\n", "quiet:X", "not a function taking the Manager"),
        (
            "def setup(mgr):\n    mgr.controller('c').owns('v1', 'Secret').complete(lambda key: None)\n",
            "nofor:setup",
            "needs for_(api_version, kind)",
        ),
    ],
)
def test_a_module_that_fails_or_defines_no_controller_exits_2_without_a_traceback(
    tmp_path: Path, module: str | None, target: str, message: str
) -> None:
    if module is not None:
        (tmp_path / f"{target.split(':')[0]}.py").write_text(module)
    proc = _cli(tmp_path, "run", target, "--embedded")
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    if target == "broken":
        assert "broken.py:1" in proc.stderr  # where it failed


def test_the_module_runs_when_executed_as_python_dash_m_with_help(tmp_path: Path) -> None:
    proc = _cli(tmp_path, "run", "--help")
    assert proc.returncode == 0
    assert "$PYCONTROLLER_EMBEDDED" in " ".join(proc.stdout.split())


OPERATOR = textwrap.dedent(
    """
    import sys
    from pycontroller import current_manager

    async def reconcile(key):
        print("reconciled", key, flush=True)

    current_manager().controller("printer").for_("v1", "ConfigMap").complete(reconcile)
    """
)

SETUP = textwrap.dedent(
    """
    from pycontroller.client import GroupVersionResource

    async def setup(mgr):
        async def reconcile(key):
            print("reconciled", key, flush=True)

        mgr.controller("setup-printer").for_("v1", "ConfigMap").complete(reconcile)
        await mgr.get_api_reader().create(
            GroupVersionResource("", "v1", "configmaps"), {"metadata": {"name": "made-by-setup"}}, "default"
        )
    """
)


async def _run_until(proc: Any, wanted: bytes) -> None:
    assert proc.stdout is not None
    while True:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line, "the operator exited before printing " + wanted.decode()
        if wanted in line:
            return


@pytest.mark.timeout(90)
async def test_pycontroller_run_runs_import_time_builder_calls_against_a_kubeconfig(
    fake_api_server: Any, tmp_path: Path
) -> None:
    (tmp_path / "printer_operator.py").write_text(OPERATOR)
    kubeconfig = fake_api_server.write_kubeconfig(tmp_path / "kubeconfig")
    from pycontroller.client import GroupVersionResource, RestClient

    rest = RestClient(fake_api_server.new_client(), owns_api_client=True)
    await rest.create(GroupVersionResource("", "v1", "configmaps"), {"metadata": {"name": "cm"}}, "default")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pycontroller", "run", "printer_operator", "--kubeconfig", str(kubeconfig),
        "--metrics-bind-address", "0", "--health-probe-bind-address", "127.0.0.1:0", "--log-format", "json",
        cwd=tmp_path, env=_env(tmp_path, PYTHONPATH=str(ROOT)),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await _run_until(proc, b"reconciled default/cm")
        proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, stderr.decode()
        assert b"Traceback" not in stderr
        assert b'"msg":"Serving health probe on http://127.0.0.1:' in stderr  # JSON logs, bound port
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await rest.close()


@pytest.mark.timeout(90)
async def test_pycontroller_run_embedded_calls_an_async_setup_function(tmp_path: Path) -> None:
    (tmp_path / "setup_operator.py").write_text(SETUP)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pycontroller", "run", "setup_operator:setup", "--embedded",
        cwd=tmp_path, env=_env(tmp_path, PYTHONPATH=str(ROOT)),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await _run_until(proc, b"reconciled default/made-by-setup")
        proc.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, stderr.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_current_manager_outside_pycontroller_run_is_a_config_error() -> None:
    from pycontroller import ConfigError, current_manager

    with pytest.raises(ConfigError, match="pycontroller run"):
        current_manager()


def test_several_namespaces_need_a_multi_namespace_cache() -> None:
    import importlib.util

    from pycontroller.cli import UsageError, _manager_kwargs

    one = parse_args(["run", "m", "--namespace", "a", "--namespace", "a"], {})
    assert _manager_kwargs(one)["namespace"] == "a"
    two = parse_args(["run", "m", "--namespace", "a", "--namespace", "b"], {})
    if importlib.util.find_spec("pycontroller.cache.options") is None:
        with pytest.raises(UsageError, match="given 2 times"):
            _manager_kwargs(two)
    else:
        assert list(_manager_kwargs(two)["cache"].default_namespaces) == ["a", "b"]
