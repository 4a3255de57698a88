"""enqueue_owner learns the owner kind's scope from the RESTMapper, once, on both servers."""

from __future__ import annotations

import asyncio
from typing import Any

from pycontroller import Controller, Manager, NoKindMatchError, enqueue_owner
from pycontroller.client import GroupVersionResource, RestClient
from tests.conformance._support import crd_manifest, temporary_crd, unique
from tests.controller.conftest import until
from tests.controller.helpers import FakeInformer

CONFIGMAPS = GroupVersionResource("", "v1", "configmaps")


def _owned_configmap(name: str, owner: dict[str, Any]) -> dict[str, Any]:
    ref = {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
    }
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "ownerReferences": [ref]}}


async def _run_until_keys(
    api_client: Any, namespace: str, handler: Any, want: set[str]
) -> tuple[set[str], Any]:
    mgr = Manager(api_client, namespace=namespace, metrics_bind_address="0", handle_signals=False)
    configmaps = mgr.informer_for("v1", "ConfigMap")
    seen: set[str] = set()
    ctl = Controller(unique("owners"), lambda key: seen.add(key))
    ctl.watch(configmaps, handler)
    mgr.add(ctl)
    run = asyncio.create_task(mgr.run())
    try:
        await until(lambda: want <= seen, timeout=15, what=f"keys {want}")
    finally:
        mgr.request_shutdown()
        await asyncio.wait_for(run, 15)
    return seen, mgr


async def test_a_cluster_scoped_owner_is_enqueued_by_name_alone(
    api_client: Any, rest_client: RestClient, namespace: str
) -> None:
    group = f"{unique('own')}.example.com"
    async with temporary_crd(rest_client, crd_manifest(group, "Gadget", scope="Cluster")) as gadgets:
        gadget = await rest_client.create(
            gadgets, {"apiVersion": f"{group}/v1", "kind": "Gadget", "metadata": {"name": unique("gadget")}}
        )
        await rest_client.create(CONFIGMAPS, _owned_configmap("dep", gadget), namespace)
        handler = enqueue_owner(f"{group}/v1", "Gadget")
        seen, _ = await _run_until_keys(api_client, namespace, handler, {gadget["metadata"]["name"]})
        assert seen == {gadget["metadata"]["name"]}  # never "<namespace>/<name>"
        await rest_client.delete(gadgets, gadget["metadata"]["name"])
    assert handler.namespaced is False  # type: ignore[attr-defined]


async def test_a_namespaced_owner_is_enqueued_in_the_dependents_namespace(
    api_client: Any, rest_client: RestClient, namespace: str
) -> None:
    owner = await rest_client.create(
        CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}}, namespace
    )
    await rest_client.create(CONFIGMAPS, _owned_configmap("dep", owner), namespace)
    handler = enqueue_owner("v1", "ConfigMap")
    seen, _ = await _run_until_keys(api_client, namespace, handler, {f"{namespace}/owner"})
    assert seen == {f"{namespace}/owner"}


class SlowMapper:
    """Answers only when the test says so; counts questions."""

    def __init__(self, namespaced: bool) -> None:
        self.namespaced = namespaced
        self.answer = asyncio.Event()
        self.asked = 0

    def cached(self, group_version: str, kind: str) -> Any:
        return self if self.answer.is_set() else None

    async def resource_for(self, group_version: str, kind: str) -> Any:
        self.asked += 1
        await self.answer.wait()
        return self


async def test_events_before_the_mapper_answers_wait_and_arrive_in_order_then_no_lookups() -> None:
    mapper = SlowMapper(namespaced=False)
    keys: list[str] = []
    ctl = Controller(unique("held"), lambda k: None, skip_name_validation=True)
    ctl.enqueue = keys.append  # type: ignore[method-assign]
    informer = FakeInformer()
    ctl.watch(informer, enqueue_owner("example.com/v1", "Gadget", mapper=mapper))  # type: ignore[arg-type]

    def dependent(name: str, owner: str) -> dict[str, Any]:
        ref = {"apiVersion": "example.com/v1", "kind": "Gadget", "name": owner, "controller": True}
        return {"metadata": {"name": name, "namespace": "ns", "ownerReferences": [ref]}}

    informer.add(dependent("a", "g1"))
    informer.add(dependent("b", "g2"))
    await asyncio.sleep(0)
    assert keys == [] and mapper.asked == 1  # one question for all held events
    mapper.answer.set()
    await until(lambda: keys == ["g1", "g2"])
    informer.update(dependent("a", "g1"), dependent("a", "g3"))
    assert keys == ["g1", "g2", "g1", "g3"] and mapper.asked == 1


class LateCrdMapper:
    """Says 'not served' until the test installs the owner's CRD (cluster-scoped)."""

    def __init__(self) -> None:
        self.installed = False
        self.namespaced = False

    def cached(self, group_version: str, kind: str) -> Any:
        return self if self.installed else None

    async def resource_for(self, group_version: str, kind: str) -> Any:
        if not self.installed:
            raise NoKindMatchError(group_version, kind)
        return self


async def test_an_owner_kind_not_served_yet_is_asked_again_once_it_is() -> None:
    mapper = LateCrdMapper()
    keys: list[str] = []
    ctl = Controller(unique("late"), lambda k: None, skip_name_validation=True)
    ctl.enqueue = keys.append  # type: ignore[method-assign]
    informer = FakeInformer()
    handler = enqueue_owner("example.com/v1", "Gadget", mapper=mapper)  # type: ignore[arg-type]
    ctl.watch(informer, handler)
    ref = {"apiVersion": "example.com/v1", "kind": "Gadget", "name": "g", "controller": True}
    dependent = {"metadata": {"name": "d", "namespace": "ns", "ownerReferences": [ref]}}
    informer.add(dependent)
    await until(lambda: keys == ["ns/g"])  # the best guess while the kind is not served
    assert handler.namespaced is None  # type: ignore[attr-defined]
    mapper.installed = True
    informer.add(dependent)
    assert keys == ["ns/g", "g"] and handler.namespaced is False  # type: ignore[attr-defined]
