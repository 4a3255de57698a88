"""Run the in-memory API server in a separate process, for benchmarks and subprocess tests.

A benchmark measuring the client's CPU must not share its process with the server it talks to, so
:func:`fake_api_server_process` starts ``python -m pycontroller.testing serve`` on a free port,
waits until it answers ``/version`` (with a deadline), yields where it serves and its kubeconfig,
and stops it (SIGTERM, then SIGKILL) when the block ends, also when it fails.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pycontroller.errors import ConfigError

__all__ = ["ServedProcess", "fake_api_server_process", "free_port"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class ServedProcess:
    """A running ``serve`` process: its ``url``, the ``kubeconfig`` it wrote, the process, and
    ``log``, the file its output goes to."""

    url: str
    kubeconfig: Path
    process: subprocess.Popen[bytes]
    log: Path

    def expire_watches(self, timeout: float = 30.0) -> None:
        """Make the server forget its history and end every watch (SIGUSR1, see ``serve``): each
        client's reflector then gets 410 Expired and relists. Blocks (never suspends) until the
        server says it is done; ConfigError after ``timeout`` seconds or if the process is gone."""
        done = self.log.read_bytes().count(b"expired: ") + 1
        self.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while self.log.read_bytes().count(b"expired: ") < done:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise ConfigError(f"the in-memory API server at {self.url} did not expire its watches")
            time.sleep(0.01)


@contextmanager
def fake_api_server_process(
    workdir: Path,
    *,
    port: int | None = None,
    start_timeout: float = 30.0,
    stop_timeout: float = 5.0,
    load: Path | None = None,
) -> Iterator[ServedProcess]:
    """Serve a fresh in-memory API server from a child process for the duration of the block.

    The child's output goes to ``workdir/fake-<port>.log``. ``load``: a file of objects (one JSON
    object a line) the server creates before it serves (``serve --load``); give ``start_timeout``
    room for it (about 50 us per object).
    Blocks (never suspends) while the child starts. Raises :class:`ConfigError` with the end of the
    child's stderr when it exits or does not answer within ``start_timeout`` seconds.
    """
    port = port or free_port()
    kubeconfig = workdir / f"fake-{port}.kubeconfig"
    url = f"http://127.0.0.1:{port}"
    # Output goes to a file, not a pipe: an unread pipe would block a server that logs a lot.
    # The child's own "serving on" line is the readiness signal: a /version answer alone could come
    # from another process that holds the port.
    log_path = workdir / f"fake-{port}.log"
    log = log_path.open("wb")
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
            *(["--load", str(load)] if load is not None else []),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                err = log_path.read_bytes()[-800:].decode("utf-8", "replace")
                raise ConfigError(f"the in-memory API server did not start on {url}: {err.strip()}")
            if f"serving on {url}".encode() in log_path.read_bytes():
                try:
                    with urllib.request.urlopen(url + "/version", timeout=1):
                        break
                except OSError:
                    pass
            time.sleep(0.05)
        yield ServedProcess(url, kubeconfig, proc, log_path)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
