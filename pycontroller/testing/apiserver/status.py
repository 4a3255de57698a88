"""Kubernetes ``Status`` failures, shaped like the real API server's.

Handlers raise :class:`ApiFailure`; the server turns it into a JSON ``Status`` body with the HTTP
code. Helper constructors carry the real server's messages (for instance the conflict text clients
match on) and ``details`` (``kind`` is the plural resource name, ``group`` only for non-core groups).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

__all__ = [
    "ApiFailure",
    "already_exists",
    "bad_request",
    "conflict",
    "expired",
    "invalid",
    "json_response",
    "not_found",
    "resource_not_found",
    "status_body",
]


def status_body(
    code: int,
    reason: str,
    message: str,
    details: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A failure ``Status`` object."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": metadata or {},
        "status": "Failure",
        "message": message,
    }
    if reason:
        body["reason"] = reason
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


class ApiFailure(Exception):
    """A request the fake server refuses: HTTP ``code`` with a ``Status`` body (and extra headers)."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}
        self.metadata: dict[str, Any] = {}

    def status(self) -> dict[str, Any]:
        return status_body(self.code, self.reason, self.message, self.details, self.metadata)

    def body(self) -> bytes:
        return orjson.dumps(self.status())


def qualified(group: str, resource: str) -> str:
    """``configmaps`` for core, ``foos.example.com`` otherwise (how messages name a resource)."""
    return f"{resource}.{group}" if group else resource


def _details(group: str, resource: str, name: str | None, **extra: Any) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if name is not None:
        details["name"] = name
    if group:
        details["group"] = group
    details["kind"] = resource
    details.update(extra)
    return details


def not_found(group: str, resource: str, name: str) -> ApiFailure:
    return ApiFailure(
        404, "NotFound", f'{qualified(group, resource)} "{name}" not found', _details(group, resource, name)
    )


def already_exists(group: str, resource: str, name: str) -> ApiFailure:
    return ApiFailure(
        409,
        "AlreadyExists",
        f'{qualified(group, resource)} "{name}" already exists',
        _details(group, resource, name),
    )


def conflict(group: str, resource: str, name: str, why: str | None = None) -> ApiFailure:
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return ApiFailure(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified(group, resource)} "{name}": {why}',
        _details(group, resource, name),
    )


def invalid(group: str, kind: str, name: str, causes: list[tuple[str, str, str]]) -> ApiFailure:
    """422 Invalid; ``causes`` are (reason, field, message) like ``FieldValueRequired``."""
    text = ", ".join(f"{field}: {msg}" for _, field, msg in causes)
    if len(causes) > 1:
        text = f"[{text}]"
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    details["kind"] = kind
    details["causes"] = [{"reason": r, "message": m, "field": f} for r, f, m in causes]
    shown = f"{kind}.{group}" if group else kind
    return ApiFailure(422, "Invalid", f'{shown} "{name}" is invalid: {text}', details)


def bad_request(message: str) -> ApiFailure:
    return ApiFailure(400, "BadRequest", message)


def expired(message: str) -> ApiFailure:
    return ApiFailure(410, "Expired", message)


def json_response(data: bytes, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """An application/json response with ``data`` as its body."""
    return web.Response(body=data, status=status, content_type="application/json", headers=headers)


def resource_not_found() -> ApiFailure:
    """The real server's 404 for a path that names no served resource."""
    return ApiFailure(404, "NotFound", "the server could not find the requested resource", {})
