"""Every stored built-in resource is served with the generic semantics, on both servers.

One sample object per resource (``pycontroller.testing.apiserver.samples``): create, get, list
with a label selector, a change of each top-level field (``metadata.generation`` bumps exactly as
``resources.json`` says, which ``gen_resources`` learnt from the real server), status where the
resource has it, and delete (finalizers the server adds itself, like ``kubernetes.io/pvc-protection``,
and the ``orphan`` finalizer of resources that orphan by default, like Jobs).
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.errors import ApiError, BadRequestError, NotFoundError
from pycontroller.testing.apiserver.resources import data
from pycontroller.testing.apiserver.samples import SAMPLES, sample

from ._support import unique

_RECORDS = {(r["group"], r["plural"]): r for r in data()["resources"]}
_SPECIAL_NAMES = {
    ("apiregistration.k8s.io", "apiservices"),
    ("apiextensions.k8s.io", "customresourcedefinitions"),
}
MERGE = "application/merge-patch+json"
_CRDS = ("apiextensions.k8s.io", "customresourcedefinitions")
_NAMESPACES = ("", "namespaces")


def _path(record: dict[str, Any], api_version: str, namespace: str, name: str | None = None) -> str:
    base = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
    if record["discovery"]["namespaced"]:
        base += f"/namespaces/{namespace}"
    base += f"/{record['plural']}"
    return f"{base}/{name}" if name else base


async def _force_delete(client: RestClient, path: str) -> None:
    with contextlib.suppress(NotFoundError):
        await client.request("DELETE", path)
    with contextlib.suppress(NotFoundError):
        await client.request("PATCH", path, body={"metadata": {"finalizers": None}}, content_type=MERGE)


@pytest.mark.parametrize("key", sorted(SAMPLES), ids=lambda k: f"{k[1]}.{k[0]}" if k[0] else k[1])
async def test_a_built_in_resource_is_served_like_on_the_real_server(
    rest_client: RestClient, namespace: str, key: tuple[str, str]
) -> None:
    record = _RECORDS[key]
    body = sample(*key)
    if key not in _SPECIAL_NAMES:
        body["metadata"]["name"] = unique("s")
    if record["discovery"]["namespaced"]:
        body["metadata"]["namespace"] = namespace
        if "involvedObject" in body:
            body["involvedObject"]["namespace"] = namespace
    body["metadata"]["labels"] = {"sample": "yes"}
    name = body["metadata"]["name"]
    api_version = body["apiVersion"]
    path = _path(record, api_version, namespace, name)
    created = await rest_client.request("POST", _path(record, api_version, namespace), body=body)
    try:
        meta = created["metadata"]
        assert created["kind"] == record["kind"]
        assert created["apiVersion"] == api_version
        if key != _CRDS:  # the real CRD controller adds its cleanup finalizer a moment later
            assert meta.get("finalizers", []) == record["createFinalizers"]
        if record["generation"] is None:
            assert "generation" not in meta
        else:
            assert meta["generation"] == 1
        assert (await rest_client.request("GET", path))["metadata"]["uid"] == meta["uid"]
        listing = await rest_client.request(
            "GET", _path(record, api_version, namespace), query={"labelSelector": "sample=yes"}
        )
        assert name in {item["metadata"]["name"] for item in listing["items"]}
        _, changes = SAMPLES[key]
        generation = meta.get("generation")
        for field, change in sorted(changes.items()):
            changed = await rest_client.request("PATCH", path, body=change, content_type=MERGE)
            if generation is not None:
                bumps = field in (record["generation"] or [])
                assert changed["metadata"]["generation"] == generation + bumps, field
                generation = changed["metadata"]["generation"]
        if any(s["name"] == "status" for s in record["subresources"]):
            status = await rest_client.request("GET", path + "/status")
            assert status["metadata"]["name"] == name
        deleted = await rest_client.request("DELETE", path)
        left = deleted.get("metadata", {}).get("finalizers", [])
        want = list(record["createFinalizers"]) + (["orphan"] if record["deleteOrphans"] else [])
        if key in (_CRDS, _NAMESPACES):
            assert deleted["metadata"]["deletionTimestamp"]  # finalized by their controllers
        elif deleted.get("kind") == "Status":
            assert want == []
        else:
            assert left == want
            if want:
                assert deleted["metadata"]["deletionTimestamp"]
    finally:
        await _force_delete(rest_client, path)
    if key != _NAMESPACES:  # no namespace controller: it stays Terminating
        with pytest.raises(NotFoundError):
            await rest_client.request("GET", path)


async def test_a_verb_a_resource_lacks_is_405(rest_client: RestClient, namespace: str) -> None:
    for method, path in (
        ("DELETE", f"/api/v1/namespaces/{namespace}/services"),
        ("GET", "/apis/authorization.k8s.io/v1/subjectaccessreviews"),
        ("POST", "/api/v1/componentstatuses"),
    ):
        with pytest.raises(ApiError) as refused:
            await rest_client.request(method, path, body={} if method == "POST" else None)
        assert (refused.value.status, refused.value.reason) == (405, "MethodNotAllowed")
        assert refused.value.message == "the server does not allow this method on the requested resource"
    with pytest.raises(NotFoundError):
        await rest_client.request("GET", f"/api/v1/namespaces/{namespace}/services/x/nothing")


async def test_reviews_are_answered_and_not_stored(rest_client: RestClient, namespace: str) -> None:
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": "bob", "resourceAttributes": {"verb": "get", "resource": "pods"}},
    }
    answer = await rest_client.request(
        "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", body=review
    )
    assert answer["status"] == {"allowed": True}
    assert answer["metadata"]["creationTimestamp"] is None
    rules = await rest_client.request(
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
        body={
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectRulesReview",
            "spec": {"namespace": namespace},
        },
    )
    assert rules["status"]["resourceRules"] == [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]
    local = {**review, "kind": "LocalSubjectAccessReview"}
    with pytest.raises(BadRequestError) as refused:
        await rest_client.request(
            "POST",
            f"/apis/authorization.k8s.io/v1/namespaces/{namespace}/localsubjectaccessreviews",
            body=local,
        )
    assert refused.value.message == f"spec.resourceAttributes.namespace must match namespace: {namespace}"
    statuses = await rest_client.request("GET", "/api/v1/componentstatuses")
    assert {c["metadata"]["name"] for c in statuses["items"]} == {"scheduler", "controller-manager", "etcd-0"}


async def test_evicting_a_pod_deletes_it_and_binding_assigns_a_node(
    rest_client: RestClient, namespace: str
) -> None:
    pods = GroupVersionResource("", "v1", "pods")
    for name in ("evicted", "bound"):
        await rest_client.create(pods, sample("", "pods", name, namespace), namespace=namespace)
    answer = await rest_client.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/pods/evicted/eviction",
        body={"apiVersion": "policy/v1beta1", "kind": "Eviction", "metadata": {"name": "evicted"}},
    )
    assert answer["status"] == "Success"
    with pytest.raises(NotFoundError):
        await rest_client.get(pods, "evicted", namespace=namespace)
    await rest_client.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/pods/bound/binding",
        body={
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": "bound"},
            "target": {"kind": "Node", "name": "n1"},
        },
    )
    bound = await rest_client.get(pods, "bound", namespace=namespace)
    assert bound["spec"]["nodeName"] == "n1"


async def test_a_service_account_token_is_issued(rest_client: RestClient, namespace: str) -> None:
    accounts = GroupVersionResource("", "v1", "serviceaccounts")
    await rest_client.create(accounts, sample("", "serviceaccounts", "robot", namespace), namespace=namespace)
    token = await rest_client.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/robot/token",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
    )
    assert token["kind"] == "TokenRequest"
    assert token["spec"]["expirationSeconds"] == 3600
    assert token["status"]["token"]
    assert token["status"]["expirationTimestamp"].endswith("Z")


async def test_a_replication_controller_scales_and_a_csr_is_approved(
    rest_client: RestClient, namespace: str
) -> None:
    rc = sample("", "replicationcontrollers", unique("rc"), namespace)
    await rest_client.request("POST", f"/api/v1/namespaces/{namespace}/replicationcontrollers", body=rc)
    path = f"/api/v1/namespaces/{namespace}/replicationcontrollers/{rc['metadata']['name']}/scale"
    scale = await rest_client.request("GET", path)
    assert scale["spec"] == {"replicas": 1}
    assert scale["status"] == {"replicas": 0, "selector": "app=gen"}
    scale["spec"]["replicas"] = 2
    assert (await rest_client.request("PUT", path, body=scale))["spec"]["replicas"] == 2
    csr = sample("certificates.k8s.io", "certificatesigningrequests", unique("csr"))
    base = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
    created = await rest_client.request("POST", base, body=csr)
    try:
        condition = {"type": "Approved", "status": "True", "reason": "Test", "message": "ok"}
        approved = await rest_client.request(
            "PUT",
            f"{base}/{csr['metadata']['name']}/approval",
            body={
                **created,
                "spec": {**created["spec"], "usages": ["server auth"]},
                "status": {"conditions": [condition]},
            },
        )
        got = approved["status"]["conditions"][0]
        assert (got["type"], got["status"], got["reason"]) == ("Approved", "True", "Test")
        assert approved["spec"]["usages"] == ["digital signature"]  # approval changes only the conditions
    finally:
        await rest_client.request("DELETE", f"{base}/{csr['metadata']['name']}")
