"""The sample-controller's webhook mode: Foo validation and the v1 version, end to end on both servers.

The API server (the in-memory fake, or the real kube-apiserver of envtest) calls the sample's
webhooks served by the Manager at https://127.0.0.1:PORT. On the shared real server the validating
webhook only matches the test's namespace, and the Foo CRD is put back as the other tests install it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycontroller import Manager
from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.errors import ApiError, InvalidError, NotFoundError
from pycontroller.webhook import AdmissionRequest, WebhookServer
from samples.sample_controller.app import add_sample_controller, install_crd, load_manifest
from samples.sample_controller.foo import DEPLOYMENTS, FOOS
from samples.sample_controller.webhooks import (
    CRD_NAME,
    WEBHOOK_CONFIGURATION,
    add_webhooks,
    foo_from_v1,
    foo_to_v1,
    install_webhooks,
    validate_foo,
)

from .helpers import NAMESPACES, eventually, running

pytestmark = pytest.mark.timeout(90)

FOOS_V1 = GroupVersionResource(FOOS.group, "v1", FOOS.resource)
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
VWCS = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"


def review(spec: dict[str, Any]) -> AdmissionRequest:
    return AdmissionRequest.from_review(
        {"uid": "u", "operation": "CREATE", "name": "f", "object": {"kind": "Foo", "spec": spec}}
    )


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"replicas": 1}, "spec.deploymentName: Required value"),
        ({"deploymentName": "Bad_Name"}, 'spec.deploymentName: Invalid value: "Bad_Name": a lowercase RFC 1123 label'),
        ({"deploymentName": "a" * 64}, "must be no more than 63 characters"),
        ({"deploymentName": "web", "replicas": 0}, "spec.replicas: Invalid value: 0: must be between 1 and 10"),
        ({"deploymentName": "web", "replicas": 11}, "spec.replicas: Invalid value: 11"),
        ({"deploymentName": "web", "replicas": "3"}, "spec.replicas: Invalid value: '3'"),
    ],
)  # fmt: skip
def test_an_invalid_foo_is_denied_with_422_naming_the_field(spec: dict[str, Any], problem: str) -> None:
    response = validate_foo(review(spec))
    assert response.allowed is False and response.code == 422 and response.reason == "Invalid"
    assert response.message.startswith("Foo 'f' is invalid: ") and problem in response.message


def test_a_valid_foo_is_allowed_and_warned_above_five_replicas() -> None:
    assert validate_foo(review({"deploymentName": "web", "replicas": 5})).warnings == ()
    response = validate_foo(review({"deploymentName": "web", "replicas": 6}))
    assert response.allowed is True
    assert response.warnings == ("spec.replicas is 6: more than 5 nginx replicas for one Foo",)


@given(st.integers(min_value=1, max_value=10), st.sampled_from(["web", "a-b-1"]))
def test_replicas_round_trip_between_v1alpha1_and_v1(replicas: int, name: str) -> None:
    alpha = {
        "apiVersion": "samplecontroller.k8s.io/v1alpha1",
        "spec": {"deploymentName": name, "replicas": replicas},
    }
    v1 = foo_to_v1({**alpha, "spec": dict(alpha["spec"])})
    assert v1["spec"] == {"deploymentName": name, "scale": {"replicas": replicas}}
    assert foo_from_v1(v1)["spec"] == alpha["spec"]


# -- end to end ---------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def webhook_mode(api_client: Any, rest: RestClient, namespace: str) -> AsyncIterator[Manager]:
    """A Manager running the sample-controller with its webhooks installed for ``namespace``."""
    await install_crd(api_client)
    await rest.patch(NAMESPACES, namespace, {"metadata": {"labels": {"foo-webhook-test": namespace}}})
    mgr = Manager(api_client=api_client, metrics_bind_address="0", namespace=namespace, handle_signals=False)
    mgr.webhook_server = WebhookServer(host="127.0.0.1", port=0, self_signed=True)
    server = add_webhooks(mgr)
    await server.start()
    add_sample_controller(mgr, api_client)
    try:
        await install_webhooks(
            api_client,
            server,
            url=server.url,
            namespace_selector={"matchLabels": {"foo-webhook-test": namespace}},
        )

        async def denied_by_webhook() -> bool:  # the real server picks the configuration up a moment later
            bad = new_foo(namespace, f"probe-{uuid.uuid4().hex[:6]}", deployment_name="Bad_Name")
            try:
                await rest.request("POST", FOOS.path(namespace), query={"dryRun": "All"}, body=bad)
            except InvalidError as exc:
                return "admission webhook" in exc.message
            return False

        await eventually(denied_by_webhook, what="the Foo webhook to take effect")
        async with running(mgr):
            yield mgr
    finally:
        with contextlib.suppress(NotFoundError):
            await rest.request("DELETE", f"{VWCS}/{WEBHOOK_CONFIGURATION}")
        # put the CRD back as the other sample tests install it (no v1, no conversion webhook)
        original = load_manifest("crd-status-subresource.yaml")
        current = await rest.request("GET", f"{CRDS}/{CRD_NAME}")
        original["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        await rest.request("PUT", f"{CRDS}/{CRD_NAME}", body=original)
        await server.stop()


def new_foo(
    namespace: str, name: str, *, deployment_name: str, replicas: int = 1, v1: bool = False
) -> dict[str, Any]:
    spec: dict[str, Any] = {"deploymentName": deployment_name}
    if v1:
        spec["scale"] = {"replicas": replicas}
    else:
        spec["replicas"] = replicas
    return {
        "apiVersion": f"{FOOS.group}/{'v1' if v1 else 'v1alpha1'}",
        "kind": "Foo",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


async def post_with_warnings(rest: RestClient, path: str, obj: dict[str, Any]) -> tuple[int, Any, list[str]]:
    headers = await rest.headers("application/json")
    async with rest._http.post(
        rest.url(path), data=orjson.dumps(obj), **rest._kwargs(headers, aiohttp.ClientTimeout(total=30))
    ) as resp:
        return resp.status, orjson.loads(await resp.read()), resp.headers.getall("Warning", [])


async def test_webhook_mode_refuses_bad_foos_and_serves_v1_converted(
    api_client: Any, rest_client: RestClient, namespace: str
) -> None:
    rest = rest_client
    async with webhook_mode(api_client, rest, namespace):
        with pytest.raises(InvalidError) as bad:
            await rest.create(FOOS, new_foo(namespace, "bad", deployment_name="Bad_Name"))
        assert bad.value.message.startswith(
            'admission webhook "vfoo-v1alpha1.samplecontroller.k8s.io" denied the request: '
            "Foo 'bad' is invalid: spec.deploymentName: Invalid value"
        )
        # a v1 Foo is converted to v1alpha1 and validated by the same webhook (matchPolicy Equivalent)
        with pytest.raises(InvalidError, match=r"spec\.deploymentName: Invalid value"):
            await rest.create(FOOS_V1, new_foo(namespace, "bad1", deployment_name="-x", v1=True))
        with pytest.raises(NotFoundError):
            await rest.get(FOOS, "bad", namespace)

        status, created, warnings = await post_with_warnings(
            rest,
            FOOS_V1.path(namespace),
            new_foo(namespace, "big", deployment_name="big-web", replicas=7, v1=True),
        )
        assert status == 201, created
        assert created["apiVersion"] == f"{FOOS.group}/v1" and created["spec"]["scale"] == {"replicas": 7}
        assert warnings == ['299 - "spec.replicas is 7: more than 5 nginx replicas for one Foo"']
        alpha = await rest.get(FOOS, "big", namespace)
        assert alpha["spec"] == {"deploymentName": "big-web", "replicas": 7}

        # the controller (watching v1alpha1) acts on the Foo written at v1
        async def deployment_replicas() -> Any:
            return (await rest.get(DEPLOYMENTS, "big-web", namespace))["spec"]["replicas"] == 7

        await eventually(deployment_replicas, what="the Deployment of the v1 Foo")
        patched = await rest.patch(FOOS_V1, "big", {"spec": {"scale": {"replicas": 3}}}, namespace)
        assert patched["spec"]["scale"] == {"replicas": 3}
        assert (await rest.get(FOOS, "big", namespace))["spec"]["replicas"] == 3
        with pytest.raises(ApiError) as out_of_range:
            await rest.patch(FOOS, "big", {"spec": {"replicas": 11}}, namespace)
        assert out_of_range.value.status == 422  # the schema refuses it before the webhook is asked


async def test_cluster_mode_writes_the_current_ca_into_the_configuration_and_the_crd(
    fake_api_server: Any, tmp_path: Any
) -> None:
    import base64

    from pycontroller.webhook import generate_self_signed
    from samples.sample_controller.webhooks import enable_webhooks

    generate_self_signed().write(tmp_path)
    server = WebhookServer(host="127.0.0.1", port=0, cert_dir=tmp_path)
    client = fake_api_server.new_client()
    rest = RestClient(client)
    try:
        await install_crd(client)
        mgr = Manager(
            api_client=client, metrics_bind_address="0", handle_signals=False, webhook_server=server
        )
        await server.start()
        await install_webhooks(client, server, url=server.url)
        rotated = generate_self_signed(common_name="rotated")
        rotated.write(tmp_path)  # the certificate rotates: the keeper must publish the new CA
        await enable_webhooks(mgr, client, embedded=False)
        expected = base64.b64encode(rotated.ca_cert).decode()

        async def published() -> bool:
            vwc = await rest.request("GET", f"{VWCS}/{WEBHOOK_CONFIGURATION}")
            crd = await rest.request("GET", f"{CRDS}/{CRD_NAME}")
            return bool(
                vwc["webhooks"][0]["clientConfig"]["caBundle"] == expected
                and crd["spec"]["conversion"]["webhook"]["clientConfig"]["caBundle"] == expected
            )

        async with running(mgr):
            await eventually(published, what="the rotated CA in the configuration and the CRD")
    finally:
        await client.close()
