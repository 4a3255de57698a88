"""Field validation the real server applies before storing, returning (reason, field, message) causes.

Covered: label keys and values, annotation keys, ConfigMap/Secret data keys, and the required
fields of Pods and Deployments (containers with images, a selector matching the template's
labels). Messages are the real 1.20 server's, so clients matching on them behave alike.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["Cause", "go_map", "go_strings", "validate"]

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


def _deployment(spec: Any) -> list[Cause]:
    if not isinstance(spec, dict):
        spec = {}
    causes: list[Cause] = []
    for field in ("replicas", "minReadySeconds", "revisionHistoryLimit", "progressDeadlineSeconds"):
        value = spec.get(field)
        if isinstance(value, int) and value < 0:
            causes.append(
                (
                    "FieldValueInvalid",
                    f"spec.{field}",
                    f"Invalid value: {value}: must be greater than or equal to 0",
                )
            )
    selector = spec.get("selector")
    template = spec.get("template") if isinstance(spec.get("template"), dict) else {}
    labels = (template.get("metadata") or {}).get("labels")
    if not selector:
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
    causes += _containers(template.get("spec"), "spec.template.spec")
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
    return causes
