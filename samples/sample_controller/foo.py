"""The Foo API and the Deployment a Foo owns: names, constants and pure functions, no I/O.

A Foo (samplecontroller.k8s.io/v1alpha1) asks for a Deployment named ``spec.deploymentName`` running
``spec.replicas`` nginx Pods (1..10); its ``status.availableReplicas`` follows that Deployment's.
Objects are plain dicts as they come from the API server (and from the informers' caches, which
must never be mutated: every function here returns new dicts).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from pycontroller.client import GroupVersionResource

__all__ = [
    "CONTROLLER_AGENT_NAME",
    "DEPLOYMENTS",
    "ERR_RESOURCE_EXISTS",
    "FOOS",
    "FOO_API_VERSION",
    "INVALID_SPEC",
    "MAX_REPLICAS",
    "MESSAGE_RESOURCE_EXISTS",
    "MESSAGE_RESOURCE_SYNCED",
    "MIN_REPLICAS",
    "SPEC_VALID",
    "SUCCESS_SYNCED",
    "foo_status_with",
    "is_controlled_by",
    "new_deployment",
    "spec_problem",
]

CONTROLLER_AGENT_NAME = "sample-controller"
"""The component name on the Events this controller writes."""

FOOS = GroupVersionResource("samplecontroller.k8s.io", "v1alpha1", "foos")
DEPLOYMENTS = GroupVersionResource("apps", "v1", "deployments")
FOO_API_VERSION = FOOS.api_version
FOO_KIND = "Foo"

SUCCESS_SYNCED = "Synced"
"""Event reason when a Foo is synced."""
ERR_RESOURCE_EXISTS = "ErrResourceExists"
"""Event reason when a Foo fails to sync because a Deployment of that name exists and is not its own."""
MESSAGE_RESOURCE_EXISTS = 'Resource "{name}" already exists and is not managed by Foo'
"""Event message for ErrResourceExists (Go's ``%q`` of the Deployment's name)."""
MESSAGE_RESOURCE_SYNCED = "Foo synced successfully"
"""Event message for Synced."""

INVALID_SPEC = "InvalidSpec"
"""Warning event reason (and condition reason) for a Foo whose spec cannot be acted on.

Not in Kubernetes' sample-controller, which only logs a missing deploymentName and relies on the
CRD's schema for the replicas range; this port also tells the Foo's owner, on the Foo itself."""
SPEC_VALID = "SpecValid"
"""Condition type set to "False" in status.conditions while the spec is invalid (removed once valid)."""

MIN_REPLICAS = 1
MAX_REPLICAS = 10


def spec_problem(foo: Mapping[str, Any]) -> str | None:
    """What is wrong with a Foo's spec, in a sentence, or None when the controller can act on it.

    The CRD's schema refuses most of these on a real API server; the controller checks again because
    a CRD may be installed without a schema (or an older one), and the in-memory server does not
    validate schemas.
    """
    spec = foo.get("spec")
    if not isinstance(spec, Mapping):
        return "spec must be an object with deploymentName and replicas"
    name = spec.get("deploymentName")
    if not name:
        return "deployment name must be specified (spec.deploymentName)"
    if not isinstance(name, str):
        return f"spec.deploymentName must be a string, got {type(name).__name__}"
    replicas = spec.get("replicas")
    if replicas is not None:
        if isinstance(replicas, bool) or not isinstance(replicas, int):
            return f"spec.replicas must be an integer, got {replicas!r}"
        if not MIN_REPLICAS <= replicas <= MAX_REPLICAS:
            return f"spec.replicas must be between {MIN_REPLICAS} and {MAX_REPLICAS}, got {replicas}"
    return None


def _controller_ref(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return ref  # type: ignore[no-any-return]
    return None


def is_controlled_by(obj: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    """metav1.IsControlledBy: obj's controller reference points at owner's uid."""
    ref = _controller_ref(obj)
    uid = (owner.get("metadata") or {}).get("uid")
    return ref is not None and uid is not None and ref.get("uid") == uid


def new_deployment(foo: Mapping[str, Any]) -> dict[str, Any]:
    """The Deployment a Foo asks for: nginx, labelled ``app: nginx, controller: <foo name>``,
    owned (as controller) by the Foo so garbage collection deletes it with the Foo."""
    meta = foo["metadata"]
    spec = foo["spec"]
    labels = {"app": "nginx", "controller": meta["name"]}
    deployment_spec: dict[str, Any] = {
        "selector": {"matchLabels": dict(labels)},
        "template": {
            "metadata": {"labels": dict(labels)},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:latest"}]},
        },
    }
    if spec.get("replicas") is not None:
        deployment_spec["replicas"] = spec["replicas"]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": spec["deploymentName"],
            "namespace": meta["namespace"],
            "ownerReferences": [
                {
                    "apiVersion": FOO_API_VERSION,
                    "kind": FOO_KIND,
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": deployment_spec,
    }


def foo_status_with(
    foo: Mapping[str, Any], *, available_replicas: int | None = None, problem: str | None = None
) -> dict[str, Any]:
    """A deep copy of ``foo`` whose status says ``available_replicas`` (when given) and carries a
    SpecValid=False condition exactly when ``problem`` is set. Never mutates ``foo``."""
    new = copy.deepcopy(dict(foo))
    status = new.setdefault("status", {}) or {}
    new["status"] = status
    if available_replicas is not None:
        status["availableReplicas"] = available_replicas
    conditions = [c for c in status.get("conditions") or () if c.get("type") != SPEC_VALID]
    if problem is not None:
        previous = next((c for c in status.get("conditions") or () if c.get("type") == SPEC_VALID), None)
        conditions.append(
            {
                "type": SPEC_VALID,
                "status": "False",
                "reason": INVALID_SPEC,
                "message": problem,
                # Keep the transition time when only the message changes.
                "lastTransitionTime": (previous or {}).get("lastTransitionTime") or _now_rfc3339(),
            }
        )
    if conditions:
        status["conditions"] = conditions
    else:
        status.pop("conditions", None)
    return new


def _now_rfc3339() -> str:
    import datetime

    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
