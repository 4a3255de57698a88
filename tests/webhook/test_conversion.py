"""ConversionReview: objects round-trip between any two versions through the hub; failures are Failed."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycontroller.webhook import WebhookServer
from pycontroller.webhook.conversion import Converter

from .helpers import post, serving

GROUP = "samplecontroller.k8s.io"


def alpha_to_hub(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.setdefault("spec", {})
    spec["scale"] = {"replicas": spec.pop("replicas", 1)}
    return obj


def hub_to_alpha(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.setdefault("spec", {})
    spec["replicas"] = spec.pop("scale", {}).get("replicas", 1)
    return obj


async def beta_to_hub(obj: dict[str, Any]) -> dict[str, Any]:
    await asyncio.sleep(0)
    spec = obj.setdefault("spec", {})
    spec["scale"] = {"replicas": spec.pop("size", 1)}
    return obj


def hub_to_beta(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.setdefault("spec", {})
    spec["size"] = spec.pop("scale", {}).get("replicas", 1)
    return obj


def foo(version: str, spec: dict[str, Any], name: str = "f") -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{version}",
        "kind": "Foo",
        "metadata": {"name": name, "namespace": "default", "uid": "u"},
        "spec": spec,
    }


def review(
    desired: str, objects: list[Any], *, api_version: str = "apiextensions.k8s.io/v1"
) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": "ConversionReview",
        "request": {"uid": "c-1", "desiredAPIVersion": desired, "objects": objects},
    }


def server_with_foo() -> WebhookServer:
    server = WebhookServer(host="127.0.0.1", port=0, self_signed=True)
    path = server.add_conversion(
        GROUP, "Foo", "v1", {"v1alpha1": (alpha_to_hub, hub_to_alpha), "v1beta1": (beta_to_hub, hub_to_beta)}
    )
    assert path == "/convert"
    return server


@pytest.mark.parametrize("review_version", ["apiextensions.k8s.io/v1", "apiextensions.k8s.io/v1beta1"])
async def test_objects_are_converted_spoke_to_spoke_through_the_hub(review_version: str) -> None:
    server = server_with_foo()
    async with serving(server):
        objects = [
            foo("v1alpha1", {"replicas": 3, "deploymentName": "d"}),
            foo("v1", {"scale": {"replicas": 2}}),
        ]
        status, body = await post(
            server, "/convert", review(f"{GROUP}/v1beta1", objects, api_version=review_version)
        )
    assert status == 200
    assert body["apiVersion"] == review_version and body["kind"] == "ConversionReview"
    response = body["response"]
    assert response["uid"] == "c-1" and response["result"] == {"status": "Success"}
    converted = response["convertedObjects"]
    assert [o["apiVersion"] for o in converted] == [f"{GROUP}/v1beta1"] * 2
    assert converted[0]["spec"] == {"size": 3, "deploymentName": "d"}
    assert converted[1]["spec"] == {"size": 2}
    assert converted[0]["metadata"] == objects[0]["metadata"]


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from(["v1alpha1", "v1beta1", "v1"]),
    st.sampled_from(["v1alpha1", "v1beta1", "v1"]),
    st.integers(min_value=0, max_value=100),
)
def test_any_version_round_trips_through_any_other(start: str, via: str, replicas: int) -> None:
    converter = Converter(
        GROUP, "Foo", "v1", {"v1alpha1": (alpha_to_hub, hub_to_alpha), "v1beta1": (beta_to_hub, hub_to_beta)}
    )
    spec = {
        "v1alpha1": {"replicas": replicas},
        "v1beta1": {"size": replicas},
        "v1": {"scale": {"replicas": replicas}},
    }
    original = foo(start, copy.deepcopy(spec[start]))

    async def round_trip() -> dict[str, Any]:
        there = await converter.convert(copy.deepcopy(original), via)
        assert there["apiVersion"] == f"{GROUP}/{via}" and there["spec"] == spec[via]
        return await converter.convert(there, start)

    assert asyncio.run(round_trip()) == original


async def test_a_raising_conversion_fails_the_whole_review_with_its_message() -> None:
    def broken(obj: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("spec.replicas is not a number")

    server = WebhookServer(host="127.0.0.1", port=0, self_signed=True)
    server.add_conversion(GROUP, "Foo", "v1", {"v1alpha1": (broken, hub_to_alpha)})
    async with serving(server):
        objects = [foo("v1", {"scale": {"replicas": 1}}), foo("v1alpha1", {"replicas": "x"})]
        status, body = await post(server, "/convert", review(f"{GROUP}/v1", objects))
        assert status == 200
        assert body["response"]["result"] == {"status": "Failure", "message": "spec.replicas is not a number"}
        assert body["response"]["convertedObjects"] == []
        _, body = await post(server, "/convert", review(f"{GROUP}/v9", [foo("v1", {})]))
        assert body["response"]["result"]["status"] == "Failure"
        assert "no conversion registered for version 'v9'" in body["response"]["result"]["message"]
        _, body = await post(server, "/convert", review("other.io/v1", [foo("v1", {})]))
        assert "different groups" in body["response"]["result"]["message"]


def test_the_hub_cannot_be_a_spoke_and_spokes_need_two_functions() -> None:
    with pytest.raises(ValueError, match="cannot also be a spoke"):
        Converter(GROUP, "Foo", "v1", {"v1": (alpha_to_hub, hub_to_alpha)})
    with pytest.raises(TypeError, match="pair of functions"):
        Converter(GROUP, "Foo", "v1", {"v1alpha1": (alpha_to_hub,)})  # type: ignore[dict-item]
    server = server_with_foo()
    with pytest.raises(ValueError, match="already registered"):
        server.add_conversion(GROUP, "Foo", "v1", {})
