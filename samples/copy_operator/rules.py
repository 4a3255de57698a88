"""The CopyRule API and the pure decisions of the copy operator (no I/O).

A CopyRule (samples.pycontroller.dev/v1alpha1, namespaced) says: copy the ConfigMaps (``ruleType:
configmap``) or Secrets (``ruleType: secret``) of the rule's own namespace whose labels match
``selector.matchLabels`` into ``targetNamespaces`` (a list), or into every namespace with
``allNamespaces: true`` (including namespaces created later). The rule's own namespace is never a
target: a copy is never written over its source.

Copies carry two labels naming their rule (``samples.pycontroller.dev/copyrule-namespace`` and
``.../copyrule-name``) and an annotation naming their source. That is how the operator finds them (a
namespaced object cannot own objects in other namespaces, so owner references cannot be used), and
how it tells its own copies from objects that merely share a name: those are left alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from pycontroller.client import GroupVersionResource
from pycontroller.labels import SelectorError, selector_from_label_selector

__all__ = [
    "COPYRULES",
    "GROUP",
    "RESOURCES",
    "RULE_NAMESPACE_LABEL",
    "RULE_NAME_LABEL",
    "SOURCE_ANNOTATION",
    "desired_copy",
    "is_copy_of",
    "label_value",
    "rule_labels",
    "rule_problem",
    "same_content",
    "target_namespaces",
]

GROUP = "samples.pycontroller.dev"
COPYRULES = GroupVersionResource(GROUP, "v1alpha1", "copyrules")
RESOURCES = {
    "configmap": GroupVersionResource("", "v1", "configmaps"),
    "secret": GroupVersionResource("", "v1", "secrets"),
}
KINDS = {"configmap": "ConfigMap", "secret": "Secret"}
RULE_NAMESPACE_LABEL = f"{GROUP}/copyrule-namespace"
RULE_NAME_LABEL = f"{GROUP}/copyrule-name"
SOURCE_ANNOTATION = f"{GROUP}/copied-from"

# What is copied: everything that makes the object what it is, nothing the server owns.
_CONTENT_FIELDS = ("data", "binaryData", "type", "immutable")


def label_value(text: str) -> str:
    """``text`` if it fits a label value (63 characters), else a stable 40-character digest of it."""
    return text if len(text) <= 63 else hashlib.sha1(text.encode()).hexdigest()


def rule_labels(rule_namespace: str, rule_name: str) -> dict[str, str]:
    """The labels that mark an object as a copy made for this rule."""
    return {RULE_NAMESPACE_LABEL: label_value(rule_namespace), RULE_NAME_LABEL: label_value(rule_name)}


def rule_problem(rule: Mapping[str, Any]) -> str | None:
    """What is wrong with a rule's spec, in a sentence, or None when it can be acted on."""
    spec = rule.get("spec")
    if not isinstance(spec, Mapping):
        return "spec must be an object with ruleType and selector"
    rule_type = spec.get("ruleType")
    if rule_type not in RESOURCES:
        return f"spec.ruleType must be one of {sorted(RESOURCES)}, got {rule_type!r}"
    selector = spec.get("selector")
    if not isinstance(selector, Mapping):
        return "spec.selector must be an object with matchLabels"
    try:
        selector_from_label_selector(selector)
    except (SelectorError, TypeError, ValueError) as exc:
        return f"spec.selector is not a valid label selector: {exc}"
    targets = spec.get("targetNamespaces")
    if targets is not None and (
        not isinstance(targets, list) or not all(isinstance(t, str) for t in targets)
    ):
        return "spec.targetNamespaces must be a list of namespace names"
    if not spec.get("allNamespaces") and not targets:
        return "no target: set spec.targetNamespaces or spec.allNamespaces: true"
    return None


def target_namespaces(rule: Mapping[str, Any], existing: Iterable[Mapping[str, Any]]) -> list[str]:
    """The namespaces a valid rule copies into: those that exist and are not being deleted,
    listed in the rule (or all of them), never the rule's own namespace."""
    spec = rule["spec"]
    own = rule["metadata"]["namespace"]
    alive = {
        ns["metadata"]["name"]
        for ns in existing
        if not ns["metadata"].get("deletionTimestamp")
        and (ns.get("status") or {}).get("phase") != "Terminating"
    }
    wanted = alive if spec.get("allNamespaces") else alive & set(spec.get("targetNamespaces") or ())
    wanted.discard(own)
    return sorted(wanted)


def is_copy_of(obj: Mapping[str, Any], rule_namespace: str, rule_name: str) -> bool:
    """True when ``obj`` is a copy this operator made for that rule."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    mine = rule_labels(rule_namespace, rule_name)
    return all(labels.get(k) == v for k, v in mine.items())


def is_any_copy(obj: Mapping[str, Any]) -> bool:
    """True when ``obj`` is a copy made by this operator for some rule (never a source)."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return RULE_NAMESPACE_LABEL in labels and RULE_NAME_LABEL in labels


def desired_copy(rule: Mapping[str, Any], source: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    """The copy of ``source`` that ``rule`` wants in ``namespace`` (a new dict)."""
    rule_meta = rule["metadata"]
    meta = source["metadata"]
    labels = {**(meta.get("labels") or {}), **rule_labels(rule_meta["namespace"], rule_meta["name"])}
    copy: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": KINDS[rule["spec"]["ruleType"]],
        "metadata": {
            "name": meta["name"],
            "namespace": namespace,
            "labels": labels,
            "annotations": {SOURCE_ANNOTATION: f"{meta['namespace']}/{meta['name']}"},
        },
    }
    for field in _CONTENT_FIELDS:
        if field in source:
            copy[field] = source[field]
    return copy


def same_content(existing: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """True when ``existing`` already has ``desired``'s content, labels and source annotation."""
    for field in _CONTENT_FIELDS:
        if existing.get(field) != desired.get(field):
            # The API server may omit an empty map; treat {} and absent as the same.
            if (existing.get(field) or None) != (desired.get(field) or None):
                return False
    meta, want = existing.get("metadata") or {}, desired["metadata"]
    if (meta.get("labels") or {}) != want["labels"]:
        return False
    source: Any = (meta.get("annotations") or {}).get(SOURCE_ANNOTATION)
    return bool(source == want["annotations"][SOURCE_ANNOTATION])
