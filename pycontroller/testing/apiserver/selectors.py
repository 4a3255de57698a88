"""Label and field selectors of list and watch requests.

Label selectors are parsed by :mod:`pycontroller.labels` (the same code the cache uses). Field
selectors support ``metadata.name`` and ``metadata.namespace`` with ``=``, ``==`` and ``!=``, the
fields every resource of the real server supports; anything else is a 400 like the real one's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pycontroller import labels

from .status import bad_request

__all__ = ["Filter", "parse_filter"]

_FIELDS = ("metadata.name", "metadata.namespace")


class Filter:
    """Decides whether an object matches a request's label and field selectors."""

    __slots__ = ("fields", "label", "trivial")

    def __init__(self, label: labels.Selector | None, fields: list[tuple[str, bool, str]]) -> None:
        self.label = label
        self.fields = fields
        self.trivial = label is None and not fields

    def matches(self, obj: Mapping[str, Any]) -> bool:
        meta = obj.get("metadata") or {}
        if self.label is not None and not self.label.matches(meta.get("labels") or {}):
            return False
        for field, equal, value in self.fields:
            actual = meta.get("name" if field == "metadata.name" else "namespace") or ""
            if (actual == value) != equal:
                return False
        return True


def parse_filter(label_selector: str | None, field_selector: str | None) -> Filter:
    """Parse the two query parameters; raises a 400 ApiFailure for malformed input."""
    label = None
    if label_selector:
        try:
            label = labels.parse(label_selector)
        except ValueError as exc:
            raise bad_request(f"unable to parse requirement: {exc}") from None
        if label.empty():
            label = None
    fields: list[tuple[str, bool, str]] = []
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
        if field not in _FIELDS:
            raise bad_request(
                f'"{field}" is not a known field selector: only "metadata.name", "metadata.namespace"'
            )
        fields.append((field, equal, value.strip()))
    return Filter(label, fields)
