"""Discovery documents: /version, /api, /api/v1, /apis, /apis/<group>, /apis/<group>/<version>.

Built from the registry's tables on each request, so CRDs appear and disappear with their
definitions. Shapes follow the real 1.20 server (``/api/v1``'s APIResourceList has no apiVersion,
group documents do; subresources are listed as ``<plural>/status``).
"""

from __future__ import annotations

from typing import Any

from .resources import ResourceDef

__all__ = ["VERSION_INFO", "api_versions", "group_document", "group_list", "resource_list"]

VERSION_INFO = {
    "major": "1",
    "minor": "20",
    "gitVersion": "v1.20.2-pycontroller-fake",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2021-01-13T13:20:00Z",
    "goVersion": "go1.15.5",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def api_versions(address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    }


def _groups(rdefs: list[ResourceDef]) -> dict[str, list[ResourceDef]]:
    groups: dict[str, list[ResourceDef]] = {}
    for rdef in rdefs:
        if rdef.group:
            groups.setdefault(rdef.group, []).append(rdef)
    return groups


def _group_entry(name: str, rdefs: list[ResourceDef]) -> dict[str, Any]:
    versions: list[str] = []
    for rdef in rdefs:
        for v in rdef.versions:
            if v not in versions:
                versions.append(v)
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def group_list(tables: list[ResourceDef]) -> dict[str, Any]:
    groups = _groups(tables)
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group_entry(name, rdefs) for name, rdefs in sorted(groups.items())],
    }


def group_document(tables: list[ResourceDef], group: str) -> dict[str, Any] | None:
    rdefs = _groups(tables).get(group)
    if not rdefs:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(group, rdefs)}


def resource_list(tables: list[ResourceDef], group: str, version: str) -> dict[str, Any] | None:
    resources: list[dict[str, Any]] = []
    for rdef in sorted(tables, key=lambda r: r.plural):
        if rdef.group != group or version not in rdef.versions:
            continue
        entry: dict[str, Any] = {
            "name": rdef.plural,
            "singularName": rdef.singular,
            "namespaced": rdef.namespaced,
            "kind": rdef.kind,
            "verbs": list(rdef.verbs),
        }
        if rdef.short_names:
            entry["shortNames"] = list(rdef.short_names)
        if rdef.categories:
            entry["categories"] = list(rdef.categories)
        entry["storageVersionHash"] = rdef.storage_version_hash()
        resources.append(entry)
        if rdef.scale is not None:
            resources.append(
                {
                    "name": f"{rdef.plural}/scale",
                    "singularName": "",
                    "namespaced": rdef.namespaced,
                    "group": "autoscaling",
                    "version": "v1",
                    "kind": "Scale",
                    "verbs": ["get", "patch", "update"],
                }
            )
        if rdef.has_status(version):
            resources.append(
                {
                    "name": f"{rdef.plural}/status",
                    "singularName": "",
                    "namespaced": rdef.namespaced,
                    "kind": rdef.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
    if not resources:
        return None
    doc: dict[str, Any] = {"kind": "APIResourceList"}
    if group:
        doc["apiVersion"] = "v1"
        doc["groupVersion"] = f"{group}/{version}"
    else:
        doc["groupVersion"] = version
    doc["resources"] = resources
    return doc
