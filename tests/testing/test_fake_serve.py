"""``python -m pycontroller.testing serve``: a fake API server in its own process."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

DEADLINE = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> bytes:
    deadline = time.monotonic() + DEADLINE
    while True:
        if proc.poll() is not None:
            raise AssertionError(
                f"serve exited early with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''!r}"
            )
        try:
            with urllib.request.urlopen(url + "/version", timeout=1) as resp:
                return bytes(resp.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_runs_until_interrupted_and_writes_a_kubeconfig(tmp_path: Path, sig: signal.Signals) -> None:
    port = free_port()
    kubeconfig = tmp_path / "kubeconfig"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pycontroller.testing",
            "serve",
            "--port",
            str(port),
            "--kubeconfig",
            str(kubeconfig),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        assert b'"major":"1"' in wait_ready(url, proc)
        assert f"server: {url}" in kubeconfig.read_text()
        with urllib.request.urlopen(url + "/api/v1/namespaces/default", timeout=5) as resp:
            assert b'"name":"default"' in resp.read()
        proc.send_signal(sig)
        assert proc.wait(timeout=DEADLINE) == 0
        assert proc.stdout is not None
        assert f"serving on {url}" in proc.stdout.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["serve", "--port", "many"], "invalid int value"),
        (["serve", "--port", "70000"], "--port must be between"),
        (["serve", "--frobnicate"], "unrecognized arguments"),
        ([], "required"),
    ],
)
def test_a_bad_flag_exits_2_with_a_clear_message(args: list[str], complaint: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pycontroller.testing", *args],
        capture_output=True,
        timeout=DEADLINE,
        check=False,
    )
    assert proc.returncode == 2
    assert complaint in proc.stderr.decode()


def test_a_port_in_use_exits_1_with_a_clear_message() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "pycontroller.testing", "serve", "--port", str(port)],
            capture_output=True,
            timeout=DEADLINE,
            check=False,
        )
    assert proc.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr.decode()
