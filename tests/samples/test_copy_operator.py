"""The copy operator end to end on the API servers (fake; envtest with assets)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pycontroller import Manager
from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.errors import ApiError, InvalidError, NotFoundError
from samples.copy_operator.operator import setup
from samples.copy_operator.rules import COPYRULES, RULE_NAME_LABEL, SOURCE_ANNOTATION

from .helpers import NAMESPACES, create_namespace, events_about, eventually, install_crd_file, modify, running

pytestmark = pytest.mark.timeout(60)

CRD = Path(__file__).resolve().parents[2] / "samples/copy_operator/artifacts/crd.yaml"
CONFIGMAPS = GroupVersionResource("", "v1", "configmaps")
SECRETS = GroupVersionResource("", "v1", "secrets")


class World:
    def __init__(self, api_client: Any, rest: RestClient, namespace: str) -> None:
        self.api_client = api_client
        self.rest = rest
        self.source = namespace
        self.namespaces: list[str] = []
        self.mgr: Any = None

    async def namespace(self) -> str:
        name = await create_namespace(self.rest, "copy")
        self.namespaces.append(name)
        return name

    def start(self) -> Any:
        self.mgr = Manager(api_client=self.api_client, metrics_bind_address="0", handle_signals=False)
        setup(self.mgr, name=f"copy-operator-{uuid.uuid4().hex[:6]}")
        return running(self.mgr)

    async def rule(self, name: str, rule_type: str, labels: dict[str, str], **targets: Any) -> dict[str, Any]:
        body = {
            "apiVersion": "samples.pycontroller.dev/v1alpha1",
            "kind": "CopyRule",
            "metadata": {"name": name, "namespace": self.source},
            "spec": {"ruleType": rule_type, "selector": {"matchLabels": labels}, **targets},
        }
        return await self.rest.create(COPYRULES, body)

    async def configmap(
        self, name: str, data: dict[str, str], labels: dict[str, str], ns: str | None = None
    ) -> Any:
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns or self.source, "labels": labels},
            "data": data,
        }
        return await self.rest.create(CONFIGMAPS, body)

    async def copies_of(self, gvr: GroupVersionResource, name: str) -> dict[str, dict[str, Any]]:
        found = {}
        for ns in [*self.namespaces, "default"]:
            with contextlib.suppress(NotFoundError):
                obj = await self.rest.get(gvr, name, ns)
                if (obj["metadata"].get("annotations") or {}).get(SOURCE_ANNOTATION):
                    found[ns] = obj
        return found


@pytest.fixture
async def world(api_client: Any, rest_client: RestClient, namespace: str) -> AsyncIterator[World]:
    await install_crd_file(rest_client, CRD, COPYRULES.path())
    w = World(api_client, rest_client, namespace)
    yield w
    for ns in w.namespaces:
        with contextlib.suppress(ApiError):
            await rest_client.delete(NAMESPACES, ns)


async def test_matching_configmaps_are_copied_into_every_target_and_kept_up_to_date(world: World) -> None:
    t1, t2 = await world.namespace(), await world.namespace()
    await world.configmap("shared", {"k": "v1"}, {"share": "true"})
    await world.configmap("private", {"k": "secret"}, {})
    await world.rule("share", "configmap", {"share": "true"}, targetNamespaces=[t1, t2, "does-not-exist"])
    async with world.start():

        async def copied(value: str) -> bool:
            copies = await world.copies_of(CONFIGMAPS, "shared")
            return set(copies) == {t1, t2} and all(c["data"] == {"k": value} for c in copies.values())

        await eventually(lambda: copied("v1"), what="copies in both targets")
        assert await world.copies_of(CONFIGMAPS, "private") == {}
        copy = await world.rest.get(CONFIGMAPS, "shared", t1)
        assert copy["metadata"]["labels"]["share"] == "true"
        assert copy["metadata"]["labels"][RULE_NAME_LABEL] == "share"
        assert copy["metadata"]["annotations"][SOURCE_ANNOTATION] == f"{world.source}/shared"

        async def status_counts(n: int) -> bool:
            return (await world.rest.get(COPYRULES, "share", world.source)).get("status", {}).get(
                "copies"
            ) == n

        await eventually(lambda: status_counts(2), what="status.copies == 2")

        await modify(world.rest, CONFIGMAPS, "shared", world.source, lambda cm: cm.update(data={"k": "v2"}))
        await eventually(lambda: copied("v2"), what="copies updated to the source's new data")

        # A copy someone changes by hand is put back.
        await modify(world.rest, CONFIGMAPS, "shared", t2, lambda cm: cm.update(data={"k": "tampered"}))
        await eventually(lambda: copied("v2"), what="the tampered copy repaired")


async def test_copies_go_when_the_source_goes_and_when_the_rule_goes(world: World) -> None:
    t1 = await world.namespace()
    await world.configmap("a", {"x": "1"}, {"share": "yes"})
    await world.configmap("b", {"x": "2"}, {"share": "yes"})
    await world.rule("share", "configmap", {"share": "yes"}, targetNamespaces=[t1])
    async with world.start():

        async def copies(*names: str) -> bool:
            got = {n for n in ("a", "b") if await world.copies_of(CONFIGMAPS, n)}
            return got == set(names)

        await eventually(lambda: copies("a", "b"), what="both copied")
        await world.rest.delete(CONFIGMAPS, "a", world.source)
        await eventually(lambda: copies("b"), what="the copy of the deleted source deleted")
        await world.rest.delete(COPYRULES, "share", world.source)
        await eventually(lambda: copies(), what="every copy deleted with the rule")
        # The sources themselves are never touched.
        assert (await world.rest.get(CONFIGMAPS, "b", world.source))["data"] == {"x": "2"}


async def test_secrets_reach_namespaces_created_later_and_never_overwrite_the_source(world: World) -> None:
    source = await world.rest.create(
        SECRETS,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "registry", "namespace": world.source, "labels": {"registry": "true"}},
            "type": "Opaque",
            "data": {"token": "c2VjcmV0"},
        },
    )
    await world.rule("everywhere", "secret", {"registry": "true"}, allNamespaces=True)
    async with world.start():
        later = await world.namespace()

        async def copied_into_later() -> bool:
            copy = await world.rest.get(SECRETS, "registry", later)
            return copy["data"] == {"token": "c2VjcmV0"}

        await eventually(copied_into_later, what="a copy in the namespace created later")
        after = await world.rest.get(SECRETS, "registry", world.source)
        assert after["metadata"]["resourceVersion"] == source["metadata"]["resourceVersion"]
        # Clean up the copies everywhere before the operator stops (envtest is shared).
        await world.rest.delete(COPYRULES, "everywhere", world.source)

        async def gone() -> bool:
            with contextlib.suppress(NotFoundError):
                await world.rest.get(SECRETS, "registry", later)
                return False
            return True

        await eventually(gone, what="copies deleted with the rule")


async def test_a_name_collision_is_left_alone_and_reported_with_a_warning_event(world: World) -> None:
    t1, t2 = await world.namespace(), await world.namespace()
    theirs = await world.configmap("shared", {"owner": "someone else"}, {}, ns=t1)
    await world.configmap("shared", {"k": "v"}, {"share": "true"})
    await world.rule("share", "configmap", {"share": "true"}, targetNamespaces=[t1, t2])
    async with world.start():
        await eventually(
            lambda: world.rest.get(CONFIGMAPS, "shared", t2), what="the copy in the free namespace"
        )

        async def warned() -> bool:
            got = await events_about(world.rest, world.source, "share")
            return any(
                e["type"] == "Warning" and e["reason"] == "NameCollision" and t1 in e["message"] for e in got
            )

        await eventually(warned, what="the NameCollision Warning event")

        async def status() -> bool:
            rule = await world.rest.get(COPYRULES, "share", world.source)
            ready = [c for c in rule.get("status", {}).get("conditions", []) if c["type"] == "Ready"]
            return (
                rule.get("status", {}).get("copies") == 1 and ready and ready[0]["reason"] == "NameCollision"
            )

        await eventually(status, what="status.copies == 1 with a NameCollision condition")
    after = await world.rest.get(CONFIGMAPS, "shared", t1)
    assert after["metadata"]["resourceVersion"] == theirs["metadata"]["resourceVersion"]


async def test_an_unknown_rule_type_is_reported_and_the_operator_keeps_running(world: World) -> None:
    t1 = await world.namespace()
    try:
        await world.rule("bad", "deployment", {"a": "b"}, targetNamespaces=[t1])
    except InvalidError as exc:
        # A real API server enforces the CRD's enum; the controller never sees the rule.
        assert "ruleType" in str(exc)
        bad_created = False
    else:
        bad_created = True
    await world.configmap("ok", {"k": "v"}, {"ok": "1"})
    await world.rule("good", "configmap", {"ok": "1"}, targetNamespaces=[t1])
    async with world.start():
        if bad_created:

            async def reported() -> bool:
                got = await events_about(world.rest, world.source, "bad")
                rule = await world.rest.get(COPYRULES, "bad", world.source)
                conditions = rule.get("status", {}).get("conditions", [])
                return any(e["reason"] == "InvalidSpec" and "ruleType" in e["message"] for e in got) and any(
                    c["type"] == "Ready" and c["status"] == "False" and c["reason"] == "InvalidSpec"
                    for c in conditions
                )

            await eventually(reported, what="the InvalidSpec event and condition")
        await eventually(lambda: world.rest.get(CONFIGMAPS, "ok", t1), what="the good rule still copies")
