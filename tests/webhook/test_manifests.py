"""manifests(): webhook configurations and the CRD conversion stanza, as YAML for kubectl apply."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from pycontroller.webhook import WebhookServer, conversion_stanza, manifests, webhook_configurations

from .helpers import serving


def crd(group: str, kind: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{kind.lower()}s.{group}"},
        "spec": {"group": group, "names": {"kind": kind, "plural": f"{kind.lower()}s"}, "versions": []},
    }


async def test_manifests_render_both_configurations_and_the_crd_conversion_with_the_ca_bundle() -> None:
    server = WebhookServer(host="127.0.0.1", port=0, self_signed=True)
    server.add_validator("samplecontroller.k8s.io/v1alpha1", "Foo", lambda r: None)
    server.add_mutator("apps/v1", "Deployment", lambda r: None, operations=("CREATE",))
    server.add_validator("networking.k8s.io/v1", "NetworkPolicy", lambda r: None, resource="networkpolicies")
    server.add_conversion("samplecontroller.k8s.io", "Foo", "v1", {})
    async with serving(server):
        text = manifests(
            server,
            name="foo-webhooks",
            service=("default", "foo-webhook", 443),
            crds=[crd("samplecontroller.k8s.io", "Foo"), crd("other.io", "Bar")],
        )
        ca = base64.b64encode(server.ca_bundle).decode()
    validating, mutating, foo_crd, bar_crd = yaml.safe_load_all(text)
    assert validating["apiVersion"] == "admissionregistration.k8s.io/v1"
    assert validating["kind"] == "ValidatingWebhookConfiguration"
    assert validating["metadata"] == {"name": "foo-webhooks"}
    foo_hook, policy_hook = validating["webhooks"]
    assert foo_hook == {
        "name": "vfoo-v1alpha1.samplecontroller.k8s.io",
        "clientConfig": {
            "service": {
                "namespace": "default",
                "name": "foo-webhook",
                "path": "/validate-samplecontroller-k8s-io-v1alpha1-foo",
                "port": 443,
            },
            "caBundle": ca,
        },
        "rules": [
            {
                "apiGroups": ["samplecontroller.k8s.io"],
                "apiVersions": ["v1alpha1"],
                "operations": ["CREATE", "UPDATE"],
                "resources": ["foos"],
                "scope": "*",
            }
        ],
        "sideEffects": "None",
        "admissionReviewVersions": ["v1", "v1beta1"],
        "failurePolicy": "Fail",
        "matchPolicy": "Equivalent",
        "timeoutSeconds": 10,
    }
    assert policy_hook["rules"][0]["resources"] == ["networkpolicies"]
    assert mutating["kind"] == "MutatingWebhookConfiguration"
    (hook,) = mutating["webhooks"]
    assert hook["name"] == "mdeployment-v1.apps.pycontroller.io"
    assert hook["rules"][0]["operations"] == ["CREATE"] and hook["reinvocationPolicy"] == "Never"
    assert foo_crd["spec"]["conversion"] == {
        "strategy": "Webhook",
        "webhook": {
            "clientConfig": {
                "service": {"namespace": "default", "name": "foo-webhook", "path": "/convert", "port": 443},
                "caBundle": ca,
            },
            "conversionReviewVersions": ["v1", "v1beta1"],
        },
    }
    assert "conversion" not in bar_crd["spec"]


def test_a_url_client_config_and_bad_options_are_checked() -> None:
    server = WebhookServer(port=0, self_signed=True)
    server.add_validator("v1", "Pod", lambda r: None)
    (config,) = webhook_configurations(
        server, name="x", url="https://127.0.0.1:9443/", ca_bundle=b"PEM", failure_policy="Ignore"
    )
    assert config["webhooks"][0]["clientConfig"] == {
        "url": "https://127.0.0.1:9443/validate--v1-pod",
        "caBundle": base64.b64encode(b"PEM").decode(),
    }
    assert config["webhooks"][0]["name"] == "vpod-v1.core.pycontroller.io"
    assert config["webhooks"][0]["failurePolicy"] == "Ignore"
    with pytest.raises(ValueError, match="exactly one of url"):
        webhook_configurations(server, name="x")
    with pytest.raises(ValueError, match="https"):
        conversion_stanza(url="http://127.0.0.1:9443")
    with pytest.raises(ValueError, match="Fail or Ignore"):
        webhook_configurations(server, name="x", url="https://h", failure_policy="Sometimes")
    with pytest.raises(ValueError, match=r"1\.\.30"):
        webhook_configurations(server, name="x", url="https://h", timeout_seconds=31)


async def test_the_ca_bundle_keeper_rewrites_configurations_and_crds_when_the_certificate_rotates(
    tmp_path: Any,
) -> None:
    from pycontroller.client import RestClient
    from pycontroller.testing import FakeAPIServer
    from pycontroller.webhook import CABundleKeeper, generate_self_signed
    from tests.controller.conftest import until

    generate_self_signed().write(tmp_path)
    server = WebhookServer(host="127.0.0.1", port=0, cert_dir=tmp_path)
    server.add_validator("v1", "ConfigMap", lambda r: None)
    async with FakeAPIServer() as api, serving(server):
        client = RestClient(api.new_client(), owns_api_client=True)
        (config,) = webhook_configurations(server, name="hooks", url=server.url, ca_bundle=b"old")
        base = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
        await client.request("POST", base, body=config)
        keeper = CABundleKeeper(client, server, validating=["hooks", "missing"])
        task = asyncio.create_task(keeper.run())

        async def bundle() -> str:
            stored = await client.request("GET", f"{base}/hooks")
            return str(stored["webhooks"][0]["clientConfig"]["caBundle"])

        await until(lambda: keeper.writes == 1)
        assert base64.b64decode(await bundle()) == server.ca_bundle
        rotated = generate_self_signed(common_name="rotated")
        rotated.write(tmp_path)
        assert server.watcher is not None and server.watcher.check()
        await until(lambda: keeper.writes == 2)
        assert base64.b64decode(await bundle()) == rotated.ca_cert
        keeper.stop()
        await asyncio.wait_for(task, 5)
        await client.close()
