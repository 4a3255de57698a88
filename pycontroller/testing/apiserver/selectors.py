"""Label and field selectors of list and watch requests.

Label selectors are parsed by :mod:`pycontroller.labels` (the same code the cache uses). Field
selectors take ``=``, ``==`` and ``!=`` on ``metadata.name`` and ``metadata.namespace`` for every
resource, plus the fields the real server indexes for some built-ins (``involvedObject.name``,
``reason`` and ``type`` for Events; ``spec.nodeName`` and ``status.phase`` for Pods; ``type`` for
Secrets; ``status.phase`` for Namespaces). Anything else is a 400 like the real server's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pycontroller import labels

from .status import bad_request

__all__ = ["Filter", "parse_filter"]

_COMMON = ("metadata.name", "metadata.namespace")
_EXTRA: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "events"): (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    ("", "pods"): (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    ("", "secrets"): ("type",),
    ("", "namespaces"): ("status.phase",),
}


def _field_value(obj: Mapping[str, Any], path: tuple[str, ...]) -> str:
    node: Any = obj
    for part in path:
        if not isinstance(node, Mapping):
            return ""
        node = node.get(part)
    if node is None:
        return ""
    if path == ("source",) and isinstance(node, Mapping):
        return str(node.get("component") or "")
    return str(node)


class Filter:
    """Decides whether an object matches a request's label and field selectors."""

    __slots__ = ("fields", "label", "trivial")

    def __init__(
        self, label: labels.Selector | None, fields: list[tuple[tuple[str, ...], bool, str]]
    ) -> None:
        self.label = label
        self.fields = fields
        self.trivial = label is None and not fields

    def matches(self, obj: Mapping[str, Any]) -> bool:
        if self.label is not None:
            meta = obj.get("metadata") or {}
            if not self.label.matches(meta.get("labels") or {}):
                return False
        for path, equal, value in self.fields:
            if (_field_value(obj, path) == value) != equal:
                return False
        return True


def parse_filter(
    label_selector: str | None, field_selector: str | None, resource: tuple[str, str] = ("", "")
) -> Filter:
    """Parse the two query parameters for ``resource`` (group, plural); 400 ApiFailure if malformed."""
    label = None
    if label_selector:
        try:
            label = labels.parse(label_selector)
        except ValueError as exc:
            raise bad_request(f"unable to parse requirement: {exc}") from None
        if label.empty():
            label = None
    allowed = _COMMON + _EXTRA.get(resource, ())
    fields: list[tuple[tuple[str, ...], bool, str]] = []
    for part in (field_selector or "").split(","):
        part = part.strip()
        if not part:
            continue
        if "!=" in part:
            field, value = part.split("!=", 1)
            equal = False
        elif "==" in part:
            field, value = part.split("==", 1)
            equal = True
        elif "=" in part:
            field, value = part.split("=", 1)
            equal = True
        else:
            raise bad_request(f"invalid selector: '{field_selector}'; can't understand '{part}'")
        field = field.strip()
        if field not in allowed:
            if resource in _EXTRA:  # resources with their own field label conversion
                raise bad_request(f"field label not supported: {field}")
            raise bad_request(
                f'"{field}" is not a known field selector: only "metadata.name", "metadata.namespace"'
            )
        fields.append((tuple(field.split(".")), equal, value.strip()))
    return Filter(label, fields)
