"""The exceptions pycontroller raises, as one small family.

Every error the library raises on purpose derives from :class:`PyControllerError`, so an
operator can catch "anything pycontroller refused" in one clause. The tree (each is defined here
unless a module is named; those a reconcile or ``Manager.run()`` caller catches are also exported
by ``pycontroller``)::

    PyControllerError
    ├── ConfigError                   a bad kubeconfig, flag, option or duration
    │   ├── ShardingConfigError       sharding: a ring, shard or domain name or option that cannot be used
    │   │   └── DuplicateShardError   sharding: two running replicas share one shard name
    │   ├── InformerOptionsConflictError cache.options: an informer asked for again with other options
    │   └── OutsideCacheScopeError    cache.options: a cached read of a namespace the cache does not hold
    ├── InvalidObjectError            an object without metadata, name, or of the wrong shape; a bad
    │   │                             status condition (also ValueError; client-side, before any request)
    │   └── AlreadyOwnedError         controllerutil: another controller already owns the object
    ├── SelectorError                 labels: a label selector that does not parse (also ValueError)
    ├── BuilderError                  builder: a controller described wrongly (no for_(), a duplicate name...)
    ├── CacheNotStartedError          cached_client: a cached read before the Manager's cache started
    ├── DecodeError                   bytes from the API server that are not the JSON we expect
    │   └── BadWatchInput             cache.listwatch: a watch line the reflector cannot use (logged, counted)
    ├── NoKindMatchError              restmapper: discovery serves no such kind/resource (also LookupError)
    ├── ApiError                      the API server answered with a non-2xx Status: ``status`` (code),
    │   │                             ``reason``, ``message``, ``details``, ``causes``, ``body``
    │   ├── BadRequestError           400 (a malformed request or selector)
    │   ├── UnauthorizedError         401
    │   ├── ForbiddenError            403 (RBAC; also a namespace being terminated)
    │   ├── NotFoundError             404 (also a lister's cache miss)
    │   ├── MethodNotAllowedError     405 (a verb the resource does not support)
    │   ├── ConflictError             409 with reason Conflict: a stale resourceVersion, or an apply
    │   │   │                         conflict (one cause per contested field)
    │   │   └── AlreadyExistsError    409 with reason AlreadyExists (retry_on_conflict does not retry it)
    │   ├── GoneError                 410 (Expired / Gone: the resourceVersion was compacted)
    │   ├── RequestEntityTooLargeError 413
    │   ├── UnsupportedMediaTypeError 415 (a patch type the resource does not take)
    │   ├── InvalidError              422 Invalid: the server's validation refused the object; the
    │   │                             fields are in ``causes`` (the only name for a 422)
    │   ├── TooManyRequestsError      429 (``retry_after`` seconds when the server said so)
    │   └── ServerError               5xx (500, 503, 504 Timeout...)
    ├── ShutDownError                 an operation on something already shut down that cannot be ignored
    ├── BlockingCallOnLoopError       sync_client: a blocking call on the loop it waits for (also RuntimeError)
    ├── ManagerAlreadyStartedError    manager: add()/run() after the Manager started (also RuntimeError)
    ├── LeaderElectionLostError       manager: the Lease was lost; exit and restart
    ├── GracefulShutdownTimeoutError  manager: runnables outlived the grace period (also TimeoutError)
    ├── ShardLeaseLostError           sharding: the shard Lease was not renewed in time; exit and restart
    ├── LeaseNotRenewedError          leaderelection: the renew deadline passed (ends leading)
    └── WatchStalledError             cache.listwatch: a watch that went silent (retried by the reflector)

Not in the family on purpose: :class:`pycontroller.reconcile.TerminalError` (raised BY a reconcile
to ask for no retry), ``finalizer.FinalizerError`` (carries the cleanups' own errors),
``cache.mutation.MutationError`` (an AssertionError of the debug mutation detector), and the
webhook's ``ReviewError``/``JsonPatchError`` (ValueErrors turned into HTTP answers). Arguments of the wrong type raise the builtin ``TypeError``; out-of-range numbers raise
``ValueError`` (or :class:`ConfigError` where they come from configuration).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AlreadyExistsError",
    "ApiError",
    "BadRequestError",
    "ConfigError",
    "ConflictError",
    "DecodeError",
    "ForbiddenError",
    "GoneError",
    "InvalidError",
    "InvalidObjectError",
    "MethodNotAllowedError",
    "NoKindMatchError",
    "NotFoundError",
    "PyControllerError",
    "RequestEntityTooLargeError",
    "ServerError",
    "ShutDownError",
    "TooManyRequestsError",
    "UnauthorizedError",
    "UnsupportedMediaTypeError",
    "api_error_from_status",
]


class PyControllerError(Exception):
    """Base of every error pycontroller raises on purpose."""


class ConfigError(PyControllerError):
    """Configuration that cannot be used: a kubeconfig, a flag, an option, a duration."""


class InvalidObjectError(PyControllerError, ValueError):
    """An object that is not a Kubernetes object we can key or store (no metadata, no name...)."""


class DecodeError(PyControllerError):
    """Bytes from the API server that are not the JSON we expected.

    ``snippet`` holds the start of the offending input (at most 200 characters), never a whole body.
    """

    def __init__(self, message: str, *, snippet: str = "") -> None:
        super().__init__(message if not snippet else f"{message}: {snippet!r}")
        self.snippet = snippet


class NoKindMatchError(PyControllerError, LookupError):
    """Discovery does not serve the kind or resource asked for (controller-runtime's NoKindMatchError).

    ``group_version`` and ``name`` are what was asked for (``name`` is a kind, plural, singular or
    short name); ``suggestions`` lists close matches the server does serve (maybe empty). The message
    names them and asks whether the CustomResourceDefinition is installed: the usual cause is a typo
    or a CRD not applied yet.
    """

    def __init__(self, group_version: str, name: str, suggestions: list[str] | None = None) -> None:
        self.group_version = group_version
        self.name = name
        self.suggestions: list[str] = list(suggestions or ())
        where = f"in version {group_version!r}" if group_version else "in any served group"
        message = f"no matches for kind or resource {name!r} {where}"
        if self.suggestions:
            message += "; did you mean " + " or ".join(repr(s) for s in self.suggestions) + "?"
        message += " (is the CustomResourceDefinition installed?)"
        super().__init__(message)


class ShutDownError(PyControllerError):
    """An operation that needs a running component, called after it was shut down."""


class ApiError(PyControllerError):
    """The API server answered with an error ``Status``.

    Attributes: ``status`` (the HTTP code), ``reason`` (the Status reason, e.g. ``"NotFound"``),
    ``message`` (the Status message), ``details`` (the Status details dict or ``{}``), ``causes``
    (``details.causes``) and ``body`` (the whole decoded Status, or ``{}`` when the body was not a
    Status).
    """

    def __init__(
        self,
        status: int,
        reason: str = "",
        message: str = "",
        *,
        details: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.reason = reason
        self.message = message
        self.details: dict[str, Any] = details or {}
        self.body: dict[str, Any] = body or {}
        super().__init__(f"{status} {reason}: {message}" if message else f"{status} {reason}")

    @property
    def causes(self) -> list[dict[str, Any]]:
        """The Status's ``details.causes``: one ``{"reason", "message", "field"}`` dict per problem
        (a 422's invalid fields, an apply conflict's contested fields); ``[]`` when none."""
        causes = self.details.get("causes")
        return [c for c in causes if isinstance(c, dict)] if isinstance(causes, list) else []


class BadRequestError(ApiError):
    """400 Bad Request."""


class UnauthorizedError(ApiError):
    """401 Unauthorized."""


class ForbiddenError(ApiError):
    """403 Forbidden."""


class NotFoundError(ApiError):
    """404 Not Found (also raised by listers for a key not in the cache)."""


class ConflictError(ApiError):
    """409 Conflict: the object changed since the resourceVersion the write was based on."""


class AlreadyExistsError(ConflictError):
    """409 with reason AlreadyExists: a create of a name that is taken."""


class MethodNotAllowedError(ApiError):
    """405 Method Not Allowed: the resource does not support the verb (a create where only get is served)."""


class RequestEntityTooLargeError(ApiError):
    """413 Request Entity Too Large: the body exceeds what the server accepts."""


class UnsupportedMediaTypeError(ApiError):
    """415 Unsupported Media Type: a patch type the resource does not take (strategic merge on a CRD)."""


class GoneError(ApiError):
    """410 Gone / Expired: the resourceVersion asked for is older than the server keeps."""


class InvalidError(ApiError):
    """422 Invalid: the object failed the server's validation; ``causes`` lists the fields
    (``{"reason": "FieldValueInvalid", "message": ..., "field": "spec.replicas"}``)."""


class TooManyRequestsError(ApiError):
    """429 Too Many Requests; ``retry_after`` is the server's hint in seconds, or None."""

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class ServerError(ApiError):
    """A 5xx answer (500, 503, 504...)."""


_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    405: MethodNotAllowedError,
    409: ConflictError,
    410: GoneError,
    413: RequestEntityTooLargeError,
    415: UnsupportedMediaTypeError,
    422: InvalidError,
    429: TooManyRequestsError,
}


def api_error_from_status(
    code: int, body: dict[str, Any] | None, *, retry_after: float | None = None
) -> ApiError:
    """Build the most specific :class:`ApiError` for an HTTP code and a decoded ``Status`` body.

    ``body`` may be ``None`` or any dict; fields missing from it are left empty. Never raises.
    """
    status_body = body if isinstance(body, dict) else {}
    reason = str(status_body.get("reason") or "")
    message = str(status_body.get("message") or "")
    details = status_body.get("details")
    details = details if isinstance(details, dict) else None
    if code == 409 and reason == "AlreadyExists":
        cls: type[ApiError] = AlreadyExistsError
    elif code >= 500:
        cls = ServerError
    else:
        cls = _BY_CODE.get(code, ApiError)
    if cls is TooManyRequestsError:
        return TooManyRequestsError(
            code, reason, message, details=details, body=status_body, retry_after=retry_after
        )
    return cls(code, reason, message, details=details, body=status_body)
