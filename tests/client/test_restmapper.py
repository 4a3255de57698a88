"""RESTMapper: kinds and names to resources and scope, from discovery, on both servers."""

from __future__ import annotations

import pytest

from pycontroller import NoKindMatchError, RESTMapper
from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.testing import FakeClock
from tests.conformance._support import crd_manifest, temporary_crd, unique


@pytest.mark.parametrize(
    ("group_version", "name"),
    [
        ("apps/v1", "Deployment"),
        ("apps/v1", "deployments"),
        ("apps/v1", "deployment"),
        ("apps/v1", "deploy"),
        ("apps/v1", "DEPLOYMENT"),
        ("apps", "Deployment"),
        ("", "deploy"),
    ],
)
async def test_a_deployment_is_found_by_kind_plural_singular_short_name_or_group(
    rest_client: RestClient, group_version: str, name: str
) -> None:
    mapping = await RESTMapper(rest_client).resource_for(group_version, name)
    assert mapping.gvr == GroupVersionResource("apps", "v1", "deployments")
    assert (mapping.kind, mapping.namespaced, mapping.api_version) == ("Deployment", True, "apps/v1")
    assert {"status", "scale"} <= mapping.subresources


async def test_core_kinds_map_with_their_scope(rest_client: RestClient) -> None:
    mapper = RESTMapper(rest_client)
    configmaps = await mapper.resource_for("v1", "ConfigMap")
    assert configmaps.gvr == GroupVersionResource("", "v1", "configmaps")
    assert configmaps.namespaced and configmaps.api_version == "v1"
    namespaces = await mapper.resource_for("v1", "ns")
    assert (namespaces.kind, namespaces.namespaced, namespaces.scope) == ("Namespace", False, "Cluster")
    assert (await mapper.kind_for(GroupVersionResource("", "v1", "pods"))).kind == "Pod"


async def test_answers_are_cached_per_group_version(rest_client: RestClient) -> None:
    mapper = RESTMapper(rest_client)
    assert mapper.cached("v1", "ConfigMap") is None
    await mapper.resource_for("v1", "ConfigMap")
    fetches = mapper.fetches
    for name in ("Secret", "pods", "cm", "Service"):
        await mapper.resource_for("v1", name)
    assert mapper.fetches == fetches
    cached = mapper.cached("v1", "secrets")
    assert cached is not None and cached.kind == "Secret"


async def test_an_unknown_kind_names_close_matches_and_the_crd_hint(rest_client: RestClient) -> None:
    mapper = RESTMapper(rest_client)
    with pytest.raises(NoKindMatchError) as caught:
        await mapper.resource_for("apps/v1", "Deploymnt")
    assert caught.value.suggestions[0] == "Deployment"
    assert "'Deploymnt'" in str(caught.value) and "apps/v1" in str(caught.value)
    assert "is the CustomResourceDefinition installed?" in str(caught.value)
    assert isinstance(caught.value, LookupError)


async def test_an_unserved_group_version_is_no_kind_match(rest_client: RestClient) -> None:
    with pytest.raises(NoKindMatchError) as caught:
        await RESTMapper(rest_client).resource_for(f"{unique('g')}.example.com/v1", "Widget")
    assert "is the CustomResourceDefinition installed?" in str(caught.value)
    with pytest.raises(NoKindMatchError):
        await RESTMapper(rest_client).kind_for(GroupVersionResource("apps", "v1", "deploymnts"))


async def test_a_crd_created_after_the_first_use_is_found(
    rest_client: RestClient, fake_clock: FakeClock
) -> None:
    mapper = RESTMapper(rest_client, clock=fake_clock)
    group = f"{unique('m')}.example.com"
    await mapper.resource_for("v1", "ConfigMap")
    with pytest.raises(NoKindMatchError):
        await mapper.resource_for(f"{group}/v1", "Gadget")
    manifest = crd_manifest(group, "Gadget", scope="Cluster", short_names=["gdg"])
    async with temporary_crd(rest_client, manifest):
        fetches = mapper.fetches
        # Within the refresh interval the miss is answered from the (negative) cache...
        with pytest.raises(NoKindMatchError):
            await mapper.resource_for(f"{group}/v1", "Gadget")
        assert mapper.fetches == fetches
        # ...and once it passed, the miss refetches and finds the new kind.
        fake_clock.advance(mapper.refresh_interval)
        mapping = await mapper.resource_for(f"{group}/v1", "gdg")
    assert mapping.gvr == GroupVersionResource(group, "v1", "gadgets")
    assert (mapping.kind, mapping.namespaced, mapping.singular) == ("Gadget", False, "gadget")
    assert mapping.subresources == frozenset({"status"})


async def test_a_new_kind_in_a_known_group_version_is_found_on_the_miss(
    rest_client: RestClient, fake_clock: FakeClock
) -> None:
    mapper = RESTMapper(rest_client, clock=fake_clock)
    group = f"{unique('m')}.example.com"
    async with temporary_crd(rest_client, crd_manifest(group, "First")):
        assert (await mapper.resource_for(f"{group}/v1", "First")).resource == "firsts"
        async with temporary_crd(rest_client, crd_manifest(group, "Second")):
            fake_clock.advance(mapper.refresh_interval)
            assert (await mapper.resource_for(f"{group}/v1", "Second")).resource == "seconds"
            assert mapper.cached(f"{group}/v1", "First") is not None


async def test_mapping_for_an_object_reads_its_api_version_and_kind(rest_client: RestClient) -> None:
    mapping = await RESTMapper(rest_client).mapping_for(
        {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease"}
    )
    assert mapping.gvr == GroupVersionResource("coordination.k8s.io", "v1", "leases")
