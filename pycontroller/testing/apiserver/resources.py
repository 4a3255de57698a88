"""What the fake server serves: one :class:`ResourceDef` per stored resource.

Built-ins are listed in :data:`BUILTINS`; :func:`resource_from_crd` turns a
CustomResourceDefinition into one. Each definition knows its group, served versions, kind, scope,
short names, whether it has a status subresource, and which top-level fields bump
``metadata.generation`` (``None``: the resource has no generation, like ConfigMaps).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["BUILTINS", "ResourceDef", "resource_from_crd"]

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
CLUSTER_VERBS_NO_COLLECTION = ("create", "delete", "get", "list", "patch", "update", "watch")

# Marker for custom resources: every field other than metadata (and status, with a status
# subresource) counts as "spec" for generation purposes.
EVERYTHING_BUT_METADATA = ("*",)


@attrs.frozen
class ResourceDef:
    """One resource: ``group``/``versions`` (first is preferred, ``storage_version`` is stored)."""

    group: str
    versions: tuple[str, ...]
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status_subresource: bool = False  # in any served version
    status_versions: tuple[str, ...] | None = None  # None: every version has it when status_subresource
    generation_fields: tuple[str, ...] | None = None
    builtin: bool = True
    verbs: tuple[str, ...] = ALL_VERBS
    create_on_update: bool = False
    alias_of: tuple[str, str] | None = None
    # the scale subresource: (specReplicasPath, statusReplicasPath, labelSelectorPath or None)
    scale: tuple[str, str, str | None] | None = None  # served from another resource's storage (converted)
    storage_version: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.group, self.plural)

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    def api_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    @property
    def stored_api_version(self) -> str:
        return self.api_version(self.storage_version or self.versions[0])

    def storage_version_hash(self) -> str:
        digest = hashlib.sha256(f"{self.group}/{self.stored_api_version}/{self.kind}".encode()).digest()
        return base64.b64encode(digest[:8]).decode()

    def has_status(self, version: str | None) -> bool:
        """Whether ``version`` (None: the storage version) serves a status subresource."""
        if not self.status_subresource:
            return False
        if self.status_versions is None:
            return True
        return (version or self.storage_version or self.versions[0]) in self.status_versions

    def spec_changed(
        self, old: Mapping[str, Any], new: Mapping[str, Any], version: str | None = None
    ) -> bool:
        """Whether an update from ``old`` to ``new`` (written at ``version``) bumps metadata.generation."""
        fields = self.generation_fields
        if fields is None:
            return False
        if fields == EVERYTHING_BUT_METADATA:
            skip = {"metadata", "apiVersion", "kind"}
            if self.has_status(version):
                skip.add("status")
            keys = (set(old) | set(new)) - skip
            return any(old.get(k) != new.get(k) for k in keys)
        for field in fields:
            if field == "annotations":
                if (old.get("metadata") or {}).get("annotations") != (new.get("metadata") or {}).get(
                    "annotations"
                ):
                    return True
            elif old.get(field) != new.get(field):
                return True
        return False


def _core(plural: str, kind: str, namespaced: bool = True, **kw: Any) -> ResourceDef:
    return ResourceDef("", ("v1",), plural, kind, namespaced, **kw)


BUILTINS: tuple[ResourceDef, ...] = (
    _core(
        "namespaces",
        "Namespace",
        False,
        short_names=("ns",),
        status_subresource=True,
        verbs=CLUSTER_VERBS_NO_COLLECTION,
    ),
    _core("configmaps", "ConfigMap", short_names=("cm",)),
    _core("secrets", "Secret"),
    _core("serviceaccounts", "ServiceAccount", short_names=("sa",)),
    _core("pods", "Pod", short_names=("po",), categories=("all",), status_subresource=True),
    _core(
        "services",
        "Service",
        short_names=("svc",),
        categories=("all",),
        status_subresource=True,
        verbs=CLUSTER_VERBS_NO_COLLECTION,
        create_on_update=True,
    ),
    _core("events", "Event", short_names=("ev",), create_on_update=True),
    ResourceDef(
        "events.k8s.io",
        ("v1",),
        "events",
        "Event",
        True,
        short_names=("ev",),
        create_on_update=True,
        alias_of=("", "events"),
    ),
    ResourceDef(
        "apps",
        ("v1",),
        "deployments",
        "Deployment",
        True,
        short_names=("deploy",),
        categories=("all",),
        status_subresource=True,
        generation_fields=("spec", "annotations"),
        scale=(".spec.replicas", ".status.replicas", None),
    ),
    ResourceDef("coordination.k8s.io", ("v1",), "leases", "Lease", True, create_on_update=True),
    ResourceDef(
        "apiextensions.k8s.io",
        ("v1",),
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        short_names=("crd", "crds"),
        status_subresource=True,
        generation_fields=("spec",),
    ),
)


def resource_from_crd(crd: Mapping[str, Any]) -> ResourceDef | None:
    """The resource a CRD serves, or None when it serves no version."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    served = [v for v in spec.get("versions") or [] if v.get("served")]
    if not served:
        return None
    storage = next((v["name"] for v in spec.get("versions") or [] if v.get("storage")), served[0]["name"])
    status = any("status" in (v.get("subresources") or {}) for v in served)
    scale_paths = None
    for v in served:
        scale = (v.get("subresources") or {}).get("scale")
        if isinstance(scale, dict) and scale.get("specReplicasPath") and scale.get("statusReplicasPath"):
            selector = scale.get("labelSelectorPath")
            scale_paths = (str(scale["specReplicasPath"]), str(scale["statusReplicasPath"]), selector)
            break
    return ResourceDef(
        group=spec.get("group", ""),
        versions=tuple(_version_priority([v["name"] for v in served])),
        plural=names.get("plural", ""),
        kind=names.get("kind", ""),
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        singular=names.get("singular") or names.get("kind", "").lower(),
        short_names=tuple(names.get("shortNames") or ()),
        categories=tuple(names.get("categories") or ()),
        status_subresource=status,
        status_versions=tuple(v["name"] for v in served if "status" in (v.get("subresources") or {})),
        scale=scale_paths,
        generation_fields=EVERYTHING_BUT_METADATA,
        builtin=False,
        verbs=(
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "create",
            "update",
            "watch",
        ),  # real order
        storage_version=storage,
    )


def _version_priority(versions: list[str]) -> list[str]:
    """Kubernetes version ordering: GA > beta > alpha, higher numbers first, others alphabetically."""
    import re

    def key(v: str) -> tuple[int, int, int, str]:
        m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", v)
        if not m:
            return (3, 0, 0, v)
        stage = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
        return (stage, -int(m.group(1)), -int(m.group(3) or 0), v)

    return sorted(versions, key=key)
