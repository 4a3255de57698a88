"""Errors are Status objects with the real server's reason, code, details and message."""

from __future__ import annotations

import pytest

from pycontroller.client import RestClient
from pycontroller.errors import (
    AlreadyExistsError,
    ApiError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
)

from ._support import CONFIGMAPS, NAMESPACES, configmap, unique, wait_for


def assert_status(err: ApiError, code: int, reason: str, message: str) -> None:
    assert err.status == code
    assert err.body["kind"] == "Status"
    assert err.body["apiVersion"] == "v1"
    assert err.body["status"] == "Failure"
    assert err.body["code"] == code
    assert err.body["reason"] == reason
    assert err.body["message"] == message


async def test_get_of_a_missing_object_is_404_not_found(rest_client: RestClient, namespace: str) -> None:
    with pytest.raises(NotFoundError) as info:
        await rest_client.get(CONFIGMAPS, "nope", namespace)
    assert_status(info.value, 404, "NotFound", 'configmaps "nope" not found')
    assert info.value.details == {"name": "nope", "kind": "configmaps"}


async def test_a_second_create_of_a_name_is_409_already_exists(
    rest_client: RestClient, namespace: str
) -> None:
    await rest_client.create(CONFIGMAPS, configmap("a", namespace))
    with pytest.raises(AlreadyExistsError) as info:
        await rest_client.create(CONFIGMAPS, configmap("a", namespace))
    assert_status(info.value, 409, "AlreadyExists", 'configmaps "a" already exists')
    assert info.value.details == {"name": "a", "kind": "configmaps"}


async def test_an_update_on_a_stale_resource_version_is_409_conflict(
    rest_client: RestClient, namespace: str
) -> None:
    created = await rest_client.create(CONFIGMAPS, configmap("a", namespace))
    await rest_client.replace(CONFIGMAPS, {**created, "data": {"k": "1"}})
    with pytest.raises(ConflictError) as info:
        await rest_client.replace(CONFIGMAPS, {**created, "data": {"k": "2"}})
    assert not isinstance(info.value, AlreadyExistsError)
    assert_status(
        info.value,
        409,
        "Conflict",
        'Operation cannot be fulfilled on configmaps "a": the object has been modified; '
        "please apply your changes to the latest version and try again",
    )
    assert info.value.details == {"name": "a", "kind": "configmaps"}


async def test_a_patch_with_a_stale_resource_version_is_409_conflict(
    rest_client: RestClient, namespace: str
) -> None:
    created = await rest_client.create(CONFIGMAPS, configmap("a", namespace))
    await rest_client.patch(CONFIGMAPS, "a", {"data": {"k": "1"}}, namespace)
    stale = {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}, "data": {"k": "2"}}
    with pytest.raises(ConflictError):
        await rest_client.patch(CONFIGMAPS, "a", stale, namespace)


async def test_update_or_patch_of_a_missing_object_is_404(rest_client: RestClient, namespace: str) -> None:
    with pytest.raises(NotFoundError):
        await rest_client.patch(CONFIGMAPS, "nope", {"data": {"k": "1"}}, namespace)
    with pytest.raises(NotFoundError):
        await rest_client.delete(CONFIGMAPS, "nope", namespace)
    body = configmap("nope", namespace)
    body["metadata"]["resourceVersion"] = "1"
    with pytest.raises(NotFoundError):
        await rest_client.replace(CONFIGMAPS, body)


async def test_an_object_without_a_name_is_422_invalid_with_causes(
    rest_client: RestClient, namespace: str
) -> None:
    with pytest.raises(InvalidError) as info:
        await rest_client.create(
            CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}, namespace=namespace
        )
    assert_status(
        info.value,
        422,
        "Invalid",
        'ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required',
    )
    assert info.value.details["kind"] == "ConfigMap"
    assert info.value.details["causes"] == [
        {
            "reason": "FieldValueRequired",
            "message": "Required value: name or generateName is required",
            "field": "metadata.name",
        }
    ]


async def test_an_invalid_name_is_422(rest_client: RestClient, namespace: str) -> None:
    with pytest.raises(InvalidError) as info:
        await rest_client.create(CONFIGMAPS, configmap("Not_A_DNS_Name", namespace))
    assert info.value.details["causes"][0]["field"] == "metadata.name"


async def test_a_body_whose_name_differs_from_the_url_is_400(rest_client: RestClient, namespace: str) -> None:
    await rest_client.create(CONFIGMAPS, configmap("a", namespace))
    with pytest.raises(BadRequestError) as info:
        await rest_client.request("PUT", CONFIGMAPS.path(namespace, "a"), body=configmap("b", namespace))
    assert info.value.body["reason"] == "BadRequest"
    assert info.value.body["message"] == "the name of the object (b) does not match the name on the URL (a)"


async def test_a_namespaced_object_in_a_missing_namespace_is_404_for_the_namespace(
    rest_client: RestClient,
) -> None:
    with pytest.raises(NotFoundError) as info:
        await rest_client.create(CONFIGMAPS, configmap("a", "no-such-namespace"))
    assert_status(info.value, 404, "NotFound", 'namespaces "no-such-namespace" not found')
    assert info.value.details == {"name": "no-such-namespace", "kind": "namespaces"}


async def test_default_namespace_exists(rest_client: RestClient) -> None:
    ns = await rest_client.get(NAMESPACES, "default")
    assert ns["status"]["phase"] == "Active"


async def test_a_deleted_namespace_terminates_and_refuses_new_objects(rest_client: RestClient) -> None:
    name = unique("ns")
    await rest_client.create(
        NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    )
    await rest_client.delete(NAMESPACES, name)

    async def terminating_or_gone() -> str:
        try:
            ns = await rest_client.get(NAMESPACES, name)
        except NotFoundError:
            return "gone"
        return "terminating" if ns["status"].get("phase") == "Terminating" else ""

    state = await wait_for(terminating_or_gone, what="the namespace to terminate")
    if state == "terminating":  # no namespace controller: it stays Terminating
        with pytest.raises(ForbiddenError) as info:
            await rest_client.create(CONFIGMAPS, configmap("a", name))
        assert info.value.reason == "Forbidden"
        assert info.value.message == (
            f'configmaps "a" is forbidden: unable to create new content in namespace {name} '
            "because it is being terminated"
        )
    else:
        with pytest.raises(NotFoundError):
            await rest_client.create(CONFIGMAPS, configmap("a", name))


async def test_malformed_json_is_400_bad_request(rest_client: RestClient, namespace: str) -> None:
    with pytest.raises(BadRequestError) as info:
        await rest_client.request("POST", CONFIGMAPS.path(namespace), body=b'{"metadata": {"name":')
    assert info.value.body["kind"] == "Status"
    assert info.value.body["code"] == 400
    assert info.value.reason == "BadRequest"


async def test_a_patch_with_an_unsupported_content_type_is_415(
    rest_client: RestClient, namespace: str
) -> None:
    await rest_client.create(CONFIGMAPS, configmap("a", namespace))
    with pytest.raises(ApiError) as info:
        await rest_client.request(
            "PATCH", CONFIGMAPS.path(namespace, "a"), body=b"{}", content_type="application/xml"
        )
    assert info.value.status == 415
    assert info.value.body["kind"] == "Status"
    assert info.value.reason == "UnsupportedMediaType"


async def test_an_unknown_resource_is_404(rest_client: RestClient, namespace: str) -> None:
    with pytest.raises(NotFoundError) as info:
        await rest_client.request("GET", f"/api/v1/namespaces/{namespace}/doesnotexist")
    assert_status(info.value, 404, "NotFound", "the server could not find the requested resource")
    with pytest.raises(NotFoundError):
        await rest_client.request("GET", "/apis/nonexistent.example.com/v1/things")


async def test_a_field_of_the_wrong_type_is_400(rest_client: RestClient, namespace: str) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bad"}, "data": {"k": 1}}
    with pytest.raises(BadRequestError) as info:
        await rest_client.create(CONFIGMAPS, body, namespace=namespace)
    assert info.value.body["kind"] == "Status"
    assert info.value.message.startswith('ConfigMap in version "v1" cannot be handled as a ConfigMap: ')


async def test_an_oversized_body_is_413(rest_client: RestClient, namespace: str) -> None:
    body = configmap("big", namespace, data={"k": "x" * (4 * 1024 * 1024)})  # the limit is 3 MiB
    with pytest.raises(ApiError) as info:
        await rest_client.create(CONFIGMAPS, body)
    assert_status(info.value, 413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728")
    with pytest.raises(NotFoundError):
        await rest_client.get(CONFIGMAPS, "big", namespace)


async def test_an_invalid_field_is_422_naming_the_field(rest_client: RestClient, namespace: str) -> None:
    with pytest.raises(InvalidError) as info:
        await rest_client.create(CONFIGMAPS, configmap("badkey", namespace, data={"bad key!": "x"}))
    assert info.value.message.startswith(
        'ConfigMap "badkey" is invalid: data[bad key!]: Invalid value: "bad key!": '
    )
    assert info.value.details["name"] == "badkey"
    assert [c["field"] for c in info.value.details["causes"]] == ["data[bad key!]"]
    assert info.value.details["causes"][0]["reason"] == "FieldValueInvalid"


async def test_a_negative_replica_count_is_422_with_the_group_in_details(
    rest_client: RestClient, namespace: str
) -> None:
    from ._support import DEPLOYMENTS, deployment

    with pytest.raises(InvalidError) as info:
        await rest_client.create(DEPLOYMENTS, deployment("neg", namespace, replicas=-1))
    assert_status(
        info.value,
        422,
        "Invalid",
        'Deployment.apps "neg" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0',
    )
    assert info.value.details == {
        "name": "neg",
        "group": "apps",
        "kind": "Deployment",
        "causes": [
            {
                "reason": "FieldValueInvalid",
                "message": "Invalid value: -1: must be greater than or equal to 0",
                "field": "spec.replicas",
            }
        ],
    }


async def test_a_create_carrying_a_resource_version_is_refused(
    rest_client: RestClient, namespace: str
) -> None:
    body = configmap("withrv", namespace)
    body["metadata"]["resourceVersion"] = "5"
    with pytest.raises(ApiError) as info:
        await rest_client.create(CONFIGMAPS, body)
    # kube-apiserver answers 500 here, without a reason
    assert info.value.status == 500
    assert info.value.body["kind"] == "Status"
    assert info.value.message == "resourceVersion should not be set on objects to be created"
