"""Fault injection: canned errors for the next N matching requests, and added latency.

A :class:`FaultRule` matches a request by Kubernetes verb (get, list, watch, create, update,
patch, delete, deletecollection), resource (plural name, optionally ``plural.group``) and a path
substring; ``None`` matches anything. Rules are consulted in the order they were added; the first
matching rule with a remaining count answers the request and is used up after ``count`` answers.
"""

from __future__ import annotations

from typing import Any

import attrs

from .status import ApiFailure

__all__ = ["FaultRule", "Faults", "failure_for"]

_REASONS = {
    500: ("InternalError", "Internal error occurred: injected fault"),
    429: ("TooManyRequests", "Too many requests, please try again later."),
    410: ("Expired", "too old resource version: injected fault"),
    504: ("Timeout", "Timeout: request did not complete within the allowed duration"),
    503: ("ServiceUnavailable", "The server is currently unable to handle the request"),
    409: ("Conflict", "Operation cannot be fulfilled: injected conflict"),
    403: ("Forbidden", "forbidden: injected fault"),
    401: ("Unauthorized", "Unauthorized"),
}


def failure_for(code: int, retry_after: int | None = None, message: str | None = None) -> ApiFailure:
    """The ApiFailure an injected ``code`` answers with (a 429 carries Retry-After)."""
    reason, default = _REASONS.get(code, ("InternalError", f"injected fault {code}"))
    details: dict[str, Any] | None = None
    headers: dict[str, str] | None = None
    if code == 429:
        seconds = 1 if retry_after is None else retry_after
        details = {"retryAfterSeconds": seconds}
        headers = {"Retry-After": str(seconds)}
    elif retry_after is not None:
        headers = {"Retry-After": str(retry_after)}
    if code == 500:
        details = {"causes": [{"message": "injected fault"}]}
    return ApiFailure(code, reason, message or default, details, headers)


@attrs.define
class FaultRule:
    """Answer ``count`` matching requests with ``code`` (or, when ``code`` is None, only delay them)."""

    code: int | None
    count: int | None
    verb: str | None = None
    resource: str | None = None
    path: str | None = None
    retry_after: int | None = None
    message: str | None = None
    latency: float = 0.0
    hits: int = 0

    def matches(self, verb: str, resource: str, group: str, path: str) -> bool:
        if self.verb is not None and self.verb != verb:
            return False
        if self.resource is not None and self.resource not in (resource, f"{resource}.{group}"):
            return False
        return self.path is None or self.path in path

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.hits >= self.count


class Faults:
    """The rule list of one server. Synchronous; safe to change between requests."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []

    def add(self, rule: FaultRule) -> FaultRule:
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        self.rules.clear()

    def check(self, verb: str, resource: str, group: str, path: str) -> tuple[float, ApiFailure | None]:
        """(latency to add, failure to answer with or None) for one request; uses up counts."""
        latency = 0.0
        failure = None
        for rule in self.rules:
            if rule.exhausted or not rule.matches(verb, resource, group, path):
                continue
            if rule.code is None:
                rule.hits += 1
                latency += rule.latency
                continue
            if failure is None:
                rule.hits += 1
                latency += rule.latency
                failure = failure_for(rule.code, rule.retry_after, rule.message)
        self.rules = [r for r in self.rules if not r.exhausted]
        return latency, failure
