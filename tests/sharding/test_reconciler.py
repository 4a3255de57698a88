"""The shard side: what the wrapped reconcile does for each label state, and when the Lease goes."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from pycontroller.client import RestClient
from pycontroller.reconcile import Result
from pycontroller.sharding import Shard, sharded_reconciler
from tests.sharding.cluster import CONFIGMAPS, DRAIN_LABEL, SHARD_LABEL


class Cache:
    """A stand-in informer whose cache the test sets."""

    def __init__(self) -> None:
        self.objects: dict[str, Any] = {}
        self.indexer = self

    def get_by_key(self, key: str) -> Any:
        return self.objects.get(key)


@pytest.fixture
async def setup(fake_api_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    rest = RestClient(fake_api_server.new_client(), owns_api_client=True)
    shard = Shard(rest, name="me", ring="cms", namespace="default", domain="sharding.pycontroller.dev")
    ready = {"value": True}
    monkeypatch.setattr(shard, "is_ready", lambda: ready["value"])
    cache = Cache()
    calls: list[str] = []
    release = asyncio.Event()
    entered = asyncio.Event()

    async def reconcile(key: str) -> None:
        calls.append(key)
        entered.set()
        await release.wait()

    wrapped = sharded_reconciler(
        reconcile, shard=shard, informer=cache, client=rest, gvr=CONFIGMAPS,
        shard_label=SHARD_LABEL, drain_label=DRAIN_LABEL, not_ready_retry=0.5,
    )  # fmt: skip
    yield SimpleNamespace(
        rest=rest, shard=shard, ready=ready, cache=cache, calls=calls, release=release, entered=entered,
        wrapped=wrapped,
    )  # fmt: skip
    await rest.close()


async def put(rest: RestClient, cache: Cache, labels: dict[str, str]) -> dict[str, Any]:
    obj = await rest.create(CONFIGMAPS, {"metadata": {"name": "cm", "labels": labels}}, "default")
    cache.objects["default/cm"] = obj
    return obj


async def test_an_object_labelled_for_drain_is_handed_back_and_never_reconciled(setup: Any) -> None:
    t = setup
    rest, cache, wrapped = t.rest, t.cache, t.wrapped
    await put(rest, cache, {SHARD_LABEL: "me", DRAIN_LABEL: "true", "app": "x"})
    assert await wrapped("default/cm") is None
    assert t.calls == []
    labels = (await rest.get(CONFIGMAPS, "cm", "default"))["metadata"]["labels"]
    assert labels == {"app": "x"}  # both sharding labels gone, the rest kept


async def test_the_drain_acknowledgement_waits_for_the_reconcile_in_flight(setup: Any) -> None:
    t = setup
    rest, cache, wrapped = t.rest, t.cache, t.wrapped
    obj = await put(rest, cache, {SHARD_LABEL: "me"})
    running = asyncio.create_task(wrapped("default/cm"))
    await t.entered.wait()
    cache.objects["default/cm"] = obj | {
        "metadata": obj["metadata"] | {"labels": {SHARD_LABEL: "me", DRAIN_LABEL: "true"}}
    }
    assert await wrapped("default/cm") == Result(requeue_after=0.05)  # another reconcile of it runs here
    assert SHARD_LABEL in (await rest.get(CONFIGMAPS, "cm", "default"))["metadata"]["labels"]
    t.release.set()
    await running


async def test_objects_of_other_shards_gone_ones_and_a_shard_without_its_lease_are_not_reconciled(
    setup: Any,
) -> None:
    t = setup
    rest, cache, wrapped = t.rest, t.cache, t.wrapped
    assert await wrapped("default/cm") is None  # not in the cache
    await put(rest, cache, {SHARD_LABEL: "someone-else"})
    assert await wrapped("default/cm") is None
    cache.objects["default/cm"]["metadata"]["labels"][SHARD_LABEL] = "me"
    t.ready["value"] = False
    assert await wrapped("default/cm") == Result(requeue_after=0.5)
    assert t.calls == []


async def test_losing_the_lease_cancels_the_reconcile_in_flight_without_killing_the_worker(
    setup: Any,
) -> None:
    t = setup
    rest, cache, wrapped = t.rest, t.cache, t.wrapped
    await put(rest, cache, {SHARD_LABEL: "me"})
    running = asyncio.create_task(wrapped("default/cm"))
    await t.entered.wait()
    assert t.shard.busy("default/cm")
    for tasks in list(t.shard._inflight.values()):  # what Shard does when its Lease ends
        for task in tasks:
            task.cancel()
    with pytest.raises(RuntimeError, match="lost its Lease"):
        await running
    assert not t.shard.busy("default/cm")
