"""metadata.managedFields as kube-apiserver 1.20 records them, on both servers.

The fieldsV1 documents below were taken from the real server: the fake must write the same bytes
(key order included) for creates, updates, status writes and patches of ConfigMaps, Deployments and
custom resources.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from pycontroller.client import GroupVersionResource, RestClient

from ._support import CONFIGMAPS, DEPLOYMENTS, configmap, deployment, temporary_crd, unique

pytestmark = pytest.mark.asyncio

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def entries(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return list(obj["metadata"].get("managedFields") or [])


def fields_of(obj: dict[str, Any], manager: str, operation: str = "Update") -> dict[str, Any]:
    found = [e for e in entries(obj) if e["manager"] == manager and e["operation"] == operation]
    assert len(found) == 1, entries(obj)
    result: dict[str, Any] = found[0]["fieldsV1"]
    return result


def managers(obj: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["manager"], e["operation"]) for e in entries(obj)]


def widget_crd(group: str) -> dict[str, Any]:
    """A CRD whose schema has a keyed list, a set, an atomic list and a map, with a status subresource."""
    spec_schema = {
        "type": "object",
        "properties": {
            "replicas": {"type": "integer", "default": 1},
            "image": {"type": "string"},
            "ports": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string"}, "port": {"type": "integer"}},
                },
            },
            "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "args": {"type": "array", "items": {"type": "string"}},
            "config": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
    schema = {
        "type": "object",
        "properties": {
            "spec": spec_schema,
            "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                    "subresources": {"status": {}},
                }
            ],
        },
    }


async def test_a_configmap_create_records_its_fields(rest_client: RestClient, namespace: str) -> None:
    body = configmap("a", namespace, labels={"app": "x"}, data={"k": "v", "k2": "v2"})
    body["metadata"]["annotations"] = {"note": "1"}
    body["binaryData"] = {"b": "AAAA"}
    created = await rest_client.request(
        "POST", CONFIGMAPS.path(namespace), body=body, query={"fieldManager": "creator"}
    )
    (entry,) = entries(created)
    assert list(entry) == ["manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1"]
    assert entry["manager"] == "creator"
    assert entry["operation"] == "Update"
    assert entry["apiVersion"] == "v1"
    assert entry["fieldsType"] == "FieldsV1"
    assert TIME.match(entry["time"])
    assert orjson.dumps(entry["fieldsV1"]) == orjson.dumps(
        {
            "f:binaryData": {".": {}, "f:b": {}},
            "f:data": {".": {}, "f:k": {}, "f:k2": {}},
            "f:metadata": {"f:annotations": {".": {}, "f:note": {}}, "f:labels": {".": {}, "f:app": {}}},
        }
    )
    assert list(created["metadata"])[-1] == "managedFields"
    fetched = await rest_client.get(CONFIGMAPS, "a", namespace=namespace)
    assert fetched["metadata"]["managedFields"] == created["metadata"]["managedFields"]


DEPLOYMENT_FIELDS = {
    "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
    "f:spec": {
        "f:progressDeadlineSeconds": {},
        "f:replicas": {},
        "f:revisionHistoryLimit": {},
        "f:selector": {},
        "f:strategy": {"f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}}, "f:type": {}},
        "f:template": {
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:containers": {
                    'k:{"name":"web"}': {
                        ".": {},
                        "f:env": {".": {}, 'k:{"name":"A"}': {".": {}, "f:name": {}, "f:value": {}}},
                        "f:image": {},
                        "f:imagePullPolicy": {},
                        "f:name": {},
                        "f:ports": {
                            ".": {},
                            'k:{"containerPort":80,"protocol":"TCP"}': {
                                ".": {},
                                "f:containerPort": {},
                                "f:protocol": {},
                            },
                        },
                        "f:resources": {},
                        "f:terminationMessagePath": {},
                        "f:terminationMessagePolicy": {},
                    }
                },
                "f:dnsPolicy": {},
                "f:restartPolicy": {},
                "f:schedulerName": {},
                "f:securityContext": {},
                "f:terminationGracePeriodSeconds": {},
            },
        },
    },
}


def web_deployment(name: str, namespace: str) -> dict[str, Any]:
    body = deployment(name, namespace, replicas=2)
    body["metadata"]["labels"] = {"app": name}
    container = body["spec"]["template"]["spec"]["containers"][0]
    container["ports"] = [{"containerPort": 80}]
    container["env"] = [{"name": "A", "value": "b"}]
    return body


async def test_a_deployment_create_records_defaulted_fields_and_keyed_lists(
    rest_client: RestClient, namespace: str
) -> None:
    created = await rest_client.request(
        "POST",
        DEPLOYMENTS.path(namespace),
        body=web_deployment("d", namespace),
        query={"fieldManager": "creator"},
    )
    assert managers(created) == [("creator", "Update")]
    assert orjson.dumps(fields_of(created, "creator")) == orjson.dumps(DEPLOYMENT_FIELDS)


async def test_an_update_moves_changed_fields_to_its_manager(rest_client: RestClient, namespace: str) -> None:
    created = await rest_client.request(
        "POST",
        DEPLOYMENTS.path(namespace),
        body=web_deployment("d", namespace),
        query={"fieldManager": "creator"},
    )
    created_time = entries(created)[0]["time"]
    body = dict(created)
    body["spec"] = {**created["spec"], "replicas": 3}
    body["metadata"] = {k: v for k, v in created["metadata"].items() if k != "managedFields"}
    updated = await rest_client.request(
        "PUT", DEPLOYMENTS.path(namespace, "d"), body=body, query={"fieldManager": "scaler"}
    )
    assert managers(updated) == [("creator", "Update"), ("scaler", "Update")] or managers(updated) == [
        ("scaler", "Update"),
        ("creator", "Update"),
    ]
    assert fields_of(updated, "scaler") == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in fields_of(updated, "creator")["f:spec"]
    creator = next(e for e in entries(updated) if e["manager"] == "creator")
    assert creator["time"] == created_time  # a manager that only lost fields keeps its time


async def test_a_write_that_changes_nothing_keeps_managed_fields_and_resource_version(
    rest_client: RestClient, namespace: str
) -> None:
    created = await rest_client.request(
        "POST",
        CONFIGMAPS.path(namespace),
        body=configmap("a", namespace, data={"k": "v"}),
        query={"fieldManager": "one"},
    )
    body = {**created, "metadata": {k: v for k, v in created["metadata"].items() if k != "managedFields"}}
    same = await rest_client.request(
        "PUT", CONFIGMAPS.path(namespace, "a"), body=body, query={"fieldManager": "two"}
    )
    assert same["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert same["metadata"]["managedFields"] == created["metadata"]["managedFields"]
    patched = await rest_client.request(
        "PATCH",
        CONFIGMAPS.path(namespace, "a"),
        body={"data": {"k": "v"}},
        content_type="application/merge-patch+json",
        query={"fieldManager": "three"},
    )
    assert patched["metadata"]["managedFields"] == created["metadata"]["managedFields"]


async def test_patches_record_their_manager(rest_client: RestClient, namespace: str) -> None:
    await rest_client.request(
        "POST",
        CONFIGMAPS.path(namespace),
        body=configmap("a", namespace, data={"k": "v"}),
        query={"fieldManager": "one"},
    )
    patched = await rest_client.request(
        "PATCH",
        CONFIGMAPS.path(namespace, "a"),
        body=[{"op": "add", "path": "/data/extra", "value": "x"}],
        content_type="application/json-patch+json",
        query={"fieldManager": "two"},
    )
    assert fields_of(patched, "one") == {"f:data": {".": {}, "f:k": {}}}
    assert fields_of(patched, "two") == {"f:data": {"f:extra": {}}}
    removed = await rest_client.request(
        "PATCH",
        CONFIGMAPS.path(namespace, "a"),
        body={"data": {"k": None}},
        content_type="application/merge-patch+json",
        query={"fieldManager": "three"},
    )
    # removing a field takes it from its owner; "three" changed nothing it could own
    assert fields_of(removed, "one") == {"f:data": {}}
    assert [m for m, _ in managers(removed)] == ["one", "two"]


async def test_the_manager_defaults_to_the_user_agent_prefix(api_server: Any, namespace: str) -> None:
    api_client = api_server.new_client()
    api_client.user_agent = "my-operator/v1.2.3 (linux/amd64) abc"
    client = RestClient(api_client, owns_api_client=True)
    try:
        created = await client.create(
            CONFIGMAPS, configmap("a", namespace, data={"k": "v"}), namespace=namespace
        )
    finally:
        await client.close()
    assert managers(created) == [("my-operator", "Update")]


async def test_clients_can_clear_and_replace_managed_fields(rest_client: RestClient, namespace: str) -> None:
    created = await rest_client.request(
        "POST",
        CONFIGMAPS.path(namespace),
        body=configmap("a", namespace, data={"k": "v"}),
        query={"fieldManager": "one"},
    )
    replaced_entry = {
        "manager": "someone-else",
        "operation": "Update",
        "apiVersion": "v1",
        "time": "2020-01-01T00:00:00Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:data": {"f:k": {}}},
    }
    body = {**created, "metadata": {**created["metadata"], "managedFields": [replaced_entry]}}
    replaced = await rest_client.request(
        "PUT", CONFIGMAPS.path(namespace, "a"), body=body, query={"fieldManager": "two"}
    )
    assert replaced["metadata"]["managedFields"] == [replaced_entry]
    body = {**replaced, "metadata": {**replaced["metadata"], "managedFields": []}}
    cleared = await rest_client.request(
        "PUT", CONFIGMAPS.path(namespace, "a"), body=body, query={"fieldManager": "two"}
    )
    assert "managedFields" not in cleared["metadata"]
    body = {**cleared, "data": {"k": "changed"}}
    later = await rest_client.request(
        "PUT", CONFIGMAPS.path(namespace, "a"), body=body, query={"fieldManager": "two"}
    )
    assert "managedFields" not in later["metadata"]  # nothing is tracked again until an apply


async def test_invalid_managed_fields_from_a_client_are_ignored(
    rest_client: RestClient, namespace: str
) -> None:
    created = await rest_client.request(
        "POST",
        CONFIGMAPS.path(namespace),
        body=configmap("a", namespace, data={"k": "v"}),
        query={"fieldManager": "one"},
    )
    broken = [{"manager": "x", "operation": "Update", "fieldsV1": {"f:data": {}}}]  # no fieldsType
    body = {**created, "data": {"k": "w"}, "metadata": {**created["metadata"], "managedFields": broken}}
    updated = await rest_client.request(
        "PUT", CONFIGMAPS.path(namespace, "a"), body=body, query={"fieldManager": "two"}
    )
    assert [m for m, _ in managers(updated)] == ["one", "two"]
    assert fields_of(updated, "two") == {"f:data": {"f:k": {}}}


async def test_status_writes_record_the_status_manager(rest_client: RestClient, namespace: str) -> None:
    created = await rest_client.request(
        "POST",
        DEPLOYMENTS.path(namespace),
        body=deployment("d", namespace),
        query={"fieldManager": "creator"},
    )
    body = {**created, "status": {"replicas": 1, "observedGeneration": 1}}
    status = await rest_client.request(
        "PUT", DEPLOYMENTS.path(namespace, "d", "status"), body=body, query={"fieldManager": "controller"}
    )
    assert fields_of(status, "controller") == {"f:status": {"f:observedGeneration": {}, "f:replicas": {}}}
    # 1.20: an update of the main resource that does not send the status takes the status fields
    # away from their manager (the status itself is kept)
    main = {k: v for k, v in status.items() if k != "status"}
    main["spec"] = {**status["spec"], "replicas": 2}
    updated = await rest_client.request(
        "PUT", DEPLOYMENTS.path(namespace, "d"), body=main, query={"fieldManager": "scaler"}
    )
    assert updated["status"] == {"replicas": 1, "observedGeneration": 1}
    assert sorted(m for m, _ in managers(updated)) == ["creator", "scaler"]


async def test_a_custom_resource_records_fields_by_its_schema(
    rest_client: RestClient, namespace: str
) -> None:
    group = f"{unique('mf')}.example.com"
    async with temporary_crd(rest_client, widget_crd(group)):
        widgets = GroupVersionResource(group, "v1", "widgets")
        body = {
            "apiVersion": f"{group}/v1",
            "kind": "Widget",
            "metadata": {"name": "w", "labels": {"a": "b"}},
            "spec": {
                "image": "x",
                "ports": [{"name": "http", "port": 80}],
                "tags": ["t1", "t2"],
                "args": ["--v"],
                "config": {"k": "v"},
            },
        }
        created = await rest_client.request(
            "POST", widgets.path(namespace), body=body, query={"fieldManager": "creator"}
        )
        assert created["spec"]["replicas"] == 1
        assert orjson.dumps(fields_of(created, "creator")) == orjson.dumps(
            {
                "f:metadata": {"f:labels": {".": {}, "f:a": {}}},
                "f:spec": {
                    ".": {},
                    "f:args": {},
                    "f:config": {".": {}, "f:k": {}},
                    "f:image": {},
                    "f:ports": {".": {}, 'k:{"name":"http"}': {".": {}, "f:name": {}, "f:port": {}}},
                    "f:replicas": {},
                    "f:tags": {".": {}, 'v:"t1"': {}, 'v:"t2"': {}},
                },
            }
        )
        assert entries(created)[0]["apiVersion"] == f"{group}/v1"


async def test_at_most_ten_update_managers_are_kept(rest_client: RestClient, namespace: str) -> None:
    obj = await rest_client.request(
        "POST",
        CONFIGMAPS.path(namespace),
        body=configmap("a", namespace, data={"k00": "v"}),
        query={"fieldManager": "m00"},
    )
    for i in range(1, 12):
        obj = await rest_client.request(
            "PATCH",
            CONFIGMAPS.path(namespace, "a"),
            body={"data": {f"k{i:02d}": "v"}},
            content_type="application/merge-patch+json",
            query={"fieldManager": f"m{i:02d}"},
        )
    names = sorted(m for m, _ in managers(obj))
    assert names == ["ancient-changes"] + [f"m{i:02d}" for i in range(3, 12)]
    assert fields_of(obj, "ancient-changes") == {"f:data": {".": {}, "f:k00": {}, "f:k01": {}, "f:k02": {}}}


async def test_scale_writes_leave_managed_fields_alone(rest_client: RestClient, namespace: str) -> None:
    created = await rest_client.request(
        "POST",
        DEPLOYMENTS.path(namespace),
        body=deployment("d", namespace),
        query={"fieldManager": "creator"},
    )
    scale = await rest_client.request("GET", DEPLOYMENTS.path(namespace, "d", "scale"))
    scale["spec"]["replicas"] = 4
    await rest_client.request(
        "PUT", DEPLOYMENTS.path(namespace, "d", "scale"), body=scale, query={"fieldManager": "hpa"}
    )
    scaled = await rest_client.get(DEPLOYMENTS, "d", namespace=namespace)
    assert scaled["spec"]["replicas"] == 4
    assert scaled["metadata"]["managedFields"] == created["metadata"]["managedFields"]
