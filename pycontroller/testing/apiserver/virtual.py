"""Resources and subresources that are answered but not stored, as the real server answers them.

* Reviews (``subjectaccessreviews``, ``selfsubjectaccessreviews``, ``localsubjectaccessreviews``,
  ``selfsubjectrulesreviews``, ``tokenreviews``): the posted object comes back (201) with a status,
  as from a server running ``--authorization-mode=AlwaysAllow`` (envtest's): every access is
  allowed; a TokenReview authenticates nobody (the fake has no tokens) with the real error.
* ``componentstatuses``: etcd healthy, scheduler and controller-manager unreachable (no
  controllers, like envtest).
* ``pods/eviction``: deletes the pod (201 Status Success); ``pods/binding`` and ``bindings`` set
  ``spec.nodeName`` of an unscheduled pod; ``serviceaccounts/token``: a TokenRequest with an
  opaque token and its expiry; ``certificatesigningrequests/approval`` writes
  ``status.conditions`` like ``/status``.
* Subresources that need a kubelet (``pods/log``, ``exec``, ``attach``, ``portforward``,
  ``proxy``, ``nodes/proxy``, ``services/proxy``): 503 ServiceUnavailable naming them.

Every function is synchronous and raises :class:`ApiFailure` on refusal.
"""

from __future__ import annotations

import base64
import copy
import os
import time
from typing import TYPE_CHECKING, Any

from .status import ApiFailure, bad_request, invalid, not_found

if TYPE_CHECKING:
    from .registry import Registry
    from .storage import Table

__all__ = ["KUBELET_SUBRESOURCES", "component_statuses", "create_virtual", "post_subresource"]

KUBELET_SUBRESOURCES = frozenset({"log", "exec", "attach", "portforward", "proxy"})
_ALLOW_ALL_RULES = {
    "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
    "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
    "incomplete": False,
}
SUCCESS_201 = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


def component_statuses() -> list[dict[str, Any]]:
    """The ComponentStatus items of a server without scheduler and controller-manager."""

    def item(name: str, healthy: bool, message: str) -> dict[str, Any]:
        return {
            "metadata": {"name": name, "creationTimestamp": None},
            "conditions": [{"type": "Healthy", "status": "True" if healthy else "False", "message": message}],
        }

    return [
        item("scheduler", False, 'Get "http://127.0.0.1:10251/healthz": connection refused'),
        item("controller-manager", False, 'Get "http://127.0.0.1:10252/healthz": connection refused'),
        item("etcd-0", True, '{"health":"true"}'),
    ]


def create_virtual(
    registry: Registry, table: Table, namespace: str | None, body: Any, api_version: str
) -> Any:
    """The answer to a POST on a resource that is not stored (reviews, bindings)."""
    rdef = table.rdef
    if not isinstance(body, dict):
        raise bad_request(f"the object provided is unrecognized (must be of type {rdef.kind})")
    obj = copy.deepcopy(body)
    obj["kind"] = rdef.kind
    obj["apiVersion"] = api_version
    meta: dict[str, Any] = obj["metadata"] if isinstance(obj.get("metadata"), dict) else {}
    obj["metadata"] = {**meta, "creationTimestamp": None}
    spec: dict[str, Any] = obj["spec"] if isinstance(obj.get("spec"), dict) else {}
    if rdef.plural == "bindings":
        name = meta.get("name") or ""
        _bind(registry, namespace, name, obj)
        return dict(SUCCESS_201)
    if rdef.plural == "localsubjectaccessreviews":
        attrs = spec.get("resourceAttributes") or {}
        if attrs.get("namespace") != namespace:
            raise bad_request(f"spec.resourceAttributes.namespace must match namespace: {namespace}")
    if rdef.plural.endswith("subjectaccessreviews"):
        obj["status"] = {"allowed": True}
    elif rdef.plural == "selfsubjectrulesreviews":
        obj["spec"] = {}
        obj["status"] = copy.deepcopy(_ALLOW_ALL_RULES)
    elif rdef.plural == "tokenreviews":
        obj["status"] = {"user": {}, "error": "invalid bearer token"}
    return obj


def _bind(registry: Registry, namespace: str | None, name: str, binding: dict[str, Any]) -> None:
    pods = registry.tables[("", "pods")]
    target: dict[str, Any] = binding["target"] if isinstance(binding.get("target"), dict) else {}
    node = target.get("name") or ""
    if not node:
        raise invalid("", "Binding", name, [("FieldValueRequired", "target.name", "Required value")])
    stored = registry.get(pods, namespace, name)
    if (stored.obj.get("spec") or {}).get("nodeName"):
        raise ApiFailure(
            409,
            "Conflict",
            f'Operation cannot be fulfilled on pods/binding "{name}": pod {name} is already assigned to node '
            f'"{stored.obj["spec"]["nodeName"]}"',
            {"name": name, "kind": "pods/binding"},
        )
    obj = copy.deepcopy(stored.obj)
    obj["spec"]["nodeName"] = node
    registry._write_update(pods, stored, obj, None)


def post_subresource(
    registry: Registry, table: Table, namespace: str | None, name: str, sub: str, body: Any
) -> Any:
    """The answer to a POST on ``<plural>/<name>/<sub>`` (eviction, binding, token)."""
    rdef = table.rdef
    if sub in KUBELET_SUBRESOURCES:
        raise kubelet_failure(rdef.plural, sub)
    if not isinstance(body, dict):
        raise bad_request("the object provided is unrecognized")
    if rdef.plural == "pods" and sub == "eviction":
        registry.delete(table, namespace, name, body.get("deleteOptions") or {})
        return dict(SUCCESS_201)
    if rdef.plural == "pods" and sub == "binding":
        _bind(registry, namespace, name, body)
        return dict(SUCCESS_201)
    if rdef.plural == "serviceaccounts" and sub == "token":
        registry.get(table, namespace, name)
        spec = dict(body.get("spec") or {})
        spec.setdefault("audiences", ["https://kubernetes.default.svc"])
        spec.setdefault("expirationSeconds", 3600)
        spec.setdefault("boundObjectRef", None)
        expires = time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + int(spec["expirationSeconds"]))
        )
        token = "fake." + base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")
        return {
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": None},
            "spec": spec,
            "status": {"token": token, "expirationTimestamp": expires},
        }
    raise not_found(rdef.group, f"{rdef.plural}/{sub}", name)


def kubelet_failure(plural: str, sub: str) -> ApiFailure:
    """503 for a subresource served by kubelets, which the in-memory server does not have."""
    return ApiFailure(
        503,
        "ServiceUnavailable",
        f"the in-memory API server has no nodes: {plural}/{sub} is not available",
    )
