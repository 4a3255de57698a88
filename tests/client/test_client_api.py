"""RestClient: resources by kind, selectors, dry-run on every write, merge patches from an original."""

from __future__ import annotations

import pytest

from pycontroller import ConflictError, InvalidError, NoKindMatchError, NotFoundError
from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.mergepatch import apply_merge_patch, create_merge_patch
from tests.conformance._support import configmap, rv

CONFIGMAPS = GroupVersionResource("", "v1", "configmaps")


async def test_every_call_takes_a_gvr_a_kind_pair_or_an_object(
    rest_client: RestClient, namespace: str
) -> None:
    created = await rest_client.create(configmap("a", namespace, data={"k": "1"}))  # resource from the object
    assert created["metadata"]["uid"]
    by_pair = await rest_client.get(("v1", "ConfigMap"), "a", namespace)
    by_gvr = await rest_client.get(CONFIGMAPS, "a", namespace)
    by_short = await rest_client.get(("v1", "cm"), "a", namespace)
    assert by_pair == by_gvr == by_short
    with pytest.raises(NoKindMatchError):
        await rest_client.get(("v1", "ConfigMapz"), "a", namespace)


async def test_list_takes_label_and_field_selectors_in_kubernetes_syntax_or_as_a_mapping(
    rest_client: RestClient, namespace: str
) -> None:
    for name, tier in (("web-1", "web"), ("web-2", "web"), ("db-1", "db")):
        await rest_client.create(CONFIGMAPS, configmap(name, namespace, labels={"tier": tier, "app": "x"}))

    async def names(**kwargs: object) -> list[str]:
        listing = await rest_client.list(("v1", "ConfigMap"), namespace, **kwargs)
        return sorted(i["metadata"]["name"] for i in listing["items"])

    assert await names(label_selector="tier=web") == ["web-1", "web-2"]
    assert await names(label_selector="tier in (db),app") == ["db-1"]
    assert await names(label_selector={"tier": "db", "app": "x"}) == ["db-1"]
    assert await names(field_selector="metadata.name=web-2") == ["web-2"]
    assert await names(label_selector="tier!=web", field_selector={"metadata.name": "db-1"}) == ["db-1"]


async def test_dry_run_writes_answer_like_the_real_write_and_store_nothing(
    rest_client: RestClient, namespace: str
) -> None:
    preview = await rest_client.create(configmap("dry", namespace), dry_run=True)
    assert preview["metadata"]["name"] == "dry"
    with pytest.raises(NotFoundError):
        await rest_client.get(CONFIGMAPS, "dry", namespace)
    real = await rest_client.create(configmap("real", namespace, data={"v": "1"}))
    changed = {**real, "data": {"v": "2"}}
    assert (await rest_client.replace(changed, dry_run=True))["data"] == {"v": "2"}
    assert (await rest_client.patch(CONFIGMAPS, "real", {"data": {"v": "3"}}, namespace, dry_run=True))[
        "data"
    ] == {"v": "3"}
    await rest_client.delete(CONFIGMAPS, "real", namespace, dry_run=True)
    stored = await rest_client.get(CONFIGMAPS, "real", namespace)
    assert stored["data"] == {"v": "1"} and rv(stored) == rv(real)


async def test_a_merge_patch_from_the_original_sends_only_the_differences(
    rest_client: RestClient, namespace: str
) -> None:
    original = await rest_client.create(
        configmap("m", namespace, labels={"keep": "1", "drop": "1"}, data={"a": "1", "b": "2"})
    )
    modified = {
        **original,
        "metadata": {**original["metadata"], "labels": {"keep": "1", "new": "1"}},
        "data": {"a": "1", "b": "3"},
    }
    # Someone else writes a field we did not touch: a merge patch without a lock keeps it.
    await rest_client.patch(CONFIGMAPS, "m", {"data": {"c": "other"}}, namespace)
    patched = await rest_client.patch(modified, merge_from=original)
    assert patched["metadata"]["labels"] == {"keep": "1", "new": "1"}
    assert patched["data"] == {"a": "1", "b": "3", "c": "other"}


async def test_an_optimistic_lock_turns_an_intervening_write_into_a_conflict(
    rest_client: RestClient, namespace: str
) -> None:
    original = await rest_client.create(configmap("lock", namespace, data={"a": "1"}))
    await rest_client.patch(CONFIGMAPS, "lock", {"data": {"a": "someone else"}}, namespace)
    modified = {**original, "data": {"a": "mine"}}
    with pytest.raises(ConflictError):
        await rest_client.patch(CONFIGMAPS, modified, merge_from=original, optimistic_lock=True)
    fresh = await rest_client.get(CONFIGMAPS, "lock", namespace)
    done = await rest_client.patch({**fresh, "data": {"a": "mine"}}, merge_from=fresh, optimistic_lock=True)
    assert done["data"] == {"a": "mine"}


async def test_a_422_is_an_invalid_error_carrying_the_status_causes(
    rest_client: RestClient, namespace: str
) -> None:
    with pytest.raises(InvalidError) as caught:
        await rest_client.create(configmap("Not_A_Valid_Name", namespace))
    assert caught.value.status == 422 and caught.value.reason == "Invalid"
    assert caught.value.causes and caught.value.causes[0]["field"] == "metadata.name"


def test_the_merge_patch_of_two_objects_turns_one_into_the_other() -> None:
    original = {"a": 1, "b": {"c": [1, 2], "d": "x", "gone": True}, "same": {"k": "v"}}
    modified = {"a": 1, "b": {"c": [2], "d": "y"}, "same": {"k": "v"}, "new": None, "t": True}
    patch = create_merge_patch(original, modified)
    assert patch == {"b": {"c": [2], "d": "y", "gone": None}, "new": None, "t": True}
    assert create_merge_patch(original, original) == {}
    without_nulls = {k: v for k, v in modified.items() if v is not None}
    assert apply_merge_patch(original, patch) == without_nulls


async def test_writes_record_the_field_manager_given(rest_client: RestClient, namespace: str) -> None:
    created = await rest_client.create(configmap("fm", namespace, data={"a": "1"}), field_manager="my-ctl")
    assert {m["manager"] for m in created["metadata"]["managedFields"]} == {"my-ctl"}
    updated = await rest_client.replace({**created, "data": {"a": "2"}}, field_manager="other-ctl")
    assert {m["manager"] for m in updated["metadata"]["managedFields"]} == {"my-ctl", "other-ctl"}
