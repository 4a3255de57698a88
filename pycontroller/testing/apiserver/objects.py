"""Small helpers on object dicts shared by the registry's parts: timestamps, key order, constants."""

from __future__ import annotations

import time
from typing import Any

from .resources import ResourceDef

__all__ = ["CRD_FINALIZER", "CRD_KEY", "NS_KEY", "now_rfc3339", "ordered", "spec_finalizers"]

CRD_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
NS_KEY = ("", "namespaces")


def now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def spec_finalizers(rdef: ResourceDef, obj: dict[str, Any]) -> bool:
    """Namespaces stay while spec.finalizers (the namespace controller's) is not empty."""
    return rdef.key == NS_KEY and bool((obj.get("spec") or {}).get("finalizers"))


_META_ORDER = (
    "name",
    "generateName",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
)


def ordered(obj: dict[str, Any]) -> dict[str, Any]:
    """kind, apiVersion, metadata first (metadata's identity fields first), like the real server."""
    meta = obj["metadata"]
    new_meta = {k: meta[k] for k in _META_ORDER if k in meta}
    for k, v in meta.items():
        if k not in new_meta:
            new_meta[k] = v
    out: dict[str, Any] = {"kind": obj["kind"], "apiVersion": obj["apiVersion"], "metadata": new_meta}
    for k, v in obj.items():
        if k not in out:
            out[k] = v
    return out
