"""Generate ``resources.json``, the fake API server's table of built-in resources, from the real server.

Run ``python -m pycontroller.testing.apiserver.gen_resources [--out PATH]`` with
``KUBEBUILDER_ASSETS`` pointing at etcd and kube-apiserver. It starts them (:class:`EnvTest`), reads

* discovery: ``/api``, ``/apis`` (the group order), every group version's APIResourceList;
* OpenAPI (``/openapi/v2``): each kind's top-level fields;

and, since generation semantics are not in discovery, writes the object of
:data:`.samples.SAMPLES` of every stored resource to the server: the created object shows whether
the resource has ``metadata.generation`` and which finalizers the server adds by itself
(``kubernetes.io/pvc-protection``); a merge patch of each top-level field (and of the
annotations) shows which ones bump the generation; a DELETE without a propagation policy shows
whether the resource orphans its dependents by default (the ``orphan`` finalizer, e.g. Jobs).

Resources that share storage (events in core and events.k8s.io, ingresses in extensions and
networking.k8s.io) are recognised by their equal ``storageVersionHash``; the storage version is the
served group/version/kind whose hash equals it. The output is sorted and stable, so a re-run
against the same server version changes nothing.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ..envtest import EnvTest
from .samples import SAMPLES

__all__ = [
    "DATA_FILE",
    "DOCS_BEGIN",
    "DOCS_END",
    "generate",
    "main",
    "served_resources_markdown",
    "storage_version_hash",
    "update_docs",
]

DATA_FILE = Path(__file__).with_name("resources.json")
NAMESPACE = "pycontroller-gen"


def storage_version_hash(group: str, version: str, kind: str) -> str:
    """The discovery ``storageVersionHash`` of a resource stored as ``group/version`` ``kind``."""
    digest = hashlib.sha256(f"{group}/{version}/{kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


class _Http:
    def __init__(self, env: EnvTest) -> None:
        self.url = env.url
        self.token = env.token
        self.ctx = ssl.create_default_context(cafile=str(env.ca_file))
        self.ctx.check_hostname = False

    def call(self, method: str, path: str, body: Any = None, ctype: str = "application/json") -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", ctype)
        try:
            with urllib.request.urlopen(req, timeout=30, context=self.ctx) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{method} {path}: {exc.code} {exc.read()[:500]!r}") from None


def _discovery(http: _Http) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    groups: list[dict[str, Any]] = [
        {
            "name": "",
            "versions": [{"groupVersion": v, "version": v} for v in http.call("GET", "/api")["versions"]],
        }
    ]
    groups[0]["preferredVersion"] = groups[0]["versions"][0]
    groups += http.call("GET", "/apis")["groups"]
    lists: dict[str, dict[str, Any]] = {}
    for group in groups:
        for version in group["versions"]:
            gv = version["groupVersion"]
            lists[gv] = http.call("GET", f"/api/{gv}" if not group["name"] else f"/apis/{gv}")
    return groups, lists


def _resources(
    groups: list[dict[str, Any]], lists: dict[str, dict[str, Any]], openapi: dict[str, Any]
) -> list[dict[str, Any]]:
    by_gvk: dict[tuple[str, str, str], list[str]] = {}
    for definition in openapi.get("definitions", {}).values():
        for gvk in definition.get("x-kubernetes-group-version-kind") or []:
            props = sorted(definition.get("properties") or {})
            by_gvk[(gvk.get("group", ""), gvk["version"], gvk["kind"])] = props
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for group in groups:
        gname = group["name"]
        for version in group["versions"]:
            listing = lists[version["groupVersion"]]
            for entry in listing["resources"]:
                plural, _, sub = entry["name"].partition("/")
                record = out.setdefault(
                    (gname, plural),
                    {"group": gname, "plural": plural, "versions": [], "subresources": []},
                )
                if not sub:
                    record["versions"].append(version["version"])
                    main = {k: v for k, v in entry.items() if k != "name"}
                    if "entry" in record and record["entry"] != main:
                        raise RuntimeError(f"{plural}.{gname}: discovery differs between versions")
                    record["entry"] = main
                    continue
                subs = record["subresources"]
                found = next((s for s in subs if s["name"] == sub), None)
                sub_entry = {k: v for k, v in entry.items() if k != "name"}
                if found is None:
                    subs.append({"name": sub, "entry": sub_entry, "versions": [version["version"]]})
                elif found["entry"] != sub_entry:
                    raise RuntimeError(f"{entry['name']}.{gname}: discovery differs between versions")
                else:
                    found["versions"].append(version["version"])
    resources = []
    for (gname, plural), record in out.items():
        if "entry" not in record:
            raise RuntimeError(f"{plural}.{gname}: only subresources are listed")
        entry = record.pop("entry")
        group = next(g for g in groups if g["name"] == gname)
        preferred = group["preferredVersion"]["version"]
        record["kind"] = entry["kind"]
        record["preferredVersion"] = preferred if preferred in record["versions"] else record["versions"][0]
        record["discovery"] = entry
        record["fields"] = by_gvk.get((gname, record["preferredVersion"], entry["kind"]), [])
        resources.append(record)
    # storage: the served group/version whose hash is the storageVersionHash
    for record in resources:
        want = record["discovery"].get("storageVersionHash")
        if not want:
            continue
        for other in resources:
            if other["discovery"]["kind"] != record["discovery"]["kind"]:
                continue
            for version in other["versions"]:
                if storage_version_hash(other["group"], version, other["kind"]) == want:
                    record["storage"] = {
                        "group": other["group"],
                        "version": version,
                        "plural": other["plural"],
                    }
        if "storage" not in record:
            raise RuntimeError(f"{record['plural']}.{record['group']}: no served version has hash {want}")
    return resources


def _probe(http: _Http, record: dict[str, Any]) -> None:
    """Write the sample of ``record`` to learn generation, create finalizers and default orphaning."""
    key = (record["group"], record["plural"])
    record["generation"] = None
    record["createFinalizers"] = []
    record["deleteOrphans"] = False
    record["createOnUpdate"] = False
    if key not in SAMPLES:
        return
    body, mutations = SAMPLES[key]
    body = json.loads(json.dumps(body))
    api_version = body["apiVersion"]
    prefix = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    if record["discovery"]["namespaced"]:
        prefix += f"/namespaces/{NAMESPACE}"
        body["metadata"]["namespace"] = NAMESPACE
        if "involvedObject" in body:
            body["involvedObject"]["namespace"] = NAMESPACE
    collection = f"{prefix}/{record['plural']}"
    path = f"{collection}/{body['metadata']['name']}"
    created = http.call("POST", collection, body)
    record["sampleCreated"] = normalized(created)
    meta = created["metadata"]
    record["createFinalizers"] = list(meta.get("finalizers") or [])
    merge = "application/merge-patch+json"
    if "generation" in meta:
        fields = []
        for field, change in sorted(mutations.items()):
            before = http.call("GET", path)["metadata"]["generation"]
            after = http.call("PATCH", path, change, merge)["metadata"]["generation"]
            if after != before:
                fields.append(field)
        before = http.call("GET", path)["metadata"]["generation"]
        after = http.call("PATCH", path, {"metadata": {"annotations": {"gen": "x"}}}, merge)["metadata"][
            "generation"
        ]
        if after != before:
            fields.append("annotations")
        record["generation"] = fields
    record["createOnUpdate"] = _creates_on_update(http, collection, body)
    deleted = http.call("DELETE", path)
    finalizers = (deleted.get("metadata") or {}).get("finalizers") or []
    record["deleteOrphans"] = "orphan" in finalizers
    if finalizers:  # let it go (there are no controllers to remove them)
        http.call("PATCH", path, {"metadata": {"finalizers": None}}, merge)


def normalized(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` without what differs on every write: uid (also where it is copied, like a Job's
    selector), resourceVersion, timestamps, managedFields, allocated cluster IPs."""
    meta = obj["metadata"]
    text = json.dumps(obj)
    if meta.get("uid"):
        text = text.replace(meta["uid"], "<uid>")
    for ip in (obj.get("spec") or {}).get("clusterIPs") or []:
        if ip != "None":
            text = text.replace(f'"{ip}"', '"<clusterIP>"')
    out: dict[str, Any] = json.loads(text)
    for field in ("uid", "resourceVersion", "creationTimestamp", "managedFields", "selfLink"):
        out["metadata"].pop(field, None)
    return out


def _creates_on_update(http: _Http, collection: str, body: dict[str, Any]) -> bool:
    """Whether a PUT to a missing name creates the object (AllowCreateOnUpdate)."""
    body = json.loads(json.dumps(body))
    name = body["metadata"]["name"] = "put-" + body["metadata"]["name"]
    if body.get("kind") == "APIService":
        return False  # its name must be version.group: no second sample
    try:
        http.call("PUT", f"{collection}/{name}", body)
    except RuntimeError as exc:
        if " 404 " in str(exc):
            return False
        raise
    deleted = http.call("DELETE", f"{collection}/{name}")
    if (deleted.get("metadata") or {}).get("finalizers"):
        http.call(
            "PATCH",
            f"{collection}/{name}",
            {"metadata": {"finalizers": None}},
            "application/merge-patch+json",
        )
    return True


def generate(env: EnvTest) -> dict[str, Any]:
    """Read discovery and OpenAPI from the running ``env`` and probe it; returns the data document."""
    http = _Http(env)
    version = http.call("GET", "/version")
    groups, lists = _discovery(http)
    openapi = http.call("GET", "/openapi/v2")
    resources = _resources(groups, lists, openapi)
    http.call(
        "POST",
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
    )
    for record in resources:
        storage = record.get("storage")
        if storage is None:  # not stored (reviews, bindings, component statuses)
            record.update(generation=None, createFinalizers=[], deleteOrphans=False, createOnUpdate=False)
        elif (storage["group"], storage["plural"]) == (record["group"], record["plural"]):
            _probe(http, record)
    for record in resources:  # resources sharing storage behave like the stored one
        if "generation" not in record:
            stored = next(
                r
                for r in resources
                if (r["group"], r["plural"]) == (record["storage"]["group"], record["storage"]["plural"])
            )
            for field in ("generation", "createFinalizers", "deleteOrphans", "createOnUpdate"):
                record[field] = stored[field]
    resources.sort(key=lambda r: (r["group"], r["plural"]))
    return {
        "serverVersion": version["gitVersion"],
        # APIResourceLists the real server sends without "apiVersion" (a legacy quirk)
        "listsWithoutApiVersion": sorted(gv for gv, doc in lists.items() if "apiVersion" not in doc),
        "groups": [{k: g[k] for k in ("name", "versions", "preferredVersion")} for g in groups],
        "resources": resources,
    }


DOCS_BEGIN = "<!-- served-resources: generated by gen_resources --docs, do not edit -->"
DOCS_END = "<!-- end of served-resources -->"


def served_resources_markdown(data: dict[str, Any]) -> str:
    """The table of served resources for docs/testing.md, from the data document."""
    lines = [
        f"Generated from kube-apiserver {data['serverVersion']} ({len(data['resources'])} resources).",
        "",
        "| resource | group: versions (preferred first) | kind | scope | short names | subresources | generation | notes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for record in data["resources"]:
        entry = record["discovery"]
        group = record["group"] or "core"
        versions = [
            record["preferredVersion"],
            *(v for v in record["versions"] if v != record["preferredVersion"]),
        ]
        generation = (
            "-" if record["generation"] is None else ", ".join(record["generation"]) or "set, never bumped"
        )
        notes = []
        if record.get("storage") is None:
            notes.append("answered, not stored")
        elif (record["storage"]["group"], record["storage"]["plural"]) != (record["group"], record["plural"]):
            storage = record["storage"]
            notes.append(f"stored as {storage['plural']}.{storage['group'] or 'core'}")
        if record["createFinalizers"]:
            notes.append("adds " + ", ".join(f"`{f}`" for f in record["createFinalizers"]))
        if record["deleteOrphans"]:
            notes.append("orphans by default")
        if record.get("createOnUpdate"):
            notes.append("PUT creates")
        lines.append(
            f"| {record['plural']} | {group}: {', '.join(versions)} | {entry['kind']} | "
            f"{'Namespaced' if entry['namespaced'] else 'Cluster'} | {', '.join(entry.get('shortNames') or []) or '-'} | "
            f"{', '.join(s['name'] for s in record['subresources']) or '-'} | {generation} | {'; '.join(notes) or '-'} |"
        )
    return "\n".join(lines) + "\n"


def update_docs(text: str, data: dict[str, Any]) -> str:
    """``text`` (docs/testing.md) with the section between the markers replaced by the table."""
    try:
        head, rest = text.split(DOCS_BEGIN, 1)
        _, tail = rest.split(DOCS_END, 1)
    except ValueError:
        raise ValueError(f"the markers {DOCS_BEGIN!r} and {DOCS_END!r} are missing") from None
    return f"{head}{DOCS_BEGIN}\n{served_resources_markdown(data)}{DOCS_END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DATA_FILE, help=f"output file (default {DATA_FILE})")
    parser.add_argument(
        "--docs",
        type=Path,
        default=None,
        help="only rewrite the served-resources table of this markdown file from the data file",
    )
    args = parser.parse_args(argv)
    if args.docs is not None:
        data = json.loads(args.out.read_text())
        args.docs.write_text(update_docs(args.docs.read_text(), data))
        print(f"{args.docs}: {len(data['resources'])} resources listed")
        return 0
    with EnvTest() as env:
        data = generate(env)
    text = json.dumps(data, indent=1, sort_keys=True) + "\n"
    args.out.write_text(text)
    print(f"{args.out}: {len(data['resources'])} resources from kube-apiserver {data['serverVersion']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
