"""The Manager's HTTP endpoints: ``/metrics`` (Prometheus text), ``/healthz`` and ``/readyz``.

Health and readiness are lists of named checks, as in controller-runtime's healthz package. A check is
a function (plain or async) of no arguments; it passes when it returns ``None`` or ``True`` and fails
when it returns ``False`` or raises (the reason is withheld from the response, logged at debug).
``GET /healthz`` answers 200 ``ok`` when every check passes, else 500 listing ``[+]name ok`` /
``[-]name failed`` lines; ``?verbose`` lists them on success too; ``GET /healthz/<name>`` runs one.

:func:`parse_bind_address` reads controller-runtime's bind-address syntax (``":8080"`` all
interfaces, ``"127.0.0.1:0"`` an ephemeral port, ``"0"`` off); :class:`HTTPServer` reports the port
it actually bound in :attr:`HTTPServer.port`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from pycontroller.errors import ConfigError

__all__ = ["Check", "Checks", "HTTPServer", "parse_bind_address"]

log = logging.getLogger("pycontroller.healthz")

Check = Callable[[], "bool | Awaitable[bool | None] | None"]


def parse_bind_address(address: str | None) -> tuple[str, int] | None:
    """``(host, port)`` for a bind address, or None when serving is off (``"0"``, ``""`` or None).

    ``":8080"`` binds every interface; ``"[::1]:0"`` and ``"127.0.0.1:0"`` pick a free port. A malformed
    address raises ConfigError naming it.
    """
    if address is None or address in ("", "0"):
        return None
    if not isinstance(address, str):
        raise ConfigError(f"bind address must be a string like ':8080', got {type(address).__name__}")
    host, sep, port_text = address.rpartition(":")
    if not sep:
        raise ConfigError(
            f"bind address {address!r} must be host:port (':8080', '127.0.0.1:0') or '0' for off"
        )
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"bind address {address!r}: port {port_text!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"bind address {address!r}: port {port} is out of range")
    return host or "0.0.0.0", port


class Checks:
    """An ordered set of named checks (``healthz`` or ``readyz``)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._checks: dict[str, Check] = {}

    def add(self, name: str, check: Check) -> None:
        """Add a check; a name used twice raises ValueError. Never suspends."""
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"{self.kind} check name must be a non-empty string without '/', got {name!r}")
        if not callable(check):
            raise TypeError(f"{self.kind} check {name!r} must be callable, got {type(check).__name__}")
        if name in self._checks:
            raise ValueError(f"{self.kind} check {name!r} is already registered")
        self._checks[name] = check

    def names(self) -> list[str]:
        return list(self._checks)

    async def run_one(self, name: str) -> bool:
        check = self._checks[name]
        try:
            result: Any = check()
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:  # a failing check is an answer, not a crash
            log.debug("%s check %r failed: %s", self.kind, name, exc)
            return False
        return result is None or bool(result)

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info.get("name")
        if name:
            if name not in self._checks:
                return web.Response(status=404, text=f"no {self.kind} check named {name!r}\n")
            ok = await self.run_one(name)
            return web.Response(status=200 if ok else 500, text="ok" if ok else f"[-]{name} failed\n")
        lines = []
        all_ok = True
        for check_name in self._checks:
            ok = await self.run_one(check_name)
            all_ok &= ok
            lines.append(f"[+]{check_name} ok" if ok else f"[-]{check_name} failed: reason withheld")
        if all_ok and "verbose" not in request.query:
            return web.Response(text="ok")
        lines.append(f"{self.kind} check passed" if all_ok else f"{self.kind} check failed")
        return web.Response(status=200 if all_ok else 500, text="\n".join(lines) + "\n")


class HTTPServer:
    """One aiohttp server on one address. ``await start()`` binds; ``port`` is then the bound port."""

    def __init__(self, address: tuple[str, int], app: web.Application, *, what: str) -> None:
        self.host, self._port = address
        self.app = app
        self.what = what
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> None:
        """Bind and serve. Suspends briefly; raises ConfigError if the address cannot be bound."""
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(
                f"{self.what} cannot bind {self.host}:{self._port}: {exc.strerror or exc}"
            ) from None
        self._runner = runner
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self._port
        log.info("Starting %s server", self.what, extra={"bindAddress": f"{self.host}:{self.port}"})

    async def stop(self) -> None:
        """Stop serving (idempotent). Suspends until connections are closed."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()


def metrics_app(registry: CollectorRegistry) -> web.Application:
    """An app serving ``registry`` on ``GET /metrics`` in the Prometheus text format."""

    async def metrics(request: web.Request) -> web.Response:
        body = generate_latest(registry)
        resp = web.Response(body=body)
        resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        resp.charset = "utf-8"
        return resp

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    return app


def probes_app(healthz: Checks, readyz: Checks) -> web.Application:
    """An app serving ``/healthz``, ``/healthz/<name>``, ``/readyz`` and ``/readyz/<name>``."""
    app = web.Application()
    for path, checks in (("/healthz", healthz), ("/readyz", readyz)):
        app.router.add_get(path, checks.handle)
        app.router.add_get(path + "/{name}", checks.handle)
    return app
