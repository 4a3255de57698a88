"""Lists: label and field selectors, paging with continue tokens, resourceVersion semantics, 410."""

from __future__ import annotations

from typing import Any

import pytest

from pycontroller.client import RestClient
from pycontroller.errors import ApiError, GoneError, InvalidError
from pycontroller.testing import eventually

from ._support import CONFIGMAPS, compact, configmap, names, rv


@pytest.fixture
async def labelled(rest_client: RestClient, namespace: str) -> str:
    objects = {
        "a": {"env": "prod", "tier": "web"},
        "b": {"env": "dev", "tier": "web"},
        "c": {"env": "test"},
        "d": {},
    }
    for name, labels in objects.items():
        await rest_client.create(CONFIGMAPS, configmap(name, namespace, labels=labels))
    return namespace


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("env=prod", ["a"]),
        ("env==prod", ["a"]),
        ("env!=prod", ["b", "c", "d"]),  # != also matches objects without the key
        ("env in (prod,dev)", ["a", "b"]),
        ("env notin (prod,dev)", ["c", "d"]),
        ("tier", ["a", "b"]),
        ("!tier", ["c", "d"]),
        ("tier=web,env=dev", ["b"]),
        ("tier,env!=dev", ["a"]),
        ("", ["a", "b", "c", "d"]),
    ],
)
async def test_label_selectors_filter_lists(
    rest_client: RestClient, labelled: str, selector: str, expected: list[str]
) -> None:
    listing = await rest_client.list(CONFIGMAPS, labelled, labelSelector=selector)
    assert names(listing) == expected


async def test_a_malformed_label_selector_is_400(rest_client: RestClient, labelled: str) -> None:
    with pytest.raises(ApiError) as info:
        await rest_client.list(CONFIGMAPS, labelled, labelSelector="env in prod")
    assert info.value.status == 400
    assert info.value.body["kind"] == "Status"


async def test_field_selectors_on_name_and_namespace(rest_client: RestClient, labelled: str) -> None:
    assert names(await rest_client.list(CONFIGMAPS, labelled, fieldSelector="metadata.name=b")) == ["b"]
    assert names(await rest_client.list(CONFIGMAPS, labelled, fieldSelector="metadata.name!=b")) == [
        "a",
        "c",
        "d",
    ]
    everywhere = await rest_client.list(CONFIGMAPS, fieldSelector=f"metadata.namespace={labelled}")
    assert names(everywhere) == ["a", "b", "c", "d"]
    both = await rest_client.list(
        CONFIGMAPS, labelled, fieldSelector="metadata.name=a", labelSelector="env=dev"
    )
    assert names(both) == []


async def test_an_unsupported_field_selector_is_400(rest_client: RestClient, labelled: str) -> None:
    with pytest.raises(ApiError) as info:
        await rest_client.list(CONFIGMAPS, labelled, fieldSelector="data.k=v")
    assert info.value.status == 400
    assert (
        info.value.body["message"]
        == '"data.k" is not a known field selector: only "metadata.name", "metadata.namespace"'
    )


async def test_limit_and_continue_page_through_a_consistent_snapshot(
    rest_client: RestClient, namespace: str
) -> None:
    for i in range(5):
        await rest_client.create(CONFIGMAPS, configmap(f"cm-{i}", namespace))
    first = await rest_client.list(CONFIGMAPS, namespace, limit=2)
    assert names(first) == ["cm-0", "cm-1"]
    assert first["metadata"]["continue"]
    assert first["metadata"]["remainingItemCount"] == 3
    snapshot_rv = first["metadata"]["resourceVersion"]

    # writes after the first page are not visible in the following pages
    await rest_client.create(CONFIGMAPS, configmap("cm-2a", namespace))
    await rest_client.delete(CONFIGMAPS, "cm-4", namespace)
    await rest_client.patch(CONFIGMAPS, "cm-3", {"data": {"new": "yes"}}, namespace)

    second = await rest_client.list(
        CONFIGMAPS, namespace, limit=2, **{"continue": first["metadata"]["continue"]}
    )
    assert names(second) == ["cm-2", "cm-3"]
    assert second["metadata"]["resourceVersion"] == snapshot_rv
    assert "new" not in (second["items"][1].get("data") or {})
    assert second["metadata"]["remainingItemCount"] == 1
    third = await rest_client.list(
        CONFIGMAPS, namespace, limit=2, **{"continue": second["metadata"]["continue"]}
    )
    assert names(third) == ["cm-4"]
    assert not third["metadata"].get("continue")
    assert "remainingItemCount" not in third["metadata"]


async def test_a_limit_larger_than_the_list_returns_no_continue(
    rest_client: RestClient, namespace: str
) -> None:
    await rest_client.create(CONFIGMAPS, configmap("only", namespace))
    listing = await rest_client.list(CONFIGMAPS, namespace, limit=10)
    assert names(listing) == ["only"]
    assert not listing["metadata"].get("continue")


async def test_a_malformed_continue_token_is_400(rest_client: RestClient, namespace: str) -> None:
    with pytest.raises(ApiError) as info:
        await rest_client.list(CONFIGMAPS, namespace, limit=1, **{"continue": "not-a-token"})
    assert info.value.status == 400


async def test_exact_resource_version_lists_the_past(rest_client: RestClient, namespace: str) -> None:
    first = await rest_client.create(CONFIGMAPS, configmap("a", namespace, data={"v": "1"}))
    await rest_client.create(CONFIGMAPS, configmap("b", namespace))
    await rest_client.patch(CONFIGMAPS, "a", {"data": {"v": "2"}}, namespace)
    past = await rest_client.list(
        CONFIGMAPS,
        namespace,
        resourceVersion=first["metadata"]["resourceVersion"],
        resourceVersionMatch="Exact",
    )
    assert names(past) == ["a"]
    assert past["items"][0]["data"] == {"v": "1"}
    assert past["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]


async def test_not_older_than_returns_state_at_least_that_new(
    rest_client: RestClient, namespace: str
) -> None:
    created = await rest_client.create(CONFIGMAPS, configmap("a", namespace))
    listing = await rest_client.list(
        CONFIGMAPS,
        namespace,
        resourceVersion=created["metadata"]["resourceVersion"],
        resourceVersionMatch="NotOlderThan",
    )
    assert names(listing) == ["a"]
    assert int(listing["metadata"]["resourceVersion"]) >= rv(created)


async def test_resource_version_zero_lists_current_state(rest_client: RestClient, namespace: str) -> None:
    created = await rest_client.create(CONFIGMAPS, configmap("a", namespace))

    # "0" means any version is fine: the real server answers from its watch cache, which may lag a
    # write by a moment (seen under load), so read-your-writes is not promised; the cache catches up.
    async def current() -> dict[str, Any]:
        listing: dict[str, Any] = await rest_client.list(CONFIGMAPS, namespace, resourceVersion="0")
        assert int(listing["metadata"]["resourceVersion"]) >= rv(created)
        return listing

    listing = await eventually(current, timeout=10.0)
    assert names(listing) == ["a"]


async def test_resource_version_match_without_resource_version_is_422(
    rest_client: RestClient, namespace: str
) -> None:
    with pytest.raises(InvalidError) as info:
        await rest_client.list(CONFIGMAPS, namespace, resourceVersionMatch="NotOlderThan")
    assert "resourceVersionMatch is forbidden unless resourceVersion is provided" in info.value.message


async def test_a_future_resource_version_is_refused_as_too_large(
    rest_client: RestClient, namespace: str
) -> None:
    listing = await rest_client.list(CONFIGMAPS, namespace)
    future = int(listing["metadata"]["resourceVersion"]) + 1_000_000
    with pytest.raises(ApiError) as info:
        await rest_client.list(
            CONFIGMAPS, namespace, resourceVersion=str(future), resourceVersionMatch="NotOlderThan"
        )
    assert info.value.status == 504
    assert info.value.reason == "Timeout"
    assert info.value.message.startswith(f"Timeout: Too large resource version: {future}, current: ")
    assert info.value.details["causes"][0]["reason"] == "ResourceVersionTooLarge"


async def test_an_exact_list_of_a_compacted_version_is_410_expired(
    api_server: object, rest_client: RestClient, namespace: str
) -> None:
    old = await rest_client.create(CONFIGMAPS, configmap("a", namespace))
    await rest_client.create(CONFIGMAPS, configmap("b", namespace))
    await compact(api_server)
    with pytest.raises(GoneError) as info:
        await rest_client.list(
            CONFIGMAPS,
            namespace,
            resourceVersion=old["metadata"]["resourceVersion"],
            resourceVersionMatch="Exact",
        )
    assert info.value.reason == "Expired"
    assert info.value.message == "The resourceVersion for the provided list is too old."
    assert info.value.body["kind"] == "Status"


async def test_a_continue_token_of_a_compacted_snapshot_is_410_expired(
    api_server: object, rest_client: RestClient, namespace: str
) -> None:
    for i in range(3):
        await rest_client.create(CONFIGMAPS, configmap(f"cm-{i}", namespace))
    first = await rest_client.list(CONFIGMAPS, namespace, limit=1)
    await rest_client.create(CONFIGMAPS, configmap("later", namespace))
    await compact(api_server)
    with pytest.raises(GoneError) as info:
        await rest_client.list(CONFIGMAPS, namespace, limit=1, **{"continue": first["metadata"]["continue"]})
    assert info.value.reason == "Expired"
    assert info.value.message.startswith(
        "The provided continue parameter is too old to display a consistent list result."
    )
    # the Status carries a token to continue inconsistently with the remainder
    assert info.value.body["metadata"]["continue"]


async def test_a_list_from_resource_version_zero_ignores_the_limit(
    rest_client: RestClient, namespace: str
) -> None:
    # kube-apiserver answers resourceVersion="0" from its watch cache, which does not paginate: the
    # reflector's first list (RV "0", limit 500) gets everything in one page
    for i in range(3):
        await rest_client.create(CONFIGMAPS, configmap(f"cm-{i}", namespace))
    listing = await rest_client.list(CONFIGMAPS, namespace, resourceVersion="0", limit=1)
    assert names(listing) == ["cm-0", "cm-1", "cm-2"]
    assert not listing["metadata"].get("continue")


async def test_pages_of_a_filtered_list_are_filled_with_matching_items(
    rest_client: RestClient, namespace: str
) -> None:
    for i in range(6):
        labels = {"keep": "yes"} if i % 2 == 0 else {}
        await rest_client.create(CONFIGMAPS, configmap(f"cm-{i}", namespace, labels=labels))
    first = await rest_client.list(CONFIGMAPS, namespace, limit=2, labelSelector="keep=yes")
    assert names(first) == ["cm-0", "cm-2"]
    assert first["metadata"]["continue"]
    second = await rest_client.list(
        CONFIGMAPS,
        namespace,
        limit=2,
        labelSelector="keep=yes",
        **{"continue": first["metadata"]["continue"]},
    )
    assert names(second) == ["cm-4"]
    assert not second["metadata"].get("continue")
