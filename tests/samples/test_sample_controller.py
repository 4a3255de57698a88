"""Kubernetes' sample-controller tests, end to end on the API servers (fake; envtest with assets).

The four tests of sample-controller's controller_test.go (creates the Deployment; does nothing when
up to date; updates the Deployment's replicas; a Deployment it does not control gives a Warning
event and an error), plus status following the Deployment and bad input.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pycontroller import Manager
from pycontroller.client import RestClient
from pycontroller.errors import InvalidError, NotFoundError
from samples.sample_controller.app import add_sample_controller, install_crd
from samples.sample_controller.controller import ResourceExistsError
from samples.sample_controller.foo import DEPLOYMENTS, FOOS, new_deployment
from samples.sample_controller.simulated import new_simulated_deployment_controller

from .helpers import events_about, eventually, modify, reasons, running

pytestmark = pytest.mark.timeout(60)


def new_foo(
    namespace: str, name: str, *, replicas: int | None = 1, deployment_name: str | None = "same"
) -> dict[str, Any]:
    """A Foo; ``deployment_name=None`` leaves spec.deploymentName out, "same" uses the Foo's name."""
    spec: dict[str, Any] = {}
    if deployment_name is not None:
        spec["deploymentName"] = name if deployment_name == "same" else deployment_name
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "samplecontroller.k8s.io/v1alpha1",
        "kind": "Foo",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


class Harness:
    def __init__(self, api_client: Any, rest: RestClient, namespace: str) -> None:
        self.api_client = api_client
        self.rest = rest
        self.namespace = namespace
        self.mgr: Any = None
        self.controller: Any = None

    def build(self, *, simulate_deployments: bool = False) -> None:
        self.mgr = Manager(
            api_client=self.api_client,
            metrics_bind_address="0",
            namespace=self.namespace,
            handle_signals=False,
        )
        self.controller = add_sample_controller(self.mgr, self.api_client)
        if simulate_deployments:
            deployments = self.mgr.informer_for("apps", "v1", "deployments")
            self.mgr.add(
                new_simulated_deployment_controller(
                    self.api_client, deployments, name=f"simulated-{uuid.uuid4().hex[:6]}"
                )
            )

    async def foo(self, name: str) -> dict[str, Any]:
        return await self.rest.get(FOOS, name, self.namespace)

    async def deployment(self, name: str) -> dict[str, Any]:
        return await self.rest.get(DEPLOYMENTS, name, self.namespace)


@pytest.fixture
async def harness(api_client: Any, rest_client: RestClient, namespace: str) -> AsyncIterator[Harness]:
    await install_crd(api_client)
    yield Harness(api_client, rest_client, namespace)


async def test_creates_the_deployment_a_new_foo_asks_for(harness: Harness) -> None:
    foo = await harness.rest.create(FOOS, new_foo(harness.namespace, "test"))
    harness.build()
    async with running(harness.mgr):
        deployment = await eventually(lambda: harness.deployment("test"), what="the Deployment")
        assert deployment["spec"]["replicas"] == 1
        assert deployment["spec"]["selector"]["matchLabels"] == {"app": "nginx", "controller": "test"}
        assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:latest"
        (owner,) = deployment["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
            "Foo",
            "test",
            foo["metadata"]["uid"],
            True,
        )

        async def status_written() -> bool:
            return (await harness.foo("test")).get("status", {}).get("availableReplicas") == 0

        await eventually(status_written, what="Foo status.availableReplicas = 0")

        async def synced_event() -> bool:
            got = reasons(await events_about(harness.rest, harness.namespace, "test"))
            return ("Normal", "Synced", "Foo synced successfully") in got

        await eventually(synced_event, what="the Synced event")


async def test_does_nothing_when_the_deployment_is_up_to_date(harness: Harness) -> None:
    foo = await harness.rest.create(FOOS, new_foo(harness.namespace, "test"))
    deployment = await harness.rest.create(DEPLOYMENTS, new_deployment(foo))
    foo["status"] = {"availableReplicas": 0}
    foo = await harness.rest.replace_status(FOOS, foo)
    harness.build()
    async with running(harness.mgr):

        async def synced_event() -> bool:
            got = reasons(await events_about(harness.rest, harness.namespace, "test"))
            return ("Normal", "Synced", "Foo synced successfully") in got

        await eventually(synced_event, what="the Synced event")
    after_deployment = await harness.deployment("test")
    after_foo = await harness.foo("test")
    assert after_deployment["metadata"]["resourceVersion"] == deployment["metadata"]["resourceVersion"]
    assert after_foo["metadata"]["resourceVersion"] == foo["metadata"]["resourceVersion"]


async def test_updates_the_deployments_replicas_to_the_foos(harness: Harness) -> None:
    foo = await harness.rest.create(FOOS, new_foo(harness.namespace, "test", replicas=1))
    await harness.rest.create(DEPLOYMENTS, new_deployment(foo))
    foo["spec"]["replicas"] = 2
    await harness.rest.replace(FOOS, foo)
    harness.build()
    async with running(harness.mgr):

        async def scaled() -> bool:
            return (await harness.deployment("test"))["spec"]["replicas"] == 2

        await eventually(scaled, what="Deployment replicas 2")


async def test_a_deployment_it_does_not_control_gives_a_warning_event_and_an_error(harness: Harness) -> None:
    foo = await harness.rest.create(FOOS, new_foo(harness.namespace, "test"))
    foreign = new_deployment(foo)
    del foreign["metadata"]["ownerReferences"]
    foreign = await harness.rest.create(DEPLOYMENTS, foreign)
    harness.build()
    async with running(harness.mgr):

        async def warned() -> bool:
            got = reasons(await events_about(harness.rest, harness.namespace, "test"))
            return (
                "Warning",
                "ErrResourceExists",
                'Resource "test" already exists and is not managed by Foo',
            ) in got

        await eventually(warned, what="the ErrResourceExists Warning event")
        with pytest.raises(
            ResourceExistsError, match='Resource "test" already exists and is not managed by Foo'
        ):
            await harness.controller.sync_handler(f"{harness.namespace}/test")
    after = await harness.deployment("test")
    assert after["metadata"]["resourceVersion"] == foreign["metadata"]["resourceVersion"]


async def test_foo_status_follows_the_deployments_available_replicas(harness: Harness) -> None:
    await harness.rest.create(FOOS, new_foo(harness.namespace, "test", replicas=1))
    harness.build(simulate_deployments=True)
    async with running(harness.mgr):

        async def available(n: int) -> bool:
            return (await harness.foo("test")).get("status", {}).get("availableReplicas") == n

        await eventually(lambda: available(1), what="availableReplicas 1")
        await modify(
            harness.rest, FOOS, "test", harness.namespace, lambda foo: foo["spec"].update(replicas=3)
        )
        await eventually(lambda: available(3), what="availableReplicas 3")


async def test_a_foo_without_deployment_name_gets_a_warning_and_the_controller_keeps_going(
    harness: Harness,
) -> None:
    await harness.rest.create(FOOS, new_foo(harness.namespace, "broken", deployment_name=None))
    harness.build()
    async with running(harness.mgr):

        async def warned() -> bool:
            got = await events_about(harness.rest, harness.namespace, "broken")
            return any(e["type"] == "Warning" and e["reason"] == "InvalidSpec" for e in got)

        await eventually(warned, what="the InvalidSpec Warning event")

        async def condition() -> bool:
            status = (await harness.foo("broken")).get("status") or {}
            return any(
                c["type"] == "SpecValid" and c["status"] == "False" and "deployment name" in c["message"]
                for c in status.get("conditions") or ()
            )

        await eventually(condition, what="the SpecValid=False condition")
        # Still working: a good Foo created afterwards gets its Deployment.
        await harness.rest.create(FOOS, new_foo(harness.namespace, "good"))
        await eventually(lambda: harness.deployment("good"), what="the good Foo's Deployment")


async def test_replicas_out_of_range_are_refused_by_the_schema_or_reported_by_the_controller(
    harness: Harness,
) -> None:
    try:
        await harness.rest.create(FOOS, new_foo(harness.namespace, "big", replicas=20))
    except InvalidError as exc:
        # A real API server enforces the CRD's OpenAPI schema (maximum: 10).
        assert "replicas" in str(exc)
        return
    harness.build()
    async with running(harness.mgr):

        async def warned() -> bool:
            got = await events_about(harness.rest, harness.namespace, "big")
            return any(e["reason"] == "InvalidSpec" and "between 1 and 10" in e["message"] for e in got)

        await eventually(warned, what="the InvalidSpec Warning event")
        with pytest.raises(NotFoundError):
            await harness.deployment("big")
