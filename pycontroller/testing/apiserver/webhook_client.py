"""Calling webhooks over HTTPS for the fake server: URLs, service references, caBundles, timeouts.

:class:`WebhookClient` posts one review (AdmissionReview or ConversionReview) and returns the decoded
answer; anything that keeps it from getting a JSON answer with HTTP 200 raises :class:`CallFailed`
with the real server's wording (``Post "<url>?timeout=<n>s": ...``), which the caller turns into the
failure the failurePolicy asks for.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from typing import Any

import aiohttp
import orjson

__all__ = ["CallFailed", "WebhookClient"]


class CallFailed(Exception):
    """A webhook could not be called or answered nonsense (failurePolicy decides)."""


class WebhookClient:
    """Posts reviews; ``services`` maps ``(namespace, name)`` service references to base URLs."""

    def __init__(self) -> None:
        self.services: dict[tuple[str, str], str] = {}
        """(namespace, service name) -> base URL (``https://127.0.0.1:9443``) for service references."""
        self._contexts: dict[str, ssl.SSLContext] = {}

    def _ssl(self, ca_bundle: str | None) -> ssl.SSLContext:
        key = ca_bundle or ""
        ctx = self._contexts.get(key)
        if ctx is None:
            if ca_bundle:
                try:
                    ctx = ssl.create_default_context(cadata=base64.b64decode(ca_bundle).decode())
                except (ValueError, ssl.SSLError) as exc:
                    raise CallFailed(f"bad caBundle: {exc}") from None
            else:
                ctx = ssl.create_default_context()
            self._contexts[key] = ctx
        return ctx

    def _url(self, config: dict[str, Any]) -> str:
        if config.get("url"):
            return str(config["url"])
        service = config.get("service")
        if not isinstance(service, dict):
            raise CallFailed("clientConfig has neither url nor service")
        base = self.services.get((str(service.get("namespace")), str(service.get("name"))))
        if base is None:
            raise CallFailed(
                f"service {service.get('namespace')}/{service.get('name')} is not mapped to a local URL "
                "(FakeAPIServer.webhook_services)"
            )
        return base.rstrip("/") + str(service.get("path") or "")

    async def _post(self, config: dict[str, Any], review: dict[str, Any], timeout: int) -> Any:
        url = self._url(config)
        full = f"{url}{'&' if '?' in url else '?'}timeout={timeout}s"
        ctx = self._ssl(config.get("caBundle"))
        try:
            async with (
                asyncio.timeout(timeout),
                aiohttp.ClientSession() as session,
                session.post(
                    full,
                    data=orjson.dumps(review),
                    headers={"Content-Type": "application/json", "Accept": "application/json"},
                    ssl=ctx,
                ) as resp,
            ):
                raw = await resp.read()
                if resp.status != 200:
                    raise CallFailed(
                        f'Post "{full}": the server answered {resp.status}: {raw[:200].decode(errors="replace")}'
                    )
        except TimeoutError:
            raise CallFailed(f'Post "{full}": context deadline exceeded') from None
        except (aiohttp.ClientError, OSError, ssl.SSLError) as exc:
            raise CallFailed(f'Post "{full}": {exc}') from None
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise CallFailed(f"the webhook's answer is not JSON: {exc}") from None
