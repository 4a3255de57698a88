"""Defaulting of the built-in types, as the real 1.20 server fills fields on every write.

Only the fields controllers commonly read back are defaulted (each checked against the real server
by a conformance test): Deployment, StatefulSet, DaemonSet, Job and CronJob specs (replicas,
strategies, history limits, Job parallelism/completions/backoffLimit and its generated selector
and labels), pod templates (restart/DNS policy, scheduler, grace period, per-container pull
policy and termination message), Pod status on create, Service type/sessionAffinity/ports/
externalTrafficPolicy (cluster IPs and node ports are assigned by the registry), PVC volumeMode and
phase, LimitRange defaults, NetworkPolicy policyTypes, the status stubs the real strategies write,
Secret ``stringData``, Namespace finalizers/phase. Functions return new dicts and never mutate
their inputs.
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


def _template(template: Any) -> Any:
    if not isinstance(template, dict):
        return template
    template = dict(template)
    meta = template.get("metadata")
    template["metadata"] = (
        {"creationTimestamp": None, **meta} if isinstance(meta, dict) else {"creationTimestamp": None}
    )
    template["spec"] = _pod_spec(template.get("spec"), pod=False)
    return template


def _statefulset(obj: dict[str, Any], create: bool) -> None:
    spec = obj.get("spec")
    if isinstance(spec, dict):
        spec = dict(spec)
        spec.setdefault("replicas", 1)
        spec["template"] = _template(spec.get("template") or {})
        spec.setdefault("serviceName", "")
        spec.setdefault("podManagementPolicy", "OrderedReady")
        strategy = dict(spec.get("updateStrategy") or {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            strategy["rollingUpdate"] = {"partition": 0, **(strategy.get("rollingUpdate") or {})}
        spec["updateStrategy"] = strategy
        spec.setdefault("revisionHistoryLimit", 10)
        obj["spec"] = spec
    if create:
        obj["status"] = {"replicas": 0}


def _daemonset(obj: dict[str, Any], create: bool, old: dict[str, Any] | None) -> None:
    spec = obj.get("spec")
    if isinstance(spec, dict):
        spec = dict(spec)
        spec["template"] = _template(spec.get("template") or {})
        strategy = dict(spec.get("updateStrategy") or {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            strategy["rollingUpdate"] = {"maxUnavailable": 1, **(strategy.get("rollingUpdate") or {})}
        spec["updateStrategy"] = strategy
        spec.setdefault("revisionHistoryLimit", 10)
        obj["spec"] = spec
    # the template generation the real strategy keeps in an annotation
    key = "deprecated.daemonset.template.generation"
    meta = obj["metadata"]
    annotations = dict(meta.get("annotations") or {})
    if create:
        annotations[key] = "1"
    elif old is not None:
        previous = (old.get("metadata") or {}).get("annotations") or {}
        generation = int(previous.get(key, "0") or 0)
        if (old.get("spec") or {}).get("template") != (obj.get("spec") or {}).get("template"):
            generation += 1
        annotations[key] = str(generation)
    meta["annotations"] = annotations
    if create:
        obj["status"] = {
            "currentNumberScheduled": 0,
            "numberMisscheduled": 0,
            "desiredNumberScheduled": 0,
            "numberReady": 0,
        }


def _job_spec(spec: dict[str, Any]) -> dict[str, Any]:
    spec = dict(spec)
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    spec["template"] = _template(spec.get("template") or {})
    return spec


def _job(obj: dict[str, Any], create: bool) -> None:
    spec = obj.get("spec")
    if isinstance(spec, dict):
        spec = _job_spec(spec)
        ordered_spec = {k: spec.pop(k) for k in ("parallelism", "completions", "backoffLimit") if k in spec}
        spec = {**ordered_spec, **spec}
        meta = obj["metadata"]
        if create and not spec.get("manualSelector"):
            # the selector the real Job strategy generates from the Job's uid
            uid = meta.get("uid", "")
            template = dict(spec["template"])
            tmeta = dict(template["metadata"])
            tmeta["labels"] = {**(tmeta.get("labels") or {}), "controller-uid": uid, "job-name": meta["name"]}
            template["metadata"] = tmeta
            spec["selector"] = {"matchLabels": {"controller-uid": uid}}
            spec = (
                {k: spec[k] for k in ("parallelism", "completions", "backoffLimit", "selector") if k in spec}
                | {"template": template}
                | {k: v for k, v in spec.items() if k not in ("template", "selector")}
            )
        if create and not meta.get("labels"):
            labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
            if labels:
                meta["labels"] = dict(labels)
        obj["spec"] = spec
    if create:
        obj["status"] = {}


def _cronjob(obj: dict[str, Any], create: bool) -> None:
    spec = obj.get("spec")
    if isinstance(spec, dict):
        spec = dict(spec)
        spec.setdefault("concurrencyPolicy", "Allow")
        spec.setdefault("suspend", False)
        job_template = dict(spec.get("jobTemplate") or {})
        meta = job_template.get("metadata")
        job_template["metadata"] = (
            {"creationTimestamp": None, **meta} if isinstance(meta, dict) else {"creationTimestamp": None}
        )
        job_spec = dict(job_template.get("spec") or {})
        job_spec["template"] = _template(job_spec.get("template") or {})
        job_template["spec"] = job_spec
        spec["jobTemplate"] = job_template
        spec.setdefault("successfulJobsHistoryLimit", 3)
        spec.setdefault("failedJobsHistoryLimit", 1)
        obj["spec"] = spec
    if create:
        obj["status"] = {}


def _limit_range(obj: dict[str, Any]) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        obj["spec"] = {"limits": None}
        return
    limits = spec.get("limits")
    if not isinstance(limits, list):
        obj["spec"] = {**spec, "limits": None}
        return
    out = []
    for item in limits:
        if isinstance(item, dict) and item.get("type") == "Container":
            item = dict(item)
            default = dict(item.get("default") or {})
            for name, value in (item.get("max") or {}).items():
                default.setdefault(name, value)
            if default:
                item["default"] = default
            request = dict(item.get("defaultRequest") or {})
            for name, value in default.items():
                request.setdefault(name, value)
            if request:
                item["defaultRequest"] = request
        out.append(item)
    obj["spec"] = {**spec, "limits": out}


def _network_policy(obj: dict[str, Any]) -> None:
    spec = obj.get("spec")
    if isinstance(spec, dict) and not spec.get("policyTypes"):
        types = ["Ingress"]
        if spec.get("egress"):
            types.append("Egress")
        obj["spec"] = {**spec, "policyTypes": types}


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
        if spec["type"] in ("NodePort", "LoadBalancer"):
            spec.setdefault("externalTrafficPolicy", "Cluster")
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


def _each(items: Any, fill: dict[str, Any]) -> Any:
    """Every dict of the list ``items`` with ``fill``'s keys defaulted (other values kept)."""
    if not isinstance(items, list):
        return items
    return [{**fill, **item} if isinstance(item, dict) else item for item in items]


def _spec(obj: dict[str, Any], **defaults: Any) -> None:
    spec = obj.get("spec")
    if isinstance(spec, dict):
        obj["spec"] = {**spec, **{k: v for k, v in defaults.items() if k not in spec}}


def _replica_set(obj: dict[str, Any]) -> None:
    """ReplicaSets and ReplicationControllers (whose selector and labels default to the template's)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    spec = dict(spec)
    spec.setdefault("replicas", 1)
    spec["template"] = _template(spec.get("template") or {})
    if obj["kind"] == "ReplicationController":
        labels = spec["template"]["metadata"].get("labels") or {}
        spec.setdefault("selector", dict(labels))
        meta = obj["metadata"]
        if not meta.get("labels") and labels:
            meta["labels"] = dict(labels)
    obj["spec"] = spec


def _webhooks(obj: dict[str, Any], mutating: bool) -> None:
    fill: dict[str, Any] = {
        "failurePolicy": "Fail",
        "matchPolicy": "Equivalent",
        "namespaceSelector": {},
        "objectSelector": {},
        "timeoutSeconds": 10,
    }
    if mutating:
        fill["reinvocationPolicy"] = "Never"
    hooks = _each(obj.get("webhooks"), fill)
    if isinstance(hooks, list):
        hooks = [
            {**h, "rules": _each(h.get("rules"), {"scope": "*"})}
            if isinstance(h, dict) and "rules" in h
            else h
            for h in hooks
        ]
        obj["webhooks"] = hooks


def _node(obj: dict[str, Any], create: bool) -> None:
    spec = obj.get("spec")
    if isinstance(spec, dict) and spec.get("podCIDR") and not spec.get("podCIDRs"):
        obj["spec"] = spec = {**spec, "podCIDRs": [spec["podCIDR"]]}
    if create:
        # the TaintNodesByCondition admission plugin: a new node is not ready
        spec = dict(obj.get("spec") or {})
        taints = list(spec.get("taints") or [])
        not_ready = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}
        if not any(isinstance(t, dict) and t.get("key") == not_ready["key"] for t in taints):
            taints.append(not_ready)
        spec["taints"] = taints
        obj["spec"] = spec
        status = dict(obj.get("status") or {})
        status.setdefault("daemonEndpoints", {"kubeletEndpoint": {"Port": 0}})
        info = dict(status.get("nodeInfo") or {})
        for field in (
            "machineID",
            "systemUUID",
            "bootID",
            "kernelVersion",
            "osImage",
            "containerRuntimeVersion",
            "kubeletVersion",
            "kubeProxyVersion",
            "operatingSystem",
            "architecture",
        ):
            info.setdefault(field, "")
        status["nodeInfo"] = info
        obj["status"] = status


def _persistent_volume(obj: dict[str, Any], create: bool) -> None:
    spec = obj.get("spec")
    if isinstance(spec, dict):
        spec = dict(spec)
        spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
        spec.setdefault("volumeMode", "Filesystem")
        if isinstance(spec.get("hostPath"), dict):
            spec["hostPath"] = {"type": "", **spec["hostPath"]}
        obj["spec"] = spec
    if create:
        obj["status"] = {"phase": "Pending"}


def _other(key: tuple[str, str], obj: dict[str, Any], create: bool) -> None:
    """The remaining built-ins' defaults, each read from the real server's answer to a sample."""
    group, plural = key
    if key in (("apps", "replicasets"), ("", "replicationcontrollers")):
        _replica_set(obj)
        if create:
            obj["status"] = {"replicas": 0}
    elif key == ("", "podtemplates"):
        obj["template"] = _template(obj.get("template") or {})
    elif key == ("", "endpoints"):
        obj["subsets"] = [
            {**s, "ports": _each(s.get("ports"), {"protocol": "TCP"})}
            if isinstance(s, dict) and "ports" in s
            else s
            for s in obj.get("subsets") or []
        ] or obj.get("subsets")
    elif key == ("discovery.k8s.io", "endpointslices"):
        if "endpoints" in obj:
            obj["endpoints"] = _each(obj["endpoints"], {"conditions": {}})
        if "ports" in obj:
            obj["ports"] = _each(obj["ports"], {"name": "", "protocol": "TCP"})
    elif key == ("", "nodes"):
        _node(obj, create)
    elif key == ("", "persistentvolumes"):
        _persistent_volume(obj, create)
    elif key == ("autoscaling", "horizontalpodautoscalers"):
        _spec(obj, minReplicas=1, targetCPUUtilizationPercentage=80)
        if create:
            obj["status"] = {"currentReplicas": 0, "desiredReplicas": 0}
    elif group == "admissionregistration.k8s.io":
        _webhooks(obj, mutating=plural == "mutatingwebhookconfigurations")
    elif key == ("policy", "podsecuritypolicies"):
        _spec(obj, allowPrivilegeEscalation=True)
    elif key == ("scheduling.k8s.io", "priorityclasses"):
        obj.setdefault("preemptionPolicy", "PreemptLowerPriority")
    elif key == ("storage.k8s.io", "csidrivers"):
        _spec(
            obj,
            podInfoOnMount=False,
            volumeLifecycleModes=["Persistent"],
            fsGroupPolicy="ReadWriteOnceWithFSType",
        )
    elif key == ("storage.k8s.io", "csinodes"):
        spec = obj.get("spec")
        if isinstance(spec, dict) and spec.get("drivers") == []:
            obj["spec"] = {**spec, "drivers": None}  # an empty list reads back as null
    elif key == ("storage.k8s.io", "storageclasses"):
        obj.setdefault("reclaimPolicy", "Delete")
        obj.setdefault("volumeBindingMode", "Immediate")
    elif key == ("certificates.k8s.io", "certificatesigningrequests") and create:
        # the requesting user; the fake serves everyone as envtest's admin
        spec = dict(obj.get("spec") or {})
        spec.update(username="admin", uid="admin", groups=["system:masters", "system:authenticated"])
        obj["spec"] = spec


_STATUS_ON_CREATE: dict[tuple[str, str], dict[str, Any]] = {
    ("storage.k8s.io", "volumeattachments"): {"attached": False},
    ("certificates.k8s.io", "certificatesigningrequests"): {},
    ("flowcontrol.apiserver.k8s.io", "flowschemas"): {},
    ("flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations"): {},
    ("apiregistration.k8s.io", "apiservices"): {},
    ("networking.k8s.io", "ingresses"): {"loadBalancer": {}},
    ("policy", "poddisruptionbudgets"): {
        "disruptionsAllowed": 0,
        "currentHealthy": 0,
        "desiredHealthy": 0,
        "expectedPods": 0,
    },
    ("", "resourcequotas"): {},
    ("", "persistentvolumeclaims"): {"phase": "Pending"},
}
_NULL_FIELDS: dict[tuple[str, str], str] = {  # serialized even when unset (no omitempty)
    ("rbac.authorization.k8s.io", "roles"): "rules",
    ("rbac.authorization.k8s.io", "clusterroles"): "rules",
}


def apply_defaults(
    key: tuple[str, str], obj: dict[str, Any], create: bool, old: dict[str, Any] | None = None
) -> None:
    """Fill defaults into ``obj`` (a fresh top-level dict owned by the caller) for resource ``key``.

    ``old`` is the stored object an update replaces (None on create).
    """
    if create and key in _STATUS_ON_CREATE:
        obj["status"] = dict(_STATUS_ON_CREATE[key])
    if key in _NULL_FIELDS:
        obj.setdefault(_NULL_FIELDS[key], None)
    _other(key, obj, create)
    if key == ("apps", "statefulsets"):
        _statefulset(obj, create)
    elif key == ("apps", "daemonsets"):
        _daemonset(obj, create, old)
    elif key == ("batch", "jobs"):
        _job(obj, create)
    elif key == ("batch", "cronjobs"):
        _cronjob(obj, create)
    elif key == ("", "limitranges"):
        _limit_range(obj)
    elif key == ("networking.k8s.io", "networkpolicies"):
        _network_policy(obj)
    elif key == ("", "resourcequotas"):
        obj.setdefault("spec", {})
    elif key == ("", "persistentvolumeclaims"):
        spec = obj.get("spec")
        if isinstance(spec, dict):
            obj["spec"] = {**spec, "volumeMode": spec.get("volumeMode") or "Filesystem"}
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
        obj.setdefault("source", {})
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
