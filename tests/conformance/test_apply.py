"""Server-side apply (PATCH application/apply-patch+yaml), on both servers.

Creates, merges by field ownership (keyed lists merge by their keys, sets and atomic lists as their
schema says), prunes fields an applier stops applying, conflicts (the real message and causes) and
force, /status, dryRun, no-op applies, and the bad input the real server refuses.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.errors import ApiError, BadRequestError, ConflictError, InvalidError, NotFoundError

from ._support import CONFIGMAPS, DEPLOYMENTS, deployment, temporary_crd, unique
from .test_managed_fields import entries, fields_of, managers, widget_crd

pytestmark = pytest.mark.asyncio

APPLY = "application/apply-patch+yaml"


async def apply(
    client: RestClient, path: str, body: Any, manager: str | None = "applier", **query: Any
) -> dict[str, Any]:
    params = dict(query)
    if manager is not None:
        params["fieldManager"] = manager
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    result: dict[str, Any] = await client.request("PATCH", path, body=data, content_type=APPLY, query=params)
    return result


def cm(name: str, data: dict[str, str] | None = None, **meta: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **meta}}
    if data is not None:
        body["data"] = data
    return body


async def test_apply_creates_an_absent_object_and_owns_what_it_applied(
    rest_client: RestClient, namespace: str
) -> None:
    created = await apply(
        rest_client, CONFIGMAPS.path(namespace, "a"), cm("a", {"x": "1"}, labels={"l": "1"})
    )
    assert created["data"] == {"x": "1"}
    assert created["metadata"]["labels"] == {"l": "1"}
    (entry,) = entries(created)
    assert (entry["manager"], entry["operation"], entry["apiVersion"]) == ("applier", "Apply", "v1")
    assert orjson.dumps(entry["fieldsV1"]) == orjson.dumps(
        {"f:data": {"f:x": {}}, "f:metadata": {"f:labels": {"f:l": {}}}}
    )
    fetched = await rest_client.get(CONFIGMAPS, "a", namespace=namespace)
    assert fetched["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


async def test_yaml_bodies_are_read_like_the_real_server(rest_client: RestClient, namespace: str) -> None:
    body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  x: '1'\n  y: '2'\n"
    created = await apply(rest_client, CONFIGMAPS.path(namespace, "a"), body)
    assert created["data"] == {"x": "1", "true": "2"}  # YAML 1.1: the key y is the boolean true


async def test_reapplying_the_same_configuration_changes_nothing(
    rest_client: RestClient, namespace: str
) -> None:
    first = await apply(rest_client, CONFIGMAPS.path(namespace, "a"), cm("a", {"x": "1"}))
    again = await apply(rest_client, CONFIGMAPS.path(namespace, "a"), cm("a", {"x": "1"}))
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert again["metadata"]["managedFields"] == first["metadata"]["managedFields"]


async def test_fields_an_applier_stops_applying_are_removed_unless_someone_else_owns_them(
    rest_client: RestClient, namespace: str
) -> None:
    path = CONFIGMAPS.path(namespace, "a")
    await apply(rest_client, path, cm("a", {"x": "1", "y": "2", "z": "3"}), "one")
    await apply(rest_client, path, cm("a", {"z": "3"}), "two")  # same value: shared ownership
    result = await apply(rest_client, path, cm("a", {"x": "1"}), "one")
    assert result["data"] == {"x": "1", "z": "3"}
    assert fields_of(result, "one", "Apply") == {"f:data": {"f:x": {}}}
    assert fields_of(result, "two", "Apply") == {"f:data": {"f:z": {}}}


async def test_fields_set_by_an_update_are_not_removed_by_an_applier(
    rest_client: RestClient, namespace: str
) -> None:
    path = CONFIGMAPS.path(namespace, "a")
    await apply(rest_client, path, cm("a", {"x": "1"}), "one")
    await rest_client.request(
        "PATCH",
        path,
        body={"data": {"u": "9"}},
        content_type="application/merge-patch+json",
        query={"fieldManager": "editor"},
    )
    result = await apply(rest_client, path, cm("a", {"x": "2"}), "one")
    assert result["data"] == {"x": "2", "u": "9"}
    assert managers(result) == [("one", "Apply"), ("editor", "Update")]


async def test_a_conflict_names_the_managers_and_fields(rest_client: RestClient, namespace: str) -> None:
    path = CONFIGMAPS.path(namespace, "a")
    await apply(rest_client, path, cm("a", {"x": "1", "y": "2"}), "one")
    with pytest.raises(ConflictError) as caught:
        await apply(rest_client, path, cm("a", {"x": "2", "y": "3"}), "two")
    body = caught.value.body
    assert caught.value.status == 409
    assert body["reason"] == "Conflict"
    assert body["message"] == 'Apply failed with 2 conflicts: conflicts with "one":\n- .data.x\n- .data.y'
    assert body["details"] == {
        "causes": [
            {"reason": "FieldManagerConflict", "message": 'conflict with "one"', "field": ".data.x"},
            {"reason": "FieldManagerConflict", "message": 'conflict with "one"', "field": ".data.y"},
        ]
    }
    current = await rest_client.get(CONFIGMAPS, "a", namespace=namespace)
    assert current["data"] == {"x": "1", "y": "2"}


async def test_a_conflict_with_an_update_names_its_api_version(
    rest_client: RestClient, namespace: str
) -> None:
    await rest_client.request(
        "POST",
        CONFIGMAPS.path(namespace),
        body={"metadata": {"name": "a"}, "data": {"x": "1"}},
        query={"fieldManager": "editor"},
    )
    with pytest.raises(ConflictError) as caught:
        await apply(rest_client, CONFIGMAPS.path(namespace, "a"), cm("a", {"x": "2"}))
    assert (
        caught.value.body["message"]
        == 'Apply failed with 1 conflict: conflict with "editor" using v1: .data.x'
    )


async def test_force_takes_ownership(rest_client: RestClient, namespace: str) -> None:
    path = CONFIGMAPS.path(namespace, "a")
    await apply(rest_client, path, cm("a", {"x": "1", "y": "2"}), "one")
    result = await apply(rest_client, path, cm("a", {"x": "2"}), "two", force="true")
    assert result["data"] == {"x": "2", "y": "2"}
    assert fields_of(result, "one", "Apply") == {"f:data": {"f:y": {}}}
    assert fields_of(result, "two", "Apply") == {"f:data": {"f:x": {}}}
    # "one" no longer owns x: applying without it does not remove it
    again = await apply(rest_client, path, cm("a", {"y": "2"}), "one")
    assert again["data"] == {"x": "2", "y": "2"}


async def test_keyed_lists_merge_by_key_across_managers(rest_client: RestClient, namespace: str) -> None:
    path = DEPLOYMENTS.path(namespace, "d")
    base = deployment("d", namespace)
    created = await apply(rest_client, path, base, "one")
    assert created["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    sidecar = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {
            "template": {"spec": {"containers": [{"name": "sidecar", "image": "busybox"}]}},
        },
    }
    merged = await apply(rest_client, path, sidecar, "two")
    names = [c["name"] for c in merged["spec"]["template"]["spec"]["containers"]]
    assert names == ["web", "sidecar"]
    assert orjson.dumps(fields_of(merged, "two", "Apply")) == orjson.dumps(
        {
            "f:spec": {
                "f:template": {
                    "f:spec": {
                        "f:containers": {'k:{"name":"sidecar"}': {".": {}, "f:image": {}, "f:name": {}}}
                    }
                }
            }
        }
    )
    conflicting = {
        **sidecar,
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:2"}]}}},
    }
    with pytest.raises(ConflictError) as caught:
        await apply(rest_client, path, conflicting, "two")
    assert caught.value.body["details"]["causes"] == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "one"',
            "field": '.spec.template.spec.containers[name="web"].image',
        }
    ]
    # the first applier drops its container: the sidecar stays
    base["spec"]["template"]["spec"]["containers"] = []
    pruned = await apply(
        rest_client, path, {**base, "spec": {**base["spec"], "template": {**base["spec"]["template"]}}}, "one"
    )
    assert [c["name"] for c in pruned["spec"]["template"]["spec"]["containers"]] == ["sidecar"]


async def test_custom_resources_merge_lists_by_their_schema(rest_client: RestClient, namespace: str) -> None:
    group = f"{unique('ap')}.example.com"
    async with temporary_crd(rest_client, widget_crd(group)):
        widgets = GroupVersionResource(group, "v1", "widgets")
        path = widgets.path(namespace, "w")

        def widget(spec: dict[str, Any]) -> dict[str, Any]:
            return {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec}

        await apply(
            rest_client,
            path,
            widget({"ports": [{"name": "http", "port": 80}], "tags": ["a"], "args": ["--one"]}),
            "one",
        )
        merged = await apply(
            rest_client,
            path,
            widget({"ports": [{"name": "https", "port": 443}], "tags": ["b"], "args": ["--two"]}),
            "two",
            force="true",
        )
        spec = merged["spec"]
        assert spec["ports"] == [{"name": "http", "port": 80}, {"name": "https", "port": 443}]
        assert spec["tags"] == ["a", "b"]
        assert spec["args"] == ["--two"]  # atomic: replaced, and now owned by "two" alone
        assert orjson.dumps(fields_of(merged, "two", "Apply")) == orjson.dumps(
            {
                "f:spec": {
                    "f:args": {},
                    "f:ports": {'k:{"name":"https"}': {".": {}, "f:name": {}, "f:port": {}}},
                    "f:tags": {'v:"b"': {}},
                }
            }
        )
        assert orjson.dumps(fields_of(merged, "one", "Apply")) == orjson.dumps(
            {
                "f:spec": {
                    "f:ports": {'k:{"name":"http"}': {".": {}, "f:name": {}, "f:port": {}}},
                    "f:tags": {'v:"a"': {}},
                }
            }
        )


async def test_apply_to_status_changes_only_the_status(rest_client: RestClient, namespace: str) -> None:
    group = f"{unique('st')}.example.com"
    async with temporary_crd(rest_client, widget_crd(group)):
        widgets = GroupVersionResource(group, "v1", "widgets")
        base = {
            "apiVersion": f"{group}/v1",
            "kind": "Widget",
            "metadata": {"name": "w"},
            "spec": {"image": "a"},
        }
        created = await apply(rest_client, widgets.path(namespace, "w"), base, "one")
        status = {**base, "status": {"ready": True}}
        status.pop("spec")
        result = await apply(rest_client, widgets.path(namespace, "w", "status"), status, "controller")
        assert result["status"] == {"ready": True}
        assert result["spec"] == created["spec"]
        assert fields_of(result, "controller", "Apply") == {"f:status": {"f:ready": {}}}
        # spec sent to /status is merged by ownership like anything else, then ignored: it conflicts
        with pytest.raises(ConflictError):
            await apply(
                rest_client,
                widgets.path(namespace, "w", "status"),
                {**status, "spec": {"image": "b"}},
                "controller",
            )
        with pytest.raises(NotFoundError):
            await apply(
                rest_client,
                widgets.path(namespace, "absent", "status"),
                {**status, "metadata": {"name": "absent"}},
            )


async def test_dry_run_stores_nothing(rest_client: RestClient, namespace: str) -> None:
    path = CONFIGMAPS.path(namespace, "a")
    dry = await apply(rest_client, path, cm("a", {"x": "1"}), dryRun="All")
    assert dry["data"] == {"x": "1"}
    with pytest.raises(NotFoundError):
        await rest_client.get(CONFIGMAPS, "a", namespace=namespace)
    real = await apply(rest_client, path, cm("a", {"x": "1"}))
    dry = await apply(rest_client, path, cm("a", {"x": "2"}), dryRun="All")
    assert dry["data"] == {"x": "2"}
    current = await rest_client.get(CONFIGMAPS, "a", namespace=namespace)
    assert current["data"] == {"x": "1"}
    assert current["metadata"]["resourceVersion"] == real["metadata"]["resourceVersion"]


async def test_apply_without_a_field_manager_is_invalid(rest_client: RestClient, namespace: str) -> None:
    with pytest.raises(InvalidError) as caught:
        await apply(rest_client, CONFIGMAPS.path(namespace, "a"), cm("a", {"x": "1"}), manager=None)
    body = caught.value.body
    assert body["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch'
    )
    assert body["details"] == {
        "group": "meta.k8s.io",
        "kind": "PatchOptions",
        "causes": [
            {
                "reason": "FieldValueRequired",
                "message": "Required value: is required for apply patch",
                "field": "fieldManager",
            }
        ],
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{{{", "error converting YAML to JSON: yaml: line 1: did not find expected node content"),
        (b"a: b: c", "error converting YAML to JSON: yaml: mapping values are not allowed in this context"),
        (
            b"a:\n  b\n c: d",
            "error converting YAML to JSON: yaml: line 3: mapping values are not allowed in this context",
        ),
        (b"[1, 2", "error converting YAML to JSON: yaml: line 1: did not find expected ',' or ']'"),
        (
            b"[]",
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into Go value of type "
            "map[string]interface {}",
        ),
    ],
)
async def test_a_body_that_is_not_yaml_is_a_bad_request(
    rest_client: RestClient, namespace: str, body: bytes, message: str
) -> None:
    with pytest.raises(BadRequestError) as caught:
        await apply(rest_client, CONFIGMAPS.path(namespace, "a"), body)
    assert caught.value.body["message"] == "error decoding YAML: " + message


async def test_apply_checks_the_version_and_managed_fields(rest_client: RestClient, namespace: str) -> None:
    with pytest.raises(BadRequestError) as caught:
        await apply(rest_client, CONFIGMAPS.path(namespace, "a"), {**cm("a", {"x": "1"}), "apiVersion": "v2"})
    assert caught.value.body["message"] == (
        "Incorrect version specified in apply patch. Specified patch version: v2, expected: v1"
    )
    with_fields = cm("a", {"x": "1"}, managedFields=[{"manager": "x"}])
    with pytest.raises(BadRequestError) as caught:
        await apply(rest_client, CONFIGMAPS.path(namespace, "a"), with_fields)
    assert caught.value.body["message"] == "metadata.managedFields must be nil"


async def test_first_apply_to_an_untracked_object_keeps_existing_fields(
    rest_client: RestClient, namespace: str
) -> None:
    created = await rest_client.request(
        "POST", CONFIGMAPS.path(namespace), body={"metadata": {"name": "a"}, "data": {"x": "1"}}
    )
    body = {**created, "metadata": {**created["metadata"], "managedFields": []}}
    cleared = await rest_client.request("PUT", CONFIGMAPS.path(namespace, "a"), body=body)
    assert "managedFields" not in cleared["metadata"]
    result = await apply(rest_client, CONFIGMAPS.path(namespace, "a"), cm("a", {"y": "2"}))
    assert result["data"] == {"x": "1", "y": "2"}
    assert [m for m, _ in managers(result)] == ["applier", "before-first-apply"]
    assert fields_of(result, "before-first-apply") == {"f:data": {".": {}, "f:x": {}}}


async def test_the_name_must_be_given_and_match_the_url(rest_client: RestClient, namespace: str) -> None:
    with pytest.raises(BadRequestError) as caught:
        await apply(rest_client, CONFIGMAPS.path(namespace, "b"), cm("other", {"x": "1"}))
    assert (
        caught.value.body["message"]
        == "the name of the object (other) does not match the name on the URL (b)"
    )
    nameless = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"x": "1"}}
    with pytest.raises(BadRequestError) as caught:
        await apply(rest_client, CONFIGMAPS.path(namespace, "b"), nameless)
    assert caught.value.body["message"] == (
        "the name of the object (b based on URL) was undeterminable: name must be provided"
    )
    with pytest.raises(ApiError) as failed:
        await apply(rest_client, CONFIGMAPS.path(namespace, "b"), {**cm("b"), "kind": "Secret"})
    assert failed.value.status == 500


async def test_force_is_only_for_apply(rest_client: RestClient, namespace: str) -> None:
    await apply(rest_client, CONFIGMAPS.path(namespace, "a"), cm("a", {"x": "1"}))
    with pytest.raises(InvalidError) as caught:
        await rest_client.request(
            "PATCH",
            CONFIGMAPS.path(namespace, "a"),
            body={"data": {"y": "1"}},
            content_type="application/merge-patch+json",
            query={"force": "true"},
        )
    assert caught.value.body["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch'
    )
    assert caught.value.body["details"]["causes"] == [
        {
            "reason": "FieldValueForbidden",
            "message": "Forbidden: may not be specified for non-apply patch",
            "field": "force",
        }
    ]


async def test_keyed_list_items_are_checked_and_ports_default_their_protocol(
    rest_client: RestClient, namespace: str
) -> None:
    body = deployment("d", namespace)
    container = body["spec"]["template"]["spec"]["containers"][0]
    container["ports"] = [{"containerPort": 80}]
    created = await apply(rest_client, DEPLOYMENTS.path(namespace, "d"), body)
    ports = fields_of(created, "applier", "Apply")["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert ports['k:{"name":"web"}']["f:ports"] == {
        'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}
    }
    body["spec"]["template"]["spec"]["containers"] = [dict(container), dict(container)]
    with pytest.raises(ApiError) as caught:
        await apply(rest_client, DEPLOYMENTS.path(namespace, "d"), body)
    assert caught.value.status == 500
    assert caught.value.body["message"] == (
        'failed to create typed patch object: .spec.template.spec.containers: duplicate entries for key [name="web"]'
    )


async def test_conflict_paths_are_reported_as_the_1_20_server_reports_them(
    rest_client: RestClient, namespace: str
) -> None:
    path = DEPLOYMENTS.path(namespace, "d")
    await apply(rest_client, path, deployment("d", namespace), "base")
    await rest_client.request(
        "PATCH",
        path,
        body={
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "web", "image": "nginx:2", "env": [{"name": "A", "value": "1"}]}
                        ]
                    }
                }
            }
        },
        content_type="application/strategic-merge-patch+json",
        query={"fieldManager": "other"},
    )
    config = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "web", "image": "nginx:1", "env": [{"name": "A", "value": "2"}]}]
                }
            }
        },
    }
    with pytest.raises(ConflictError) as caught:
        await apply(rest_client, path, config, "alpha")
    # structured-merge-diff v4.0.2 reuses the path slice while iterating, so the image conflict
    # is printed as the env list's path: the 1.20 server says exactly this
    assert caught.value.body["message"] == (
        'Apply failed with 2 conflicts: conflicts with "other" using apps/v1:\n'
        '- .spec.template.spec.containers[name="web"].env\n'
        '- .spec.template.spec.containers[name="web"].env[name="A"].value'
    )
