"""Turn a request path and method into a :class:`Route`: which resource, namespace, name, verb.

Paths follow the Kubernetes REST layout::

    /api/v1/[namespaces/<ns>/]<plural>[/<name>[/<subresource>]]
    /apis/<group>/<version>/[namespaces/<ns>/]<plural>[/<name>[/<subresource>]]

plus the legacy ``/watch/`` prefix. ``/api/v1/namespaces/<ns>`` is the namespace object itself.
"""

from __future__ import annotations

import attrs

__all__ = ["Route", "parse_route"]


@attrs.define
class Route:
    """A resource request: ``verb`` is the Kubernetes verb (get, list, watch, create, ...)."""

    group: str
    version: str
    plural: str
    namespace: str | None
    name: str | None
    subresource: str | None
    verb: str


_VERBS_COLLECTION = {"GET": "list", "POST": "create", "DELETE": "deletecollection"}
_VERBS_OBJECT = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def parse_route(method: str, parts: list[str], watch_param: bool) -> Route | None:
    """The route for ``parts`` (the path split on "/", without /api/v1 or /apis/g/v), or None."""
    if len(parts) < 3:
        return None
    if parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    else:
        group, version, rest = parts[1], parts[2], parts[3:]
    watch = watch_param
    prefixed = False
    if rest and rest[0] == "watch":
        watch = prefixed = True
        rest = rest[1:]
    namespace = None
    if (
        len(rest) >= 3
        and rest[0] == "namespaces"
        and not (len(rest) == 3 and rest[2] in ("status", "finalize"))
    ):
        namespace = rest[1]
        rest = rest[2:]
    if not rest or len(rest) > 3 or not all(rest):
        return None
    plural = rest[0]
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if name is None:
        verb = _VERBS_COLLECTION.get(method)
        if verb == "list" and watch:
            verb = "watch"
    elif sub is not None and method == "POST":
        verb = "create"  # pods/eviction, pods/binding, serviceaccounts/token
    else:
        verb = _VERBS_OBJECT.get(method)
        if verb == "get" and prefixed:  # ?watch=1 on a named object is ignored by the real server
            verb = "watch"
    if verb is None:
        return None
    return Route(group, version, plural, namespace, name, sub, verb)
