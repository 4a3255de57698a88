"""Discovery documents equal the real server's, built-ins and CRDs alike.

The expected documents are rebuilt here from ``resources.json`` (what ``gen_resources`` read from
the real kube-apiserver): on the envtest case the test shows the data file is faithful to the real
server, on the fake case that the fake serves exactly it; so both servers answer alike.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from pycontroller.client import RestClient
from pycontroller.testing.apiserver.resources import data

from ._support import crd_manifest, temporary_crd, unique


def _expected_lists() -> dict[str, dict[str, Any]]:
    """groupVersion -> the APIResourceList the real server answered."""
    docs: dict[str, dict[str, Any]] = {}
    for record in data()["resources"]:
        group = record["group"]
        for version in record["versions"]:
            gv = f"{group}/{version}" if group else version
            doc = docs.setdefault(gv, {"kind": "APIResourceList", "groupVersion": gv, "resources": []})
            if gv not in data()["listsWithoutApiVersion"]:
                doc["apiVersion"] = "v1"
            doc["resources"].append({"name": record["plural"], **record["discovery"]})
            for sub in record["subresources"]:
                if version in sub["versions"]:
                    doc["resources"].append({"name": f"{record['plural']}/{sub['name']}", **sub["entry"]})
    for doc in docs.values():
        doc["resources"].sort(key=lambda r: r["name"])
    return docs


def _builtin_groups() -> list[dict[str, Any]]:
    return [g for g in data()["groups"] if g["name"]]


async def test_the_group_list_has_the_real_servers_groups_in_its_order(rest_client: RestClient) -> None:
    listing = await rest_client.request("GET", "/apis")
    names = {g["name"] for g in _builtin_groups()}
    builtin = [g for g in listing["groups"] if g["name"] in names]
    assert listing["kind"] == "APIGroupList"
    assert builtin == _builtin_groups()


async def test_every_group_document_equals_the_real_servers(rest_client: RestClient) -> None:
    for group in _builtin_groups():
        doc = await rest_client.request("GET", f"/apis/{group['name']}")
        assert doc == {"kind": "APIGroup", "apiVersion": "v1", **group}, group["name"]


async def test_every_resource_list_equals_the_real_servers(rest_client: RestClient) -> None:
    expected = _expected_lists()
    assert len(expected) == 37  # group versions of kube-apiserver 1.20
    for gv, want in expected.items():
        path = f"/apis/{gv}" if "/" in gv else f"/api/{gv}"
        got = await rest_client.request("GET", path)
        assert got == want, gv


async def test_1_20_serves_cronjobs_and_pdbs_only_as_v1beta1_with_empty_singular_names(
    rest_client: RestClient,
) -> None:
    batch = await rest_client.request("GET", "/apis/batch")
    assert [v["version"] for v in batch["versions"]] == ["v1", "v1beta1"]
    beta = await rest_client.request("GET", "/apis/batch/v1beta1")
    cronjobs = next(r for r in beta["resources"] if r["name"] == "cronjobs")
    assert cronjobs["singularName"] == ""
    assert cronjobs["shortNames"] == ["cj"]
    ga = await rest_client.request("GET", "/apis/batch/v1")
    assert "cronjobs" not in {r["name"] for r in ga["resources"]}
    policy = await rest_client.request("GET", "/apis/policy")
    assert policy["preferredVersion"]["version"] == "v1beta1"


def _hash(group: str, version: str, kind: str) -> str:
    return base64.b64encode(hashlib.sha256(f"{group}/{version}/{kind}".encode()).digest()[:8]).decode()


async def test_a_crds_discovery_documents_equal_the_real_servers(rest_client: RestClient) -> None:
    group = f"{unique('dd')}.example.com"
    manifest = crd_manifest(group, "Sprocket", short_names=["spr"], versions=("v1", "v1beta1"))
    manifest["spec"]["names"]["categories"] = ["all"]
    manifest["spec"]["versions"][0]["subresources"] = {
        "status": {},
        "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"},
    }
    manifest["spec"]["versions"][1].pop("subresources")
    async with temporary_crd(rest_client, manifest):
        listing = await rest_client.request("GET", "/apis")
        names = [g["name"] for g in listing["groups"]]
        builtin = {g["name"] for g in _builtin_groups()}
        assert all(names.index(group) > names.index(b) for b in builtin)
        versions = [
            {"groupVersion": f"{group}/v1", "version": "v1"},
            {"groupVersion": f"{group}/v1beta1", "version": "v1beta1"},
        ]
        want_group = {"name": group, "versions": versions, "preferredVersion": versions[0]}
        assert next(g for g in listing["groups"] if g["name"] == group) == want_group
        assert await rest_client.request("GET", f"/apis/{group}") == {
            "kind": "APIGroup",
            "apiVersion": "v1",
            **want_group,
        }
        main = {
            "name": "sprockets",
            "singularName": "sprocket",
            "namespaced": True,
            "kind": "Sprocket",
            "verbs": ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"],
            "shortNames": ["spr"],
            "categories": ["all"],
            "storageVersionHash": _hash(group, "v1", "Sprocket"),
        }
        v1 = await rest_client.request("GET", f"/apis/{group}/v1")
        assert v1 == {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/v1",
            "resources": [
                main,
                {
                    "name": "sprockets/status",
                    "singularName": "",
                    "namespaced": True,
                    "kind": "Sprocket",
                    "verbs": ["get", "patch", "update"],
                },
                {
                    "name": "sprockets/scale",
                    "singularName": "",
                    "namespaced": True,
                    "group": "autoscaling",
                    "version": "v1",
                    "kind": "Scale",
                    "verbs": ["get", "patch", "update"],
                },
            ],
        }
        beta = await rest_client.request("GET", f"/apis/{group}/v1beta1")
        assert beta["resources"] == [main]
