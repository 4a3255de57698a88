"""The webhook server: admission and conversion webhooks over HTTPS, on aiohttp.

::

    server = WebhookServer(port=9443, cert_dir="/tmp/k8s-webhook-server/serving-certs")
    server.add_validator("samplecontroller.k8s.io/v1alpha1", "Foo", validate_foo)
    server.add_mutator("v1", "Pod", default_pod)
    server.add_conversion("samplecontroller.k8s.io", "Foo", "v1", {"v1alpha1": (to_v1, from_v1)})
    await server.start()          # or let the Manager start it (mgr.webhook_server)

Certificates come from ``cert_dir`` (``tls.crt`` and ``tls.key``, reloaded when they change, see
:class:`~pycontroller.webhook.certs.CertWatcher`) or, with ``self_signed=True``, from a CA and
serving certificate generated at start for ``hosts`` (written to ``cert_dir`` when given, else to a
private temporary directory removed at stop); :attr:`WebhookServer.ca_bundle` is then the PEM the
API server must trust (the ``caBundle`` of the webhook configurations).

Paths are controller-runtime's: ``/validate-<group with dashes>-<version>-<kind lowercase>``,
``/mutate-...`` and ``/convert`` for every conversion. Each path is instrumented with
controller-runtime's webhook metrics (:mod:`pycontroller.webhook.metrics`).

Bad input is answered, never crashes the server: a body that is not the expected review, or a
review without uid, gets HTTP 400 with a JSON Status naming the problem; a non-JSON content type
400; an unknown path 404; a method other than POST 405; a client speaking plain HTTP to the TLS
port gets ``400 Client sent an HTTP request to an HTTPS server.`` (Go's answer) and its connection
closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import ssl
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import attrs
import orjson
from aiohttp import web

from pycontroller.errors import ConfigError

from .admission import AdmissionFunc, AdmissionWebhook, ReviewError
from .certs import CertBundle, CertWatcher, generate_self_signed
from .conversion import ConversionFunc, ConversionWebhook, Converter
from .metrics import WebhookMetrics, webhook_metrics

__all__ = ["CONVERT_PATH", "Registration", "WebhookServer", "default_path", "guess_resource"]

log = logging.getLogger("pycontroller.webhook")

CONVERT_PATH = "/convert"
MAX_BODY_BYTES = 7 * 1024 * 1024  # controller-runtime's limit on a review body
_PLAIN_HTTP_ANSWER = (
    b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
    b"Client sent an HTTP request to an HTTPS server.\n"
)
_FIRST_BYTE_TIMEOUT = 10.0


class _Reviewer(Protocol):
    async def review(self, body: bytes) -> bytes: ...


def default_path(prefix: str, api_version: str, kind: str) -> str:
    """controller-runtime's path: ``/validate-samplecontroller-k8s-io-v1alpha1-foo``, ``/mutate--v1-pod``."""
    group, _, version = api_version.rpartition("/")
    return f"/{prefix}-{group.replace('.', '-')}-{version}-{kind.lower()}"


def guess_resource(kind: str) -> str:
    """The plural resource of ``kind`` by English rules (``Foo`` -> ``foos``, ``Policy`` -> ``policies``).

    Pass ``resource=`` when registering a webhook whose plural is irregular.
    """
    lower = kind.lower()
    if lower.endswith("y") and len(lower) > 1 and lower[-2] not in "aeiou":
        return lower[:-1] + "ies"
    if lower.endswith(("s", "x", "z", "ch", "sh")):
        return lower + "es"
    return lower + "s"


@attrs.frozen
class Registration:
    """One registered admission webhook, as :func:`~pycontroller.webhook.manifests` renders it."""

    type: str  # "validating" or "mutating"
    api_version: str
    kind: str
    path: str
    resource: str
    operations: tuple[str, ...]

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]


class _Route:
    __slots__ = ("metrics", "reviewer")

    def __init__(self, reviewer: _Reviewer, metrics: WebhookMetrics) -> None:
        self.reviewer = reviewer
        self.metrics = metrics


class WebhookServer:
    """Serves admission and conversion webhooks over HTTPS (see the module docstring).

    ``host`` ("" or "0.0.0.0": every interface) and ``port`` (9443; 0 picks a free one, then see
    :attr:`port`). Register webhooks before :meth:`start` or while serving; :meth:`stop` ends serving
    (open requests finish within ``shutdown_timeout``). A server starts once.
    """

    def __init__(
        self,
        *,
        host: str = "",
        port: int = 9443,
        cert_dir: str | os.PathLike[str] | None = None,
        self_signed: bool = False,
        hosts: Sequence[str] | None = None,
        cert_name: str = "tls.crt",
        key_name: str = "tls.key",
        cert_poll_interval: float = 1.0,
        shutdown_timeout: float = 5.0,
    ) -> None:
        if not self_signed and cert_dir is None:
            raise ConfigError(
                "WebhookServer needs cert_dir (holding tls.crt and tls.key) or self_signed=True"
            )
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise ConfigError(f"WebhookServer port must be 0..65535, got {port!r}")
        self.host = host
        self._port = port
        self.cert_dir = Path(cert_dir) if cert_dir is not None else None
        self.self_signed = self_signed
        if hosts is None:
            hosts = ["127.0.0.1", "localhost", "::1"]
            if host and host not in ("0.0.0.0", "::") and host not in hosts:
                hosts.insert(0, host)
        self.hosts = list(hosts)
        self._cert_name = cert_name
        self._key_name = key_name
        self._poll = cert_poll_interval
        self._shutdown_timeout = shutdown_timeout
        self._routes: dict[str, _Route] = {}
        self.registrations: list[Registration] = []
        self._conversion: ConversionWebhook | None = None
        self.bundle: CertBundle | None = None
        self.watcher: CertWatcher | None = None
        self._tmpdir: str | None = None
        self._runner: web.AppRunner | None = None
        self._sock: socket.socket | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._accept_task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._started = False
        self.port: int | None = None

    # -- registration -----------------------------------------------------------------------------

    def register(self, path: str, reviewer: _Reviewer) -> None:
        """Serve ``reviewer`` (anything with ``async review(body) -> bytes``) at ``path``."""
        if not path.startswith("/"):
            raise ValueError(f"a webhook path must start with '/', got {path!r}")
        if path in self._routes:
            raise ValueError(f"a webhook is already registered at {path!r}")
        self._routes[path] = _Route(reviewer, webhook_metrics(path))

    def add_validator(
        self,
        api_version: str,
        kind: str,
        fn: AdmissionFunc,
        path: str | None = None,
        *,
        resource: str | None = None,
        operations: Sequence[str] = ("CREATE", "UPDATE"),
    ) -> str:
        """Serve validator ``fn`` for ``kind`` at ``api_version``; returns the path. Never suspends."""
        return self._add_admission("validating", api_version, kind, fn, path, resource, operations)

    def add_mutator(
        self,
        api_version: str,
        kind: str,
        fn: AdmissionFunc,
        path: str | None = None,
        *,
        resource: str | None = None,
        operations: Sequence[str] = ("CREATE", "UPDATE"),
    ) -> str:
        """Serve mutator ``fn`` for ``kind`` at ``api_version``; returns the path. Never suspends."""
        return self._add_admission("mutating", api_version, kind, fn, path, resource, operations)

    def _add_admission(
        self,
        type_: str,
        api_version: str,
        kind: str,
        fn: AdmissionFunc,
        path: str | None,
        resource: str | None,
        operations: Sequence[str],
    ) -> str:
        if not kind or not api_version:
            raise ValueError("a webhook needs an apiVersion and a kind")
        bad = [op for op in operations if op not in ("CREATE", "UPDATE", "DELETE", "CONNECT", "*")]
        if bad or not operations:
            raise ValueError(
                f"operations must be among CREATE, UPDATE, DELETE, CONNECT, *; got {operations!r}"
            )
        prefix = "validate" if type_ == "validating" else "mutate"
        path = path or default_path(prefix, api_version, kind)
        self.register(path, AdmissionWebhook(fn, mutating=type_ == "mutating"))
        self.registrations.append(
            Registration(type_, api_version, kind, path, resource or guess_resource(kind), tuple(operations))
        )
        return path

    def add_conversion(
        self,
        group: str,
        kind: str,
        hub_version: str,
        spokes: Mapping[str, tuple[ConversionFunc, ConversionFunc]],
    ) -> str:
        """Convert ``kind`` of ``group`` through ``hub_version``; returns the path (``/convert``)."""
        if self._conversion is None:
            self._conversion = ConversionWebhook()
            self.register(CONVERT_PATH, self._conversion)
        self._conversion.add(Converter(group, kind, hub_version, spokes))
        return CONVERT_PATH

    @property
    def converters(self) -> list[Converter]:
        """The registered conversions."""
        return list(self._conversion.converters.values()) if self._conversion else []

    @property
    def paths(self) -> list[str]:
        return sorted(self._routes)

    # -- certificates -------------------------------------------------------------------------------

    @property
    def ca_bundle(self) -> bytes:
        """The PEM the API server must trust to call this server (after :meth:`start`)."""
        if self.watcher is None:
            raise RuntimeError("WebhookServer is not started: no certificate loaded yet")
        if self.bundle is not None:
            return self.bundle.ca_cert
        return self.watcher.ca_bundle()

    @property
    def url(self) -> str:
        """``https://HOST:PORT`` to reach this server (127.0.0.1 when bound to every interface)."""
        if self.port is None:
            raise RuntimeError("WebhookServer is not started")
        host = self.host if self.host and self.host not in ("0.0.0.0", "::") else "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"https://{host}:{self.port}"

    def _prepare_certs(self) -> CertWatcher:
        directory = self.cert_dir
        if self.self_signed:
            self.bundle = generate_self_signed(self.hosts)
            if directory is None:
                self._tmpdir = tempfile.mkdtemp(prefix="pycontroller-webhook-")
                directory = Path(self._tmpdir)
            self.bundle.write(directory)
        assert directory is not None
        try:
            return CertWatcher(
                directory, cert_name=self._cert_name, key_name=self._key_name, interval=self._poll
            )
        except FileNotFoundError as exc:
            raise ConfigError(str(exc)) from None

    # -- serving ------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the certificate, bind and serve. Suspends briefly.

        Raises ConfigError when the certificate cannot be loaded or the address bound.
        """
        if self._started:
            raise RuntimeError("WebhookServer.start(): a webhook server starts once")
        self._started = True
        self.watcher = self._prepare_certs()
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        for path in self._routes:  # exact paths resolve faster than the catch-all's pattern
            app.router.add_route("*", path, self._handle)
        app.router.add_route("*", "/{tail:.*}", self._handle)  # later registrations, 404, 405
        runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=self._shutdown_timeout
        )
        await runner.setup()
        host = self.host or "0.0.0.0"
        try:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.create_server((host, self._port), family=family, backlog=512)
        except OSError as exc:
            await runner.cleanup()
            self._cleanup_tmp()
            raise ConfigError(
                f"webhook server cannot bind {host}:{self._port}: {exc.strerror or exc}"
            ) from None
        sock.setblocking(False)
        self._sock = sock
        self._runner = runner
        self.port = int(sock.getsockname()[1])
        self._accept_task = asyncio.create_task(self._accept_loop(sock, runner), name="webhook-accept")
        self._watch_task = asyncio.create_task(self.watcher.run(), name="webhook-certwatcher")
        log.info(
            "Starting webhook server",
            extra={"bindAddress": f"{host}:{self.port}", "paths": self.paths},
        )

    @property
    def serving(self) -> bool:
        """Whether the server is listening."""
        return self._sock is not None

    async def started_check(self) -> bool:
        """Readiness: a TLS handshake with the server succeeds (controller-runtime's StartedChecker)."""
        if self.port is None or self._sock is None:
            return False
        host = self.host if self.host and self.host not in ("0.0.0.0", "::") else "127.0.0.1"
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            async with asyncio.timeout(5):
                _, writer = await asyncio.open_connection(host, self.port, ssl=ctx)
        except (OSError, TimeoutError, ssl.SSLError):
            return False
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
        return True

    async def _accept_loop(self, sock: socket.socket, runner: web.AppRunner) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(sock)
            except OSError as exc:  # out of file descriptors and the like: keep serving the others
                log.error("webhook server cannot accept a connection: %s", exc)
                await asyncio.sleep(0.1)
                continue
            task = asyncio.create_task(self._serve_connection(conn, runner))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve_connection(self, conn: socket.socket, runner: web.AppRunner) -> None:
        """Peek at the first byte: a TLS handshake goes to aiohttp, plain HTTP gets Go's 400."""
        loop = asyncio.get_running_loop()
        conn.setblocking(False)
        readable = loop.create_future()

        def ready() -> None:
            if not readable.done():
                readable.set_result(None)

        loop.add_reader(conn.fileno(), ready)
        try:
            async with asyncio.timeout(_FIRST_BYTE_TIMEOUT):
                await readable
            first = conn.recv(1, socket.MSG_PEEK)
        except (TimeoutError, OSError):
            conn.close()
            return
        finally:
            loop.remove_reader(conn.fileno())
        if not first:
            conn.close()
            return
        if first != b"\x16":  # not a TLS handshake record
            with contextlib.suppress(OSError):
                conn.send(_PLAIN_HTTP_ANSWER)
            conn.close()
            return
        server = runner.server
        if server is None or self.watcher is None:
            conn.close()
            return
        try:
            await loop.connect_accepted_socket(
                server, sock=conn, ssl=self.watcher.context, ssl_handshake_timeout=10.0
            )
        except (OSError, ssl.SSLError) as exc:
            log.debug("webhook TLS handshake failed: %s", exc)
            conn.close()

    async def _handle(self, request: web.Request) -> web.Response:
        route = self._routes.get(request.path)
        if route is None:
            return web.Response(status=404, text=f"no webhook is served at {request.path}\n")
        metrics = route.metrics
        metrics.in_flight += 1
        started = time.perf_counter()
        code = 500
        try:
            if request.method != "POST":
                code = 405
                return web.Response(status=405, text=f"{request.method} is not allowed; webhooks take POST\n")
            media = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
            try:
                if media != "application/json":
                    raise ReviewError(f"contentType={media or '(none)'}, expected application/json")
                body = await request.read()
                answer = await route.reviewer.review(body)
            except ReviewError as exc:
                code = exc.code
                return web.Response(
                    status=exc.code, body=_status_body(exc.code, exc.message), content_type="application/json"
                )
            code = 200
            return web.Response(body=answer, content_type="application/json")
        except web.HTTPRequestEntityTooLarge:
            code = 413
            return web.Response(
                status=413,
                body=_status_body(413, f"request body too large: limit is {MAX_BODY_BYTES} bytes"),
                content_type="application/json",
            )
        finally:
            metrics.in_flight -= 1
            metrics.observe(code, time.perf_counter() - started)

    async def stop(self) -> None:
        """Stop listening and close connections (open requests get ``shutdown_timeout`` seconds).

        Idempotent; suspends until done.
        """
        sock, self._sock = self._sock, None
        for task in (self._accept_task, self._watch_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._accept_task = self._watch_task = None
        if sock is not None:
            sock.close()
        pending = list(self._tasks)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            log.info("Webhook server stopped")
        self._cleanup_tmp()

    def _cleanup_tmp(self) -> None:
        tmp, self._tmpdir = self._tmpdir, None
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    async def run(self) -> None:
        """Start, serve until cancelled, then stop (for use as a plain runnable)."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()


def _status_body(code: int, message: str) -> bytes:
    return orjson.dumps(
        {"apiVersion": "v1", "kind": "Status", "status": "Failure", "message": message, "code": code}
    )
