"""Admission webhooks: AdmissionReview in, a validator's or mutator's verdict out.

A **validator** is ``fn(request) -> None | bool | AdmissionResponse`` (plain or ``async``): ``None`` or
``True`` allows, ``False`` denies without a message, an :class:`AdmissionResponse` (:func:`allowed`,
:func:`denied`) says exactly what to answer, with warnings. A **mutator** has the same signature
and may also return the modified object (a dict): the library answers with the RFC 6902 JSONPatch
from the object it received to the one returned. ``request.object`` is the mutator's own copy, so
changing it in place and returning ``None`` works as well.

Raising an exception denies the request with code 500 and the exception's message (the API server
then refuses the write with HTTP 500 and ``admission webhook "<name>" denied the request: <message>``),
like controller-runtime's ``Errored``; the traceback is logged. A webhook that takes longer than the
configuration's ``timeoutSeconds`` is the API server's business (it applies the failurePolicy).

A plain function runs on the event loop: keep it quick (no blocking I/O) or make it ``async``.
"""

from __future__ import annotations

import base64
import copy
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import attrs
import orjson

from .jsonpatch import diff

__all__ = [
    "ADMISSION_REVIEW_VERSIONS",
    "AdmissionFunc",
    "AdmissionRequest",
    "AdmissionResponse",
    "AdmissionWebhook",
    "ReviewError",
    "allowed",
    "denied",
    "patched",
]

log = logging.getLogger("pycontroller.webhook")

ADMISSION_REVIEW_VERSIONS = ("admission.k8s.io/v1", "admission.k8s.io/v1beta1")


class ReviewError(ValueError):
    """A request body that is not a usable review: answered with HTTP ``code`` and ``message``."""

    def __init__(self, message: str, code: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@attrs.frozen
class AdmissionRequest:
    """One admission request, as the API server sent it (``raw`` is the whole ``request`` object).

    ``kind``/``resource`` are dicts (``{"group", "version", "kind"}`` / ``{"group", "version",
    "resource"}``); ``operation`` is CREATE, UPDATE, DELETE or CONNECT; ``object`` is None on DELETE
    and ``old_object`` None on CREATE; ``user_info`` has username, uid, groups.
    """

    uid: str
    kind: dict[str, str]
    resource: dict[str, str]
    sub_resource: str
    operation: str
    object: dict[str, Any] | None
    old_object: dict[str, Any] | None
    user_info: dict[str, Any]
    dry_run: bool
    namespace: str
    name: str
    options: dict[str, Any] | None
    raw: dict[str, Any] = attrs.field(repr=False)

    @classmethod
    def from_review(cls, request: Mapping[str, Any]) -> AdmissionRequest:
        """Read the ``request`` of an AdmissionReview; raises :class:`ReviewError` when unusable."""
        uid = request.get("uid")
        if not isinstance(uid, str) or not uid:
            raise ReviewError("the AdmissionReview request has no uid")
        obj = request.get("object")
        old = request.get("oldObject")
        return cls(
            uid=uid,
            kind=dict(request.get("kind") or {}),
            resource=dict(request.get("resource") or {}),
            sub_resource=str(request.get("subResource") or ""),
            operation=str(request.get("operation") or ""),
            object=obj if isinstance(obj, dict) else None,
            old_object=old if isinstance(old, dict) else None,
            user_info=dict(request.get("userInfo") or {}),
            dry_run=bool(request.get("dryRun")),
            namespace=str(request.get("namespace") or ""),
            name=str(request.get("name") or ""),
            options=request.get("options") if isinstance(request.get("options"), dict) else None,
            raw=dict(request),
        )


@attrs.frozen
class AdmissionResponse:
    """A verdict: allowed or not, with an optional message, HTTP-style code, reason and warnings.

    ``object`` (mutators only) is the modified object; the JSONPatch is computed from it.
    """

    allowed: bool
    message: str = ""
    code: int | None = None
    reason: str = ""
    warnings: tuple[str, ...] = ()
    object: dict[str, Any] | None = None


def allowed(message: str = "", *, warnings: Sequence[str] = ()) -> AdmissionResponse:
    """Allow the request (code 200), optionally with a message and warnings for the client."""
    return AdmissionResponse(True, message, 200, "", tuple(warnings))


def denied(
    message: str, *, code: int = 403, reason: str = "Forbidden", warnings: Sequence[str] = ()
) -> AdmissionResponse:
    """Deny the request: the API server refuses it with ``code`` (>= 400, else 400) and ``message``."""
    return AdmissionResponse(False, message, code, reason, tuple(warnings))


def patched(obj: dict[str, Any], *, warnings: Sequence[str] = (), message: str = "") -> AdmissionResponse:
    """Allow the request with ``obj`` as the mutated object (mutators), optionally with warnings."""
    return AdmissionResponse(True, message, 200, "", tuple(warnings), obj)


AdmissionFunc = Callable[
    [AdmissionRequest],
    "AdmissionResponse | bool | dict[str, Any] | Awaitable[AdmissionResponse | bool | dict[str, Any] | None] | None",
]
"""A validator or mutator: plain or async, given an :class:`AdmissionRequest`."""


def parse_review(body: bytes, kind: str, versions: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """``(apiVersion, request)`` of a review body; :class:`ReviewError` for anything else."""
    if not body:
        raise ReviewError("request body is empty")
    try:
        review = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ReviewError(f"the body is not JSON: {exc}") from None
    if not isinstance(review, dict) or review.get("kind") != kind:
        raise ReviewError(f"the body is not a {kind} (kind {_get(review, 'kind')!r})")
    api_version = review.get("apiVersion")
    if api_version not in versions:
        raise ReviewError(
            f"unsupported {kind} apiVersion {api_version!r}, expected one of {', '.join(versions)}"
        )
    request = review.get("request")
    if not isinstance(request, dict):
        raise ReviewError(f"the {kind} has no request")
    return str(api_version), request


def _get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else type(value).__name__


def review_body(api_version: str, kind: str, response: dict[str, Any]) -> bytes:
    return orjson.dumps({"apiVersion": api_version, "kind": kind, "response": response})


class AdmissionWebhook:
    """Serves one validator or mutator: :meth:`review` turns a review body into a response body."""

    def __init__(self, fn: AdmissionFunc, *, mutating: bool) -> None:
        if not callable(fn):
            raise TypeError(f"an admission webhook needs a callable, got {type(fn).__name__}")
        self.fn = fn
        self.mutating = mutating

    async def review(self, body: bytes) -> bytes:
        """The AdmissionReview answer to ``body``. Suspends while an async function runs.

        Raises :class:`ReviewError` when ``body`` is not an AdmissionReview with a request and uid.
        """
        api_version, raw = parse_review(body, "AdmissionReview", ADMISSION_REVIEW_VERSIONS)
        request = AdmissionRequest.from_review(raw)
        original = request.object
        if self.mutating and original is not None:
            request = attrs.evolve(request, object=copy.deepcopy(original))
        try:
            result: Any = self.fn(request)
            if inspect.isawaitable(result):
                result = await result
            response = self._verdict(result, request)
        except Exception as exc:  # the documented contract: an exception denies with 500
            log.exception("Admission webhook function failed for %s", request.uid)
            response = AdmissionResponse(False, str(exc) or type(exc).__name__, 500, "InternalError")
        out: dict[str, Any] = {"uid": request.uid, "allowed": response.allowed}
        status: dict[str, Any] = {}
        if response.code is not None:
            status["code"] = response.code
        if response.message:
            status["message"] = response.message
        if response.reason:
            status["reason"] = response.reason
        if status:
            out["status"] = status
        if response.warnings:
            out["warnings"] = list(response.warnings)
        if (
            response.allowed
            and self.mutating
            and response.object is not None
            and original is not None
            and request.operation != "DELETE"
        ):
            ops = diff(original, response.object)
            if ops:
                out["patchType"] = "JSONPatch"
                out["patch"] = base64.b64encode(orjson.dumps(ops)).decode()
        return review_body(api_version, "AdmissionReview", out)

    def _verdict(self, result: Any, request: AdmissionRequest) -> AdmissionResponse:
        if result is None or result is True:
            if self.mutating:
                return AdmissionResponse(True, code=200, object=request.object)
            return AdmissionResponse(True, code=200)
        if result is False:
            return denied("")
        if isinstance(result, AdmissionResponse):
            if self.mutating and result.allowed and result.object is None:
                return attrs.evolve(result, object=request.object)
            return result
        if isinstance(result, dict) and self.mutating:
            return AdmissionResponse(True, code=200, object=result)
        kind = "mutator" if self.mutating else "validator"
        raise TypeError(
            f"an admission {kind} must return None, a bool, an AdmissionResponse"
            + (" or the modified object" if self.mutating else "")
            + f"; got {type(result).__name__}"
        )
