"""register_resource: serving an API the real server would get from an aggregated server."""

from __future__ import annotations

import pytest

from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.errors import ApiError, ConfigError
from pycontroller.testing.apiserver import FakeAPIServer, ResourceClashError

METRICS = GroupVersionResource("metrics.k8s.io", "v1beta1", "pods")


async def test_a_registered_resource_is_discovered_and_served_with_the_generic_semantics() -> None:
    server = FakeAPIServer()
    server.register_resource("metrics.k8s.io", "v1beta1", "PodMetrics", "pods", short_names=["pm"])
    server.register_resource(
        "widgets.example.com",
        "v2",
        "Widget",
        "widgets",
        namespaced=False,
        subresources=["status", "scale"],
        generation=True,
    )
    async with server:
        client = RestClient(server.new_client(), owns_api_client=True)
        try:
            groups = await client.request("GET", "/apis")
            names = [g["name"] for g in groups["groups"]]
            assert names[-2:] == ["metrics.k8s.io", "widgets.example.com"]
            listing = await client.request("GET", "/apis/widgets.example.com/v2")
            assert [r["name"] for r in listing["resources"]] == ["widgets", "widgets/status", "widgets/scale"]
            assert listing["resources"][0]["namespaced"] is False
            pm = {
                "apiVersion": "metrics.k8s.io/v1beta1",
                "kind": "PodMetrics",
                "metadata": {"name": "p", "labels": {"a": "b"}},
            }
            await client.create(METRICS, pm, namespace="default")
            got = await client.list(METRICS, namespace="default", labelSelector="a=b")
            assert [i["metadata"]["name"] for i in got["items"]] == ["p"]
            widgets = GroupVersionResource("widgets.example.com", "v2", "widgets")
            w = {
                "apiVersion": "widgets.example.com/v2",
                "kind": "Widget",
                "metadata": {"name": "w"},
                "spec": {"replicas": 1},
            }
            created = await client.create(widgets, w)
            assert created["metadata"]["generation"] == 1
            scale = await client.request("GET", "/apis/widgets.example.com/v2/widgets/w/scale")
            assert scale["spec"]["replicas"] == 1
        finally:
            await client.close()


async def test_verbs_not_registered_are_refused_with_405() -> None:
    server = FakeAPIServer()
    server.register_resource(
        "readonly.example.com", "v1", "Report", "reports", verbs=["get", "list", "watch"]
    )
    async with server:
        client = RestClient(server.new_client(), owns_api_client=True)
        try:
            report = {"apiVersion": "readonly.example.com/v1", "kind": "Report", "metadata": {"name": "r"}}
            with pytest.raises(ApiError) as refused:
                await client.create(
                    GroupVersionResource("readonly.example.com", "v1", "reports"), report, namespace="default"
                )
            assert (refused.value.status, refused.value.reason) == (405, "MethodNotAllowed")
        finally:
            await client.close()


def test_registering_a_served_resource_kind_or_short_name_is_a_clear_error() -> None:
    server = FakeAPIServer()
    with pytest.raises(ResourceClashError, match=r"apps/v1 already serves resource 'deployments'"):
        server.register_resource("apps", "v2", "Deployment2", "deployments")
    with pytest.raises(ResourceClashError, match=r"already serves kind 'ConfigMap' \(as 'configmaps'\)"):
        server.register_resource("", "v1", "ConfigMap", "configmaps2")
    with pytest.raises(ResourceClashError, match=r"short name 'deploy'"):
        server.register_resource("apps", "v1", "Thing", "things", short_names=["deploy"])
    server.register_resource("x.example.com", "v1", "X", "xs")
    with pytest.raises(ResourceClashError):
        server.register_resource("x.example.com", "v1", "X", "xs")
    assert issubclass(ResourceClashError, ConfigError)


def test_unknown_subresources_and_verbs_are_refused() -> None:
    server = FakeAPIServer()
    with pytest.raises(ValueError, match="unknown subresources"):
        server.register_resource("x.example.com", "v1", "X", "xs", subresources=["log"])
    with pytest.raises(ValueError, match="unknown verbs"):
        server.register_resource("x.example.com", "v1", "X", "xs", verbs=["get", "frobnicate"])
