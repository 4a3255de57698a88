"""What the fake server serves: one :class:`ResourceDef` per stored resource.

Built-ins come from ``resources.json``, generated from the real kube-apiserver by
:mod:`.gen_resources` (discovery, OpenAPI and probing writes): :func:`builtins` turns each record
into a definition. :func:`resource_from_crd` turns a CustomResourceDefinition into one, and
:meth:`FakeAPIServer.register_resource` makes others. Each definition knows its group, served
versions (the first is the preferred one, which the fake stores), kind, scope, verbs, short names,
categories, subresources, and which top-level fields bump ``metadata.generation`` (``None``: the
resource has no generation, like ConfigMaps).

A built-in served at several versions (HPAs at v1, v2beta1 and v2beta2) is stored once at its
preferred version and served at the others with only ``apiVersion`` changed, like a CRD with
conversion strategy None; resources sharing storage (Events in core and events.k8s.io, Ingresses
in extensions and networking.k8s.io) are one table with aliases.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

__all__ = [
    "ALL_VERBS",
    "DATA_FILE",
    "ResourceDef",
    "SubresourceDef",
    "builtins",
    "data",
    "resource_from_crd",
    "version_priority",
]

DATA_FILE = Path(__file__).with_name("resources.json")

# Marker for custom resources: every field other than metadata (and status, with a status
# subresource) counts as "spec" for generation purposes.
EVERYTHING_BUT_METADATA = ("*",)


@attrs.frozen
class SubresourceDef:
    """A subresource as discovery lists it (``scale`` names autoscaling/v1 in ``group``/``version``)."""

    name: str
    kind: str
    verbs: tuple[str, ...] = ("get", "patch", "update")
    group: str | None = None
    version: str | None = None
    versions: tuple[str, ...] | None = None  # None: served in every version of the resource


ALL_VERBS: tuple[str, ...] = (
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
)
"""The verbs of a resource served in full (discovery lists them in this order for built-ins)."""


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
    subresources: tuple[SubresourceDef, ...] = ()
    generation_fields: tuple[str, ...] | None = None
    builtin: bool = True
    verbs: tuple[str, ...] = ALL_VERBS
    create_on_update: bool = False
    alias_of: tuple[str, str] | None = None
    # the scale subresource: (specReplicasPath, statusReplicasPath, labelSelectorPath or None)
    scale: tuple[str, str, str | None] | None = None
    storage_version: str = ""
    storage_hash: str = ""  # discovery's storageVersionHash ("" computes it; None-like for virtual)
    stored: bool = True  # False: create-only reviews and the like, answered but never stored
    create_finalizers: tuple[str, ...] = ()  # added on create, like admission's pvc-protection
    delete_orphans: bool = False  # DELETE without a propagation policy orphans (adds "orphan")
    fields: tuple[str, ...] = ()  # top-level fields of the kind (OpenAPI)

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

    @property
    def status_subresource(self) -> bool:
        return any(s.name == "status" for s in self.subresources)

    def storage_version_hash(self) -> str:
        if self.storage_hash:
            return self.storage_hash
        version = self.storage_version or self.versions[0]
        digest = hashlib.sha256(f"{self.group}/{version}/{self.kind}".encode()).digest()
        return base64.b64encode(digest[:8]).decode()

    def subresource(self, name: str, version: str | None) -> SubresourceDef | None:
        """The subresource ``name`` served at ``version`` (None: the storage version), or None."""
        want = version or self.storage_version or self.versions[0]
        for sub in self.subresources:
            if sub.name == name and (sub.versions is None or want in sub.versions):
                return sub
        return None

    def has_status(self, version: str | None) -> bool:
        """Whether ``version`` (None: the storage version) serves a status subresource."""
        return self.subresource("status", version) is not None

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


@functools.cache
def data() -> dict[str, Any]:
    """The generated resource table (``resources.json``), loaded once."""
    loaded: dict[str, Any] = json.loads(DATA_FILE.read_text())
    return loaded


_SCALE_PATHS = (".spec.replicas", ".status.replicas", None)


def _from_record(record: dict[str, Any]) -> ResourceDef:
    entry = record["discovery"]
    storage = record.get("storage")
    alias = None
    if storage is not None and (storage["group"], storage["plural"]) != (record["group"], record["plural"]):
        alias = (storage["group"], storage["plural"])
    versions = [
        record["preferredVersion"],
        *(v for v in record["versions"] if v != record["preferredVersion"]),
    ]
    subs = []
    for sub in record["subresources"]:
        sub_entry = sub["entry"]
        subs.append(
            SubresourceDef(
                name=sub["name"],
                kind=sub_entry["kind"],
                verbs=tuple(sub_entry["verbs"]),
                group=sub_entry.get("group"),
                version=sub_entry.get("version"),
                versions=None if len(sub["versions"]) == len(versions) else tuple(sub["versions"]),
            )
        )
    generation = record.get("generation")
    return ResourceDef(
        group=record["group"],
        versions=tuple(versions),
        plural=record["plural"],
        kind=entry["kind"],
        namespaced=entry["namespaced"],
        singular=entry.get("singularName", ""),
        short_names=tuple(entry.get("shortNames") or ()),
        categories=tuple(entry.get("categories") or ()),
        subresources=tuple(subs),
        generation_fields=None if generation is None else tuple(generation),
        verbs=tuple(entry["verbs"]),
        create_on_update=bool(record.get("createOnUpdate")),
        alias_of=alias,
        scale=_SCALE_PATHS if any(s["name"] == "scale" for s in record["subresources"]) else None,
        storage_version=versions[0],
        storage_hash=entry.get("storageVersionHash", ""),
        stored=storage is not None,
        create_finalizers=tuple(record.get("createFinalizers") or ()),
        delete_orphans=bool(record.get("deleteOrphans")),
        fields=tuple(record.get("fields") or ()),
    )


@functools.cache
def builtins() -> tuple[ResourceDef, ...]:
    """Every built-in resource of the real server the data file was generated from."""
    return tuple(_from_record(r) for r in data()["resources"])


def resource_from_crd(crd: Mapping[str, Any]) -> ResourceDef | None:
    """The resource a CRD serves, or None when it serves no version."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    served = [v for v in spec.get("versions") or [] if v.get("served")]
    if not served:
        return None
    storage = next((v["name"] for v in spec.get("versions") or [] if v.get("storage")), served[0]["name"])
    scale_paths = None
    for v in served:
        scale = (v.get("subresources") or {}).get("scale")
        if isinstance(scale, dict) and scale.get("specReplicasPath") and scale.get("statusReplicasPath"):
            selector = scale.get("labelSelectorPath")
            scale_paths = (str(scale["specReplicasPath"]), str(scale["statusReplicasPath"]), selector)
            break
    return ResourceDef(
        group=spec.get("group", ""),
        versions=tuple(version_priority([v["name"] for v in served])),
        plural=names.get("plural", ""),
        kind=names.get("kind", ""),
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        singular=names.get("singular") or names.get("kind", "").lower(),
        short_names=tuple(names.get("shortNames") or ()),
        categories=tuple(names.get("categories") or ()),
        subresources=_crd_subresources(names.get("kind", ""), served),
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


def _crd_subresources(kind: str, served: list[dict[str, Any]]) -> tuple[SubresourceDef, ...]:
    out = []
    all_versions = len(served)
    for name in ("scale", "status"):
        versions = tuple(v["name"] for v in served if name in (v.get("subresources") or {}))
        if not versions:
            continue
        keep = None if len(versions) == all_versions else versions
        if name == "scale":
            out.append(SubresourceDef("scale", "Scale", group="autoscaling", version="v1", versions=keep))
        else:
            out.append(SubresourceDef("status", kind, versions=keep))
    return tuple(out)


def version_priority(versions: list[str]) -> list[str]:
    """Kubernetes version ordering: GA > beta > alpha, higher numbers first, others alphabetically."""
    import re

    def key(v: str) -> tuple[int, int, int, str]:
        m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", v)
        if not m:
            return (3, 0, 0, v)
        stage = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
        return (stage, -int(m.group(1)), -int(m.group(3) or 0), v)

    return sorted(versions, key=key)
