"""Discovery documents: /version, /api, /api/v1, /apis, /apis/<group>, /apis/<group>/<version>.

Built from the registry's tables on each request, so CRDs appear and disappear with their
definitions. Shapes follow the real 1.20 server (``/api/v1``'s APIResourceList has no apiVersion,
group documents do; subresources are listed as ``<plural>/status``).
"""

from __future__ import annotations

from typing import Any

from .resources import ResourceDef, SubresourceDef, data, version_priority

__all__ = ["VERSION_INFO", "api_versions", "group_document", "group_list", "resource_list"]

VERSION_INFO = {
    "major": "1",
    "minor": "20",
    "gitVersion": "v1.20.2-pycontroller-fake",  # the server the resource table was generated from
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


def _builtin_groups() -> dict[str, dict[str, Any]]:
    return {g["name"]: g for g in data()["groups"] if g["name"]}


def _group_entry(name: str, rdefs: list[ResourceDef]) -> dict[str, Any]:
    builtin = _builtin_groups().get(name)
    versions: list[str] = []
    if builtin is not None:  # the real server's version order, then versions added by CRDs
        served = {v for rdef in rdefs for v in rdef.versions}
        versions = [v["version"] for v in builtin["versions"] if v["version"] in served]
    extra: list[str] = []
    for rdef in rdefs:
        for v in rdef.versions:
            if v not in versions and v not in extra:
                extra.append(v)
    versions += version_priority(extra) if builtin is not None else extra
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    preferred = entries[0]
    if builtin is not None and builtin["preferredVersion"]["version"] in versions:
        preferred = dict(builtin["preferredVersion"])
    return {"name": name, "versions": entries, "preferredVersion": preferred}


def _ordered_groups(tables: list[ResourceDef]) -> list[tuple[str, list[ResourceDef]]]:
    """Built-in groups in the real server's order, then the others (CRDs) by name."""
    groups = _groups(tables)
    order = list(_builtin_groups())
    rank = {name: i for i, name in enumerate(order)}
    return sorted(groups.items(), key=lambda item: (rank.get(item[0], len(order)), item[0]))


def group_list(tables: list[ResourceDef]) -> dict[str, Any]:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group_entry(name, rdefs) for name, rdefs in _ordered_groups(tables)],
    }


def group_document(tables: list[ResourceDef], group: str) -> dict[str, Any] | None:
    rdefs = _groups(tables).get(group)
    if not rdefs:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(group, rdefs)}


def _entry(rdef: ResourceDef) -> dict[str, Any]:
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
    if rdef.stored:
        entry["storageVersionHash"] = rdef.storage_version_hash()
    return entry


def _sub_entry(rdef: ResourceDef, sub: SubresourceDef) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": f"{rdef.plural}/{sub.name}",
        "singularName": "",
        "namespaced": rdef.namespaced,
    }
    if sub.group is not None:
        entry["group"] = sub.group
    if sub.version is not None:
        entry["version"] = sub.version
    entry["kind"] = sub.kind
    entry["verbs"] = list(sub.verbs)
    return entry


def resource_list(tables: list[ResourceDef], group: str, version: str) -> dict[str, Any] | None:
    resources: list[dict[str, Any]] = []
    for rdef in tables:
        if rdef.group != group or version not in rdef.versions:
            continue
        resources.append(_entry(rdef))
        subs = (
            rdef.subresources if rdef.builtin else sorted(rdef.subresources, key=lambda s: s.name != "status")
        )
        for sub in subs:
            if sub.versions is None or version in sub.versions:
                resources.append(_sub_entry(rdef, sub))
    if not resources:
        return None
    if any(r.builtin for r in tables if r.group == group and version in r.versions):
        resources.sort(key=lambda e: str(e["name"]))  # built-in lists are sorted, CRDs' are not
    doc: dict[str, Any] = {"kind": "APIResourceList"}
    gv = f"{group}/{version}" if group else version
    if gv not in data()["listsWithoutApiVersion"]:
        doc["apiVersion"] = "v1"
    doc["groupVersion"] = gv
    doc["resources"] = resources
    return doc
