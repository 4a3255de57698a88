"""The ``crds`` fixture: overridden (here, for the module) it installs CRDs into every server fixture."""

from __future__ import annotations

from typing import Any

import pytest

from pycontroller.client import GroupVersionResource, RestClient

SPROCKETS = GroupVersionResource("override.example.com", "v1", "sprockets")
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "sprockets.override.example.com"},
    "spec": {
        "group": "override.example.com",
        "scope": "Namespaced",
        "names": {"plural": "sprockets", "kind": "Sprocket"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                },
            }
        ],
    },
}


@pytest.fixture
def crds() -> list[Any]:
    return [CRD]


async def test_the_overridden_fixture_installs_into_the_fake(fake_api_server: Any) -> None:
    client = RestClient(fake_api_server.new_client(), owns_api_client=True)
    try:
        assert (await client.list(SPROCKETS, namespace="default"))["items"] == []
    finally:
        await client.close()


async def test_and_into_api_server_on_both_servers(rest_client: RestClient, namespace: str) -> None:
    sprocket = {"apiVersion": "override.example.com/v1", "kind": "Sprocket", "metadata": {"name": "s"}}
    created = await rest_client.create(SPROCKETS, sprocket, namespace=namespace)
    assert created["metadata"]["namespace"] == namespace
