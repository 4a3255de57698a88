"""The README's first command: the sample-controller, run as a user would, reaches convergence."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIRST_COMMAND = (
    "python3.11 -m venv .venv && .venv/bin/pip install -q -e . && "
    ".venv/bin/python -m samples.sample_controller --once"
)


def _user_env(home: Path) -> dict[str, str]:
    """The environment of a user without any cluster: no KUBECONFIG, an empty home, not in a pod."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "SAMPLE_CONTROLLER_"))}
    env["HOME"] = str(home)
    env.pop("KUBERNETES_SERVICE_HOST", None)
    return env


def test_the_readme_starts_with_the_sample_controller_demo() -> None:
    readme = (ROOT / "README.md").read_text()
    assert FIRST_COMMAND in readme
    first_block = readme.split("```", 2)[1]
    assert FIRST_COMMAND in first_block


@pytest.mark.timeout(60)
def test_the_demo_converges_and_exits_zero_without_any_cluster(tmp_path: Path) -> None:
    # The README's command minus the venv set-up, which the test run has already done.
    proc = subprocess.run(
        [sys.executable, "-m", "samples.sample_controller", "--once", "--timeout", "30"],
        cwd=ROOT,
        env=_user_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "no cluster configured" in out
    assert "Deployment default/example-foo created" in out
    assert "Foo default/example-foo status.availableReplicas=1" in out
    assert "Event Normal Synced on Foo default/example-foo: Foo synced successfully" in out
    assert "converged: default/example-foo" in out


@pytest.mark.timeout(60)
def test_the_demo_exits_non_zero_with_a_message_when_it_cannot_converge_in_time(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "samples.sample_controller", "--embedded", "--once", "--timeout", "0.001"],
        cwd=ROOT,
        env=_user_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert proc.returncode == 1
    assert "timed out after 0.001s waiting for the Foos to converge" in proc.stderr


@pytest.mark.timeout(60)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_without_once_the_demo_runs_until_a_signal_then_shuts_down_cleanly(
    sig: signal.Signals, tmp_path: Path
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "samples.sample_controller"],
        cwd=ROOT,
        env=_user_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout or ()], daemon=True).start()
        deadline = time.monotonic() + 40
        seen = ""
        while "status.availableReplicas=1" not in seen:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"the demo did not converge in time:\n{seen}"
            try:
                seen += lines.get(timeout=remaining)
            except queue.Empty:
                continue
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 0
        stderr = proc.stderr.read() if proc.stderr else ""
        assert "Traceback" not in stderr, stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
