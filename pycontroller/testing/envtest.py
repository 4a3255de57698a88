"""Run the real etcd + kube-apiserver from ``KUBEBUILDER_ASSETS`` for integration tests.

:class:`EnvTest` is controller-runtime's envtest for Python, with the surface of
:class:`pycontroller.testing.FakeAPIServer`::

    async with EnvTest() as server:
        async with server.new_client() as api:          # a kubernetes_asyncio ApiClient
            ...
        server.write_kubeconfig("kubeconfig")          # for kubectl and friends

Starting: find the binaries (:class:`MissingAssetsError` if absent), make a temp dir, an RSA
service-account key (``openssl genrsa``) and a token file, launch etcd and kube-apiserver on free
127.0.0.1 ports (their output goes to files in the temp dir), and poll ``/readyz`` and the
``default`` namespace until ``start_timeout``. On any failure both processes are stopped (SIGTERM,
SIGKILL after ``stop_timeout``), the temp dir removed, and a :class:`StartError` raised with the tail
of the failing process's log; a port taken between picking and binding is retried.

Clients authenticate with a bearer token (``token``, never printed or put in errors) and trust the
self-signed certificate kube-apiserver writes under ``--cert-dir`` (``ca_file``). Like envtest there
are no controllers: no garbage collector, no namespace finalizer, no Deployment controller.

:meth:`start_sync` / :meth:`stop_sync` block (for a pytest session fixture without a loop);
:meth:`start` / :meth:`stop` wait without blocking the loop. An ``atexit`` hook stops what is still
running, and on Linux the servers get SIGKILL if the process that started them (from its main
thread) dies.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import orjson

from pycontroller.errors import ConfigError

from .crd_install import CRDSource, install_crds_http, load_crds

__all__ = ["EnvTest", "MissingAssetsError", "StartError", "find_assets"]

ASSETS_ENV = "KUBEBUILDER_ASSETS"
_TAIL_BYTES = 3000
_RUNNING: weakref.WeakSet[EnvTest] = weakref.WeakSet()


class MissingAssetsError(ConfigError):
    """``KUBEBUILDER_ASSETS`` is unset, or does not hold executable ``etcd`` and ``kube-apiserver``."""


class StartError(ConfigError):
    """etcd or kube-apiserver exited or did not become ready in time; the message ends with its log tail."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_taken(exc: BaseException) -> bool:
    """A start failure because a picked port was taken meanwhile (retried with new ports)."""
    return isinstance(exc, StartError) and "address already in use" in str(exc)


def _pdeathsig_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to SIGKILL the child when its parent dies, or None elsewhere.

    libc's ``prctl`` is resolved here, in the parent, so the child runs no dynamic loading or
    imports between fork and exec (which could deadlock on a lock held by another thread).
    """
    if sys.platform != "linux":
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    option, sig = ctypes.c_int(1), ctypes.c_ulong(int(signal.SIGKILL))  # PR_SET_PDEATHSIG

    def hook() -> None:  # pragma: no cover - runs in the child
        prctl(option, sig)

    return hook


_PDEATHSIG = _pdeathsig_hook()


def find_assets(assets_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding ``etcd`` and ``kube-apiserver``: ``assets_dir`` or ``$KUBEBUILDER_ASSETS``.

    Raises :class:`MissingAssetsError` naming what is missing. Never suspends.
    """
    raw = os.fspath(assets_dir) if assets_dir is not None else os.environ.get(ASSETS_ENV, "")
    if not raw:
        raise MissingAssetsError(
            f"{ASSETS_ENV} is not set: point it at a folder holding the etcd and kube-apiserver binaries"
        )
    folder = Path(raw)
    missing = [n for n in ("etcd", "kube-apiserver") if not os.access(folder / n, os.X_OK)]
    if missing:
        raise MissingAssetsError(f"{folder}: no executable {' or '.join(missing)} there ({ASSETS_ENV})")
    return folder


class EnvTest:
    """A real etcd + kube-apiserver pair on 127.0.0.1, started and stopped by this object.

    Arguments: ``assets_dir`` (default ``$KUBEBUILDER_ASSETS``), ``start_timeout`` (seconds to reach
    readiness, default 60), ``stop_timeout`` (seconds between SIGTERM and SIGKILL, default 10),
    ``token`` (the bearer token of the ``system:masters`` user ``admin``), ``extra_apiserver_args``,
    ``crds`` (CRD files, directories or dicts installed before start returns, each Established and
    served, like controller-runtime's CRDInstallOptions; see :mod:`pycontroller.testing.crd_install`)
    and ``crd_install_timeout`` (seconds they may take, default 10).

    ``url``, ``ca_file``, ``token`` and ``tmpdir`` are valid while started. Not thread-safe; start and
    stop it from one thread. After :meth:`stop` it may be started again (new ports, empty etcd).
    """

    def __init__(
        self,
        assets_dir: str | os.PathLike[str] | None = None,
        *,
        start_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        token: str = "admintoken",
        extra_apiserver_args: list[str] | None = None,
        crds: Iterable[CRDSource] = (),
        crd_install_timeout: float = 10.0,
    ) -> None:
        if start_timeout <= 0 or stop_timeout < 0:
            raise ValueError("start_timeout must be > 0 and stop_timeout >= 0")
        if not token or "," in token or "\n" in token:
            raise ValueError("token must be non-empty and hold no comma or newline")
        self._assets_dir = assets_dir
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.token = token
        self._extra_args = list(extra_apiserver_args or [])
        self._crds = load_crds(crds)  # read now: a bad file fails here, naming it
        self.crd_install_timeout = crd_install_timeout
        self._tmpdir: Path | None = None
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: dict[str, IO[bytes]] = {}
        self._url: str | None = None
        self._pending_url = ""
        self._etcd_url = ""

    def __repr__(self) -> str:  # never shows the token
        return f"<EnvTest url={self._url!r} running={self.running}>"

    # -- properties ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True between a successful start and stop."""
        return self._url is not None

    @property
    def url(self) -> str:
        """``https://127.0.0.1:<port>``. Raises RuntimeError when not started."""
        if self._url is None:
            raise RuntimeError("EnvTest is not started")
        return self._url

    @property
    def etcd_url(self) -> str:
        """``http://127.0.0.1:<port>`` of etcd (its v3 HTTP gateway, e.g. to force a compaction)."""
        if self._url is None:
            raise RuntimeError("EnvTest is not started")
        return self._etcd_url

    @property
    def tmpdir(self) -> Path:
        """The temporary folder holding etcd's data, certificates and logs (removed on stop)."""
        if self._tmpdir is None:
            raise RuntimeError("EnvTest is not started")
        return self._tmpdir

    @property
    def ca_file(self) -> Path:
        """The PEM file to trust: kube-apiserver's self-signed certificate and its CA."""
        return self.tmpdir / "certs" / "apiserver.crt"

    # -- start -----------------------------------------------------------------------------------

    def start_sync(self) -> None:
        """Start etcd and kube-apiserver and block until ready. Raises ConfigError subclasses.

        On failure nothing is left running and the temp dir is gone. Idempotent when running.
        """
        if self.running:
            return
        assets = find_assets(self._assets_dir)
        deadline = time.monotonic() + self.start_timeout
        for attempt in range(3):
            try:
                self._prepare()
                self._launch(assets)
                while not self._poll_ready():
                    if time.monotonic() > deadline:
                        raise self._start_error("kube-apiserver", f"not ready after {self.start_timeout:g} s")
                    time.sleep(0.1)
                self._install(self._crds)
            except BaseException as exc:
                self._cleanup()
                if not (_port_taken(exc) and attempt < 2):
                    raise
            else:
                return

    async def start(self) -> None:
        """Async :meth:`start_sync`: suspends until ready; cancelling it stops what was launched."""
        if self.running:
            return
        assets = find_assets(self._assets_dir)
        deadline = time.monotonic() + self.start_timeout
        for attempt in range(3):
            # The key is made in a thread; the processes are spawned from this thread (see _spawn).
            try:
                await asyncio.to_thread(self._prepare)
                self._launch(assets)
                while not await asyncio.to_thread(self._poll_ready):
                    if time.monotonic() > deadline:
                        raise self._start_error("kube-apiserver", f"not ready after {self.start_timeout:g} s")
                    await asyncio.sleep(0.1)
                await asyncio.to_thread(self._install, self._crds)
            except StartError as exc:
                await asyncio.to_thread(self._cleanup)
                if not (_port_taken(exc) and attempt < 2):
                    raise
            except BaseException:
                self._cleanup()  # cancelled: stop now, without awaiting
                raise
            else:
                return

    def _prepare(self) -> None:
        """Make the temp dir, the service-account key and the token file. Blocks (openssl)."""
        tmp = Path(tempfile.mkdtemp(prefix="pycontroller-envtest-"))
        self._tmpdir = tmp
        try:
            self._make_key(tmp / "sa.key")
            fd = os.open(tmp / "tokens.csv", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(f"{self.token},admin,admin,system:masters\n")
        except BaseException:
            self._cleanup()
            raise

    def _launch(self, assets: Path) -> None:
        """Spawn both processes on fresh free ports (does not wait). Needs :meth:`_prepare` first."""
        tmp = self.tmpdir
        key = tmp / "sa.key"
        tokens = tmp / "tokens.csv"
        _RUNNING.add(self)  # from here on the atexit hook stops whatever was spawned
        try:
            eport, pport, aport = _free_port(), _free_port(), _free_port()
            while len({eport, pport, aport}) < 3:
                pport, aport = _free_port(), _free_port()
            etcd_args = [
                str(assets / "etcd"),
                f"--data-dir={tmp / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{eport}",
                f"--advertise-client-urls=http://127.0.0.1:{eport}",
                f"--listen-peer-urls=http://127.0.0.1:{pport}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{pport}",
                f"--initial-cluster=default=http://127.0.0.1:{pport}",
                "--log-level=error",
                "--logger=zap",
            ]
            api_args = [
                str(assets / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{eport}",
                f"--secure-port={aport}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--token-auth-file={tokens}",
                f"--cert-dir={tmp / 'certs'}",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-account-key-file={key}",
                f"--service-account-signing-key-file={key}",
                "--authorization-mode=AlwaysAllow",
                "--disable-admission-plugins=ServiceAccount",
                *self._extra_args,
            ]
            self._spawn("etcd", etcd_args)
            self._spawn("kube-apiserver", api_args)
        except BaseException:
            self._cleanup()
            raise
        self._pending_url = f"https://127.0.0.1:{aport}"
        self._etcd_url = f"http://127.0.0.1:{eport}"

    def _make_key(self, key: Path) -> None:
        openssl = shutil.which("openssl")
        if openssl is None:
            raise StartError("openssl is needed to make the service-account key and is not on PATH")
        result = subprocess.run(
            [openssl, "genrsa", "-out", str(key), "2048"], capture_output=True, timeout=60, check=False
        )
        if result.returncode != 0:
            tail = result.stderr[-_TAIL_BYTES:].decode("utf-8", "replace")
            raise StartError(f"openssl genrsa failed ({result.returncode}):\n{tail}")

    def _spawn(self, name: str, args: list[str]) -> None:
        log = open(self.tmpdir / f"{name}.log", "wb")
        self._logs[name] = log
        on_main = threading.current_thread() is threading.main_thread()
        try:
            self._procs[name] = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.tmpdir,
                preexec_fn=_PDEATHSIG if on_main else None,
            )
        except OSError as exc:
            raise StartError(f"cannot run {args[0]}: {exc}") from None

    def _poll_ready(self) -> bool:
        """One readiness probe: True when /readyz is ok and the default namespace exists."""
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                raise self._start_error(name, f"exited with code {proc.returncode} during start")
        url = self._pending_url
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            for path in ("/readyz", "/api/v1/namespaces/default"):
                req = urllib.request.Request(url + path, headers=headers)
                with urllib.request.urlopen(req, timeout=2, context=ctx) as resp:
                    if resp.status != 200:
                        return False
        except (OSError, urllib.error.URLError):
            return False
        self._url = url
        return True

    def _start_error(self, name: str, what: str) -> StartError:
        return StartError(f"{name} {what}; last output:\n{self.log_tail(name)}")

    def log_tail(self, name: str, size: int = _TAIL_BYTES) -> str:
        """The last ``size`` bytes of ``etcd``'s or ``kube-apiserver``'s output (token redacted)."""
        if self._tmpdir is None:
            return ""
        path = self._tmpdir / f"{name}.log"
        try:
            with open(path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - size))
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return text.replace(self.token, "<token>")

    # -- CRDs ------------------------------------------------------------------------------------

    def install_crds(self, crds: Iterable[CRDSource], *, timeout: float | None = None) -> None:
        """Install CRDs (files, directories, dicts) on the running server and wait until served.

        Blocks up to ``timeout`` seconds (default ``crd_install_timeout``). A CRD that exists is
        updated. Raises :class:`~pycontroller.testing.crd_install.CRDInstallError` naming the file or
        CRD, :class:`~pycontroller.testing.crd_install.CRDNotEstablishedError` naming one that is not
        Established and served in time, RuntimeError when not started.
        """
        if self._url is None:
            raise RuntimeError("EnvTest is not started")
        self._install(load_crds(crds), timeout)

    def _install(self, crds: list[dict[str, Any]], timeout: float | None = None) -> None:
        if not crds:
            return
        url = self._url or self._pending_url
        context = ssl.create_default_context(cafile=str(self.ca_file))
        context.check_hostname = False  # the certificate names the advertise address
        install_crds_http(
            url,
            {"Authorization": f"Bearer {self.token}"},
            context,
            crds,
            timeout=self.crd_install_timeout if timeout is None else timeout,
        )

    # -- stop ------------------------------------------------------------------------------------

    def stop_sync(self) -> None:
        """Stop kube-apiserver then etcd (SIGTERM, SIGKILL after ``stop_timeout``), remove the temp dir.

        Blocks up to ``2 * stop_timeout``. Idempotent; safe after a failed start."""
        self._cleanup()

    async def stop(self) -> None:
        """Async :meth:`stop_sync` (runs it in a thread). Idempotent."""
        await asyncio.to_thread(self._cleanup)

    def _cleanup(self) -> None:
        self._url = None
        for name in ("kube-apiserver", "etcd"):
            proc = self._procs.pop(name, None)
            if proc is None:
                continue
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=self.stop_timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for log in self._logs.values():
            log.close()
        self._logs.clear()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
        _RUNNING.discard(self)

    # -- knobs -----------------------------------------------------------------------------------

    def compact(self) -> int:
        """Compact etcd at its current revision (as kube-apiserver does every 5 min); returns it. Blocks.

        Lists at older resourceVersions (Exact, continue tokens) then get 410 Expired; watches are
        served from kube-apiserver's watch cache and are not affected.
        """
        revision = int(self._etcd_call("/v3/kv/range", {"key": "AA==", "limit": 1})["header"]["revision"])
        self._etcd_call("/v3/kv/compaction", {"revision": str(revision), "physical": True})
        return revision

    def _etcd_call(self, path: str, body: dict[str, Any]) -> Any:
        req = urllib.request.Request(
            self.etcd_url + path, data=orjson.dumps(body), headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return orjson.loads(resp.read())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"etcd {path} failed: {exc}") from None

    # -- clients ---------------------------------------------------------------------------------

    def new_client(self, *, verify: bool = True) -> Any:
        """A new kubernetes_asyncio ``ApiClient`` (call it in a running loop; the caller closes it).

        ``verify=True`` trusts :attr:`ca_file`; ``verify=False`` skips TLS verification."""
        from kubernetes_asyncio.client import ApiClient, Configuration

        config = Configuration(
            host=self.url,
            api_key={"BearerToken": self.token},
            api_key_prefix={"BearerToken": "Bearer"},
        )
        if verify:
            config.ssl_ca_cert = str(self.ca_file)
        else:
            config.verify_ssl = False
        return ApiClient(configuration=config)

    def kubeconfig(self, *, context: str = "envtest") -> dict[str, Any]:
        """The kubeconfig (as a dict) for this server: one cluster, user (the token) and ``context``."""
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": context, "cluster": {"server": self.url, "certificate-authority": str(self.ca_file)}}
            ],
            "users": [{"name": context, "user": {"token": self.token}}],
            "contexts": [
                {"name": context, "context": {"cluster": context, "user": context, "namespace": "default"}}
            ],
            "current-context": context,
            "preferences": {},
        }

    def write_kubeconfig(self, path: str | os.PathLike[str], *, context: str = "envtest") -> Path:
        """Write :meth:`kubeconfig` to ``path`` (JSON, which kubeconfig loaders accept; mode 0600).

        Creates missing parent folders; returns the path. The file holds the token: keep it private.
        """
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(orjson.dumps(self.kubeconfig(context=context), option=orjson.OPT_INDENT_2))
        return target

    # -- context managers ------------------------------------------------------------------------

    async def __aenter__(self) -> EnvTest:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def __enter__(self) -> EnvTest:
        self.start_sync()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_sync()


@atexit.register
def _stop_all() -> None:  # pragma: no cover - interpreter exit
    for env in list(_RUNNING):
        with contextlib.suppress(Exception):
            env.stop_sync()
