"""Field validation the real server applies before storing, returning (reason, field, message) causes.

Covered: label keys and values, annotation keys, ConfigMap/Secret data keys, and the required
fields of Pods, Deployments, StatefulSets, DaemonSets, Jobs, CronJobs, Services, RBAC roles and
bindings, ResourceQuotas, PersistentVolumeClaims and Ingresses (each checked against the real
server by a conformance test). Messages are the real 1.20 server's, so clients matching on them
behave alike; a few 1.20 quirks are kept (a StatefulSet's pod template is not validated, a
DaemonSet without selector only reports the label mismatch).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["INVALID_GROUP", "Cause", "go_map", "go_strings", "validate"]

Cause = tuple[str, str, str]  # (reason, field, message)

_NAME_PART = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_NAME_PART_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
    "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex "
    "used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
_PREFIX_MSG = (
    "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_CONFIG_KEY_MSG = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
    "'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
)


def go_strings(values: list[str]) -> str:
    """Go's %#v of a []string."""
    return "[]string{" + ", ".join(f'"{v}"' for v in values) + "}"


def go_map(values: Any) -> str:
    """Go's %#v of a map[string]string (nil when absent)."""
    if not isinstance(values, dict):
        return "map[string]string(nil)"
    return "map[string]string{" + ", ".join(f'"{k}":"{v}"' for k, v in sorted(values.items())) + "}"


def _qualified_name(key: str, field: str) -> list[Cause]:
    prefix, _, name = key.rpartition("/")
    problems = []
    if prefix and (len(prefix) > 253 or not _SUBDOMAIN.fullmatch(prefix)):
        problems.append(_PREFIX_MSG)
    if not name:
        problems.append("name part must be non-empty")
    elif len(name) > 63:
        problems.append("name part must be no more than 63 characters")
    elif not _NAME_PART.fullmatch(name):
        problems.append(_NAME_PART_MSG)
    return [("FieldValueInvalid", field, f'Invalid value: "{key}": {p}') for p in problems]


def _metadata(meta: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    for key, value in (meta.get("labels") or {}).items():
        causes += _qualified_name(key, "metadata.labels")
        if value is not None and (len(value) > 63 or not _LABEL_VALUE.fullmatch(value)):
            detail = "must be no more than 63 characters" if len(value) > 63 else _LABEL_VALUE_MSG
            causes.append(("FieldValueInvalid", "metadata.labels", f'Invalid value: "{value}": {detail}'))
    for key in meta.get("annotations") or {}:
        causes += _qualified_name(key.lower(), "metadata.annotations")
    return causes


def _containers(spec: Any, path: str) -> list[Cause]:
    if not isinstance(spec, dict):
        return [("FieldValueRequired", f"{path}.containers", "Required value")]
    containers = spec.get("containers")
    if not containers:
        return [("FieldValueRequired", f"{path}.containers", "Required value")]
    causes: list[Cause] = []
    for i, container in enumerate(containers):
        if not isinstance(container, dict):
            continue
        if not container.get("name"):
            causes.append(("FieldValueRequired", f"{path}.containers[{i}].name", "Required value"))
        if not container.get("image"):
            causes.append(("FieldValueRequired", f"{path}.containers[{i}].image", "Required value"))
    return causes


def _non_negative(spec: dict[str, Any], fields: tuple[str, ...], path: str = "spec") -> list[Cause]:
    causes: list[Cause] = []
    for field in fields:
        value = spec.get(field)
        if isinstance(value, int) and not isinstance(value, bool) and value < 0:
            causes.append(
                (
                    "FieldValueInvalid",
                    f"{path}.{field}",
                    f"Invalid value: {value}: must be greater than or equal to 0",
                )
            )
    return causes


def _deployment(
    spec: Any,
    *,
    require_selector: bool = True,
    containers: bool = True,
    fields: tuple[str, ...] = (
        "replicas",
        "minReadySeconds",
        "revisionHistoryLimit",
        "progressDeadlineSeconds",
    ),
) -> list[Cause]:
    """Deployments, and with other options StatefulSets and DaemonSets: selector, labels, containers."""
    if not isinstance(spec, dict):
        spec = {}
    causes = _non_negative(spec, fields)
    selector = spec.get("selector")
    template = spec.get("template") if isinstance(spec.get("template"), dict) else {}
    labels = (template.get("metadata") or {}).get("labels")
    if not selector and require_selector:
        causes.append(("FieldValueRequired", "spec.selector", "Required value"))
    match = (selector or {}).get("matchLabels") or {}
    if not isinstance(labels, dict) or any(labels.get(k) != v for k, v in match.items()) or not selector:
        causes.append(
            (
                "FieldValueInvalid",
                "spec.template.metadata.labels",
                f"Invalid value: {go_map(labels)}: `selector` does not match template `labels`",
            )
        )
    if containers:
        causes += _containers(template.get("spec"), "spec.template.spec")
    return causes


def _job_template(spec: Any, path: str) -> list[Cause]:
    """A Job spec's pod template (``path`` is where the Job spec is)."""
    if not isinstance(spec, dict):
        spec = {}
    causes = _non_negative(spec, ("parallelism", "completions", "backoffLimit"), path)
    template: dict[str, Any] = spec["template"] if isinstance(spec.get("template"), dict) else {}
    pod: dict[str, Any] = template["spec"] if isinstance(template.get("spec"), dict) else {}
    causes += _containers(pod, f"{path}.template.spec")
    if pod.get("restartPolicy") not in ("OnFailure", "Never"):
        causes.append(
            (
                "FieldValueRequired",
                f"{path}.template.spec.restartPolicy",
                'Required value: valid values: "OnFailure", "Never"',
            )
        )
    return causes


def _cronjob(spec: Any) -> list[Cause]:
    if not isinstance(spec, dict):
        spec = {}
    causes: list[Cause] = []
    if not spec.get("schedule"):
        causes.append(("FieldValueRequired", "spec.schedule", "Required value"))
    job_template = spec.get("jobTemplate") if isinstance(spec.get("jobTemplate"), dict) else {}
    return causes + _job_template(job_template.get("spec"), "spec.jobTemplate.spec")


def _service(spec: Any) -> list[Cause]:
    if not isinstance(spec, dict):
        spec = {}
    ports = spec.get("ports")
    if not ports:
        if spec.get("type") == "ExternalName" or spec.get("clusterIP") == "None":
            return []
        return [("FieldValueRequired", "spec.ports", "Required value")]
    causes: list[Cause] = []
    for i, port in enumerate(ports):
        number = port.get("port") if isinstance(port, dict) else None
        if not isinstance(number, int) or not 1 <= number <= 65535:
            causes.append(
                (
                    "FieldValueInvalid",
                    f"spec.ports[{i}].port",
                    f"Invalid value: {number or 0}: must be between 1 and 65535, inclusive",
                )
            )
    return causes


def _rules(obj: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    for i, rule in enumerate(obj.get("rules") or []):
        if isinstance(rule, dict) and not rule.get("verbs"):
            causes.append(
                (
                    "FieldValueRequired",
                    f"rules[{i}].verbs",
                    "Required value: verbs must contain at least one value",
                )
            )
    return causes


def _binding(obj: dict[str, Any], kinds: tuple[str, ...]) -> list[Cause]:
    causes: list[Cause] = []
    ref: dict[str, Any] = obj["roleRef"] if isinstance(obj.get("roleRef"), dict) else {}
    kind = ref.get("kind") or ""
    if kind not in kinds:
        supported = ", ".join(f'"{k}"' for k in kinds)
        causes.append(
            (
                "FieldValueNotSupported",
                "roleRef.kind",
                f'Unsupported value: "{kind}": supported values: {supported}',
            )
        )
    if not ref.get("name"):
        causes.append(("FieldValueRequired", "roleRef.name", "Required value"))
    for i, subject in enumerate(obj.get("subjects") or []):
        if not isinstance(subject, dict):
            continue
        kind = subject.get("kind") or ""
        if kind not in ("ServiceAccount", "User", "Group"):
            causes.append(
                (
                    "FieldValueNotSupported",
                    f"subjects[{i}].kind",
                    f'Unsupported value: "{kind}": supported values: "ServiceAccount", "User", "Group"',
                )
            )
        if not subject.get("name"):
            causes.append(("FieldValueRequired", f"subjects[{i}].name", "Required value"))
    return causes


def _quantity_negative(value: Any) -> bool:
    return (isinstance(value, str) and value.strip().startswith("-")) or (
        isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0
    )


def _resource_quota(spec: Any) -> list[Cause]:
    causes: list[Cause] = []
    for name, value in ((spec or {}).get("hard") or {}).items() if isinstance(spec, dict) else ():
        if _quantity_negative(value):
            causes.append(
                (
                    "FieldValueInvalid",
                    f"spec.hard[{name}]",
                    f'Invalid value: "{value}": must be greater than or equal to 0',
                )
            )
    return causes


def _limit_range(spec: Any) -> list[Cause]:
    seen: set[str] = set()
    causes: list[Cause] = []
    limits = (spec or {}).get("limits") if isinstance(spec, dict) else None
    for i, item in enumerate(limits or []):
        kind = item.get("type") if isinstance(item, dict) else None
        if isinstance(kind, str) and kind in seen:
            causes.append(("FieldValueDuplicate", f"spec.limits[{i}].type", f'Duplicate value: "{kind}"'))
        elif isinstance(kind, str):
            seen.add(kind)
    return causes


def _pvc(spec: Any) -> list[Cause]:
    if not isinstance(spec, dict):
        spec = {}
    causes: list[Cause] = []
    if not spec.get("accessModes"):
        causes.append(
            ("FieldValueRequired", "spec.accessModes", "Required value: at least 1 access mode is required")
        )
    requests = (spec.get("resources") or {}).get("requests") or {}
    if "storage" not in requests:
        causes.append(("FieldValueRequired", "spec.resources[storage]", "Required value"))
    return causes


def _ingress(spec: Any) -> list[Cause]:
    if not isinstance(spec, dict):
        spec = {}
    rules = spec.get("rules")
    if not rules and not spec.get("defaultBackend"):
        return [
            (
                "FieldValueInvalid",
                "spec",
                f"Invalid value: []networking.IngressRule({'nil' if rules is None else ''}): "
                "either `defaultBackend` or `rules` must be specified",
            )
        ]
    causes: list[Cause] = []
    for i, rule in enumerate(rules or []):
        paths = ((rule or {}).get("http") or {}).get("paths") or [] if isinstance(rule, dict) else []
        for j, path in enumerate(paths):
            if isinstance(path, dict) and not path.get("pathType"):
                causes.append(
                    (
                        "FieldValueRequired",
                        f"spec.rules[{i}].http.paths[{j}].pathType",
                        "Required value: pathType must be specified",
                    )
                )
    return causes


def validate(key: tuple[str, str], obj: dict[str, Any]) -> list[Cause]:
    """Every cause ``obj`` of resource ``key`` (group, plural) fails with; empty when valid."""
    causes = _metadata(obj.get("metadata") or {})
    if key in (("", "configmaps"), ("", "secrets")):
        for field in ("data", "binaryData"):
            for data_key in obj.get(field) or {}:
                if len(data_key) > 253 or not _CONFIG_KEY.fullmatch(data_key):
                    causes.append(
                        (
                            "FieldValueInvalid",
                            f"{field}[{data_key}]",
                            f'Invalid value: "{data_key}": {_CONFIG_KEY_MSG}',
                        )
                    )
        if key == ("", "secrets") and obj.get("type") == "kubernetes.io/tls":
            data = obj.get("data") or {}
            for required in ("tls.crt", "tls.key"):
                if required not in data:
                    causes.append(("FieldValueRequired", f"data[{required}]", "Required value"))
    elif key == ("", "pods"):
        causes += _containers(obj.get("spec"), "spec")
    elif key == ("apps", "deployments"):
        causes += _deployment(obj.get("spec"))
    elif key == ("apps", "statefulsets"):
        causes += _deployment(obj.get("spec"), containers=False, fields=("replicas", "revisionHistoryLimit"))
    elif key == ("apps", "daemonsets"):
        causes += _deployment(
            obj.get("spec"), require_selector=False, fields=("minReadySeconds", "revisionHistoryLimit")
        )
    elif key == ("batch", "jobs"):
        causes += _job_template(obj.get("spec"), "spec")
    elif key == ("batch", "cronjobs"):
        causes += _cronjob(obj.get("spec"))
    elif key == ("", "services"):
        causes += _service(obj.get("spec"))
    elif key in (("rbac.authorization.k8s.io", "roles"), ("rbac.authorization.k8s.io", "clusterroles")):
        causes += _rules(obj)
    elif key == ("rbac.authorization.k8s.io", "rolebindings"):
        causes += _binding(obj, ("Role", "ClusterRole"))
    elif key == ("rbac.authorization.k8s.io", "clusterrolebindings"):
        causes += _binding(obj, ("ClusterRole",))
    elif key == ("", "resourcequotas"):
        causes += _resource_quota(obj.get("spec"))
    elif key == ("", "limitranges"):
        causes += _limit_range(obj.get("spec"))
    elif key == ("", "persistentvolumeclaims"):
        causes += _pvc(obj.get("spec"))
    elif key == ("networking.k8s.io", "ingresses"):
        causes += _ingress(obj.get("spec"))
    return causes


# the group the real server names in 422 errors when it differs from the served one
INVALID_GROUP = {("networking.k8s.io", "ingresses"): "extensions"}
