"""CRDs installed before the test gets its server: the ``crds`` marker, on both servers."""

from __future__ import annotations

import pytest

from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.errors import InvalidError

GADGETS = GroupVersionResource("marker.example.com", "v1", "gadgets")
DIALS = GroupVersionResource("marker.example.com", "v1", "dials")


@pytest.mark.crds("crds/gadgets.yaml")
async def test_crds_from_a_marker_are_served_when_the_test_starts(
    rest_client: RestClient, namespace: str
) -> None:
    gadget = {
        "apiVersion": "marker.example.com/v1",
        "kind": "Gadget",
        "metadata": {"name": "g1", "namespace": namespace},
        "spec": {"size": 2},
    }
    created = await rest_client.create(GADGETS, gadget)
    assert created["metadata"]["generation"] == 1
    bad = {**gadget, "metadata": {"name": "g2", "namespace": namespace}, "spec": {"size": 0}}
    with pytest.raises(InvalidError):
        await rest_client.create(GADGETS, bad)  # the schema of the file is applied
    dials = await rest_client.list(DIALS)
    assert dials["kind"] == "DialList"
    listing = await rest_client.request("GET", "/apis/marker.example.com/v1")
    assert {r["name"] for r in listing["resources"]} == {"gadgets", "gadgets/status", "dials"}
    await rest_client.delete(GADGETS, "g1", namespace=namespace)
