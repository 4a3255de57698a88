"""Helpers for the webhook tests: a started self-signed server and a client that trusts it."""

from __future__ import annotations

import base64
import contextlib
import ssl
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from pycontroller.webhook import WebhookServer


@contextlib.asynccontextmanager
async def serving(server: WebhookServer | None = None) -> AsyncIterator[WebhookServer]:
    server = server or WebhookServer(host="127.0.0.1", port=0, self_signed=True)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def trusting(server: WebhookServer) -> ssl.SSLContext:
    """A client TLS context trusting only the server's CA (hostname checked against the SANs)."""
    return ssl.create_default_context(cadata=server.ca_bundle.decode())


def admission_review(
    operation: str = "CREATE",
    obj: dict[str, Any] | None = None,
    old: dict[str, Any] | None = None,
    *,
    api_version: str = "admission.k8s.io/v1",
    uid: str | None = None,
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "uid": uid or str(uuid.uuid4()),
        "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
        "resource": {"group": "", "version": "v1", "resource": "configmaps"},
        "operation": operation,
        "namespace": "default",
        "name": "cm",
        "userInfo": {"username": "alice", "groups": ["devs"]},
        "dryRun": False,
    }
    if obj is not None:
        request["object"] = obj
    if old is not None:
        request["oldObject"] = old
    return {"apiVersion": api_version, "kind": "AdmissionReview", "request": request}


async def post(
    server: WebhookServer, path: str, body: Any, *, content_type: str = "application/json"
) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            server.url + path, data=data, headers={"Content-Type": content_type}, ssl=trusting(server)
        ) as resp,
    ):
        raw = await resp.read()
        try:
            return resp.status, orjson.loads(raw)
        except orjson.JSONDecodeError:
            return resp.status, raw.decode()


def patch_of(response: dict[str, Any]) -> list[dict[str, Any]]:
    assert response["patchType"] == "JSONPatch"
    ops: list[dict[str, Any]] = orjson.loads(base64.b64decode(response["patch"]))
    return ops
