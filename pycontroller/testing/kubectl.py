"""Fetch kubectl 1.20 (Debian's ``kubernetes-client`` package) into a private folder, for tests.

The API servers here speak Kubernetes 1.20, so the tests drive them with the kubectl of that
release, never with whatever kubectl the machine has installed. :func:`ensure_kubectl` downloads the
``.deb`` with ``apt-get download`` (no root needed, nothing installed system-wide), unpacks it with
``dpkg -x`` into ``cache_dir`` and returns the binary's path; later calls find it there and return at
once. A file lock keeps concurrent test runs from unpacking twice.

Set ``PYCONTROLLER_KUBECTL`` to the path of a kubectl binary to use it instead (nothing is fetched).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from pycontroller.errors import ConfigError

__all__ = ["KubectlUnavailableError", "ensure_kubectl"]

PACKAGE = "kubernetes-client"
ENV_OVERRIDE = "PYCONTROLLER_KUBECTL"


class KubectlUnavailableError(ConfigError):
    """kubectl 1.20 could not be found, downloaded or unpacked; the message says why."""


def _run(args: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(args, cwd=cwd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise KubectlUnavailableError(f"{' '.join(args)} did not finish within {timeout:g} s") from None
    except OSError as exc:
        raise KubectlUnavailableError(f"cannot run {args[0]}: {exc}") from None


def _tail(result: subprocess.CompletedProcess[bytes]) -> str:
    return (result.stderr or result.stdout)[-500:].decode("utf-8", "replace").strip()


def ensure_kubectl(cache_dir: str | os.PathLike[str], *, timeout: float = 60.0) -> Path:
    """Return the path of a kubectl 1.20 binary, fetching it into ``cache_dir`` the first time.

    Blocks (downloads take seconds; ``apt-get update`` is run once, bounded by ``timeout``, only if
    the package is unknown). Raises :class:`KubectlUnavailableError` when apt-get/dpkg are missing,
    the package cannot be downloaded, or the binary does not run.
    """
    override = os.environ.get(ENV_OVERRIDE)
    if override:
        path = Path(override)
        if not os.access(path, os.X_OK):
            raise KubectlUnavailableError(f"{ENV_OVERRIDE}={override} is not an executable file")
        return path
    root = Path(cache_dir).resolve()
    binary = root / PACKAGE / "usr" / "bin" / "kubectl"
    if os.access(binary, os.X_OK):
        return binary
    for tool in ("apt-get", "dpkg"):
        if shutil.which(tool) is None:
            raise KubectlUnavailableError(f"{tool} is not available to fetch Debian's {PACKAGE} package")
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{PACKAGE}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.access(binary, os.X_OK):  # another run fetched it while we waited
            return binary
        with tempfile.TemporaryDirectory(dir=root, prefix=".fetch-") as tmp:
            work = Path(tmp)
            result = _run(["apt-get", "download", PACKAGE], work, timeout)
            if result.returncode != 0:
                # the package lists may be missing (a fresh container): refresh them once
                _run(["apt-get", "update"], work, timeout)
                result = _run(["apt-get", "download", PACKAGE], work, timeout)
            debs = sorted(work.glob(f"{PACKAGE}_*.deb"))
            if result.returncode != 0 or not debs:
                raise KubectlUnavailableError(f"apt-get download {PACKAGE} failed: {_tail(result)}")
            unpacked = work / PACKAGE
            result = _run(["dpkg", "-x", str(debs[0]), str(unpacked)], work, timeout)
            if result.returncode != 0:
                raise KubectlUnavailableError(f"dpkg -x {debs[0].name} failed: {_tail(result)}")
            version = _run([str(unpacked / "usr" / "bin" / "kubectl"), "version", "--client"], work, 30)
            if version.returncode != 0:
                raise KubectlUnavailableError(f"the unpacked kubectl does not run: {_tail(version)}")
            os.replace(unpacked, root / PACKAGE)  # atomic: a half-unpacked folder is never seen
    return binary
