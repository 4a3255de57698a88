"""Defaulting of the built-in types, as the real 1.20 server fills fields on every write.

Only the fields controllers commonly compare are defaulted: Deployment spec (replicas, strategy,
revisionHistoryLimit, progressDeadlineSeconds), pod specs in Pods and in Deployment templates
(restart/DNS policy, scheduler, grace period, per-container pull policy and termination message),
Pod status on create, Secret ``stringData``, Namespace finalizers/phase. Functions return new
dicts and never mutate their inputs.
"""

from __future__ import annotations

import base64
from typing import Any

__all__ = ["apply_defaults"]

_NOT_READY_TOLERATIONS = [
    {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
    {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
]


def _pull_policy(image: str) -> str:
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _container(container: Any) -> Any:
    if not isinstance(container, dict):
        return container
    c = dict(container)
    if isinstance(c.get("image"), str):
        c.setdefault("imagePullPolicy", _pull_policy(c["image"]))
    resources = c.get("resources")
    if isinstance(resources, dict) and isinstance(resources.get("limits"), dict):
        # requests default to the limits, resource by resource
        requests = dict(resources.get("requests") or {})
        for name, value in resources["limits"].items():
            requests.setdefault(name, value)
        c["resources"] = {**resources, "requests": requests}
    c.setdefault("resources", {})
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    if isinstance(c.get("ports"), list):
        c["ports"] = [
            {**p, "protocol": p.get("protocol", "TCP")} if isinstance(p, dict) else p for p in c["ports"]
        ]
    return c


def _pod_spec(spec: Any, *, pod: bool) -> Any:
    if not isinstance(spec, dict):
        return spec
    s = dict(spec)
    for field in ("containers", "initContainers"):
        if isinstance(s.get(field), list):
            s[field] = [_container(c) for c in s[field]]
    s.setdefault("restartPolicy", "Always")
    s.setdefault("terminationGracePeriodSeconds", 30)
    s.setdefault("dnsPolicy", "ClusterFirst")
    s.setdefault("securityContext", {})
    s.setdefault("schedulerName", "default-scheduler")
    if pod:
        s.setdefault("enableServiceLinks", True)
        s.setdefault("preemptionPolicy", "PreemptLowerPriority")
        s.setdefault("priority", 0)
        if "tolerations" not in s:
            s["tolerations"] = [dict(t) for t in _NOT_READY_TOLERATIONS]
    return s


def _deployment(obj: dict[str, Any], create: bool) -> None:
    spec = obj.get("spec")
    if isinstance(spec, dict):
        spec = dict(spec)
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        spec.setdefault(
            "strategy",
            {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
        )
        template = spec.get("template")
        if isinstance(template, dict):
            template = dict(template)
            meta = template.get("metadata")
            template["metadata"] = (
                {"creationTimestamp": None, **meta} if isinstance(meta, dict) else {"creationTimestamp": None}
            )
            template["spec"] = _pod_spec(template.get("spec"), pod=False)
            spec["template"] = template
        obj["spec"] = spec
    if create:
        obj["status"] = {}


def _service(obj: dict[str, Any], create: bool) -> None:
    spec = obj.get("spec")
    if isinstance(spec, dict):
        spec = dict(spec)
        if isinstance(spec.get("ports"), list):
            ports = []
            for port in spec["ports"]:
                if isinstance(port, dict):
                    port = {"protocol": "TCP", **port}
                    if "targetPort" not in port and "port" in port:
                        port["targetPort"] = port["port"]
                ports.append(port)
            spec["ports"] = ports
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        obj["spec"] = spec
    if create:
        obj["status"] = {"loadBalancer": {}}


def _qos_class(spec: Any) -> str:
    """BestEffort (no requests or limits), Guaranteed (cpu and memory limits equal to requests
    in every container) or Burstable, as the real server computes it."""
    containers = (spec or {}).get("containers") or [] if isinstance(spec, dict) else []
    resources = [c.get("resources") or {} for c in containers if isinstance(c, dict)]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    for r in resources:
        limits, requests = r.get("limits") or {}, r.get("requests") or {}
        if not all(k in limits for k in ("cpu", "memory")) or any(
            requests.get(k) != v for k, v in limits.items()
        ):
            return "Burstable"
        if set(requests) - set(limits):
            return "Burstable"
    return "Guaranteed"


def apply_defaults(key: tuple[str, str], obj: dict[str, Any], create: bool) -> None:
    """Fill defaults into ``obj`` (a fresh top-level dict owned by the caller) for resource ``key``."""
    if key == ("", "namespaces"):
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        if create:
            obj["status"] = {"phase": "Active"}
    elif key == ("", "secrets"):
        string_data = obj.pop("stringData", None)
        if isinstance(string_data, dict):
            data = dict(obj.get("data") or {})
            for k, v in string_data.items():
                data[k] = base64.b64encode(str(v).encode()).decode()
            obj["data"] = data
        obj.setdefault("type", "Opaque")
    elif key == ("apps", "deployments"):
        _deployment(obj, create)
    elif key == ("", "events"):
        # fields of core/v1 Event that are always serialized (no omitempty)
        for field in ("eventTime", "firstTimestamp", "lastTimestamp"):
            obj.setdefault(field, None)
        obj.setdefault("reportingComponent", "")
        obj.setdefault("reportingInstance", "")
    elif key == ("", "services"):
        _service(obj, create)
    elif key == ("", "pods"):
        obj["spec"] = _pod_spec(obj.get("spec"), pod=True)
        if create:
            obj["status"] = {"phase": "Pending", "qosClass": _qos_class(obj.get("spec"))}
