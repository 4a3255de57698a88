"""The load-test operator end to end on the API servers (fake; envtest with assets).

No kubelet runs Pods on either server, so the tests play the kubelet: they write Pod phases.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pycontroller import Manager
from pycontroller.client import RestClient
from pycontroller.errors import InvalidError
from samples.loadtest_operator.operator import LOADTEST_LABEL, LOADTESTS, PODS, setup

from .helpers import events_about, eventually, install_crd_file, modify, running

pytestmark = pytest.mark.timeout(60)

CRD = Path(__file__).resolve().parents[2] / "samples/loadtest_operator/artifacts/crd.yaml"


class Lab:
    def __init__(self, api_client: Any, rest: RestClient, namespace: str) -> None:
        self.api_client = api_client
        self.rest = rest
        self.ns = namespace

    def start(self) -> Any:
        mgr = Manager(
            api_client=self.api_client, metrics_bind_address="0", handle_signals=False, namespace=self.ns
        )
        setup(mgr, name=f"loadtest-operator-{uuid.uuid4().hex[:6]}")
        return running(mgr)

    async def create(self, name: str, replicas: int) -> dict[str, Any]:
        body = {
            "apiVersion": "samples.pycontroller.dev/v1alpha1",
            "kind": "LoadTest",
            "metadata": {"name": name, "namespace": self.ns},
            "spec": {
                "replicas": replicas,
                "test": {"method": "GET", "serviceName": "my-service", "path": "/", "repeat": 10},
            },
        }
        return await self.rest.create(LOADTESTS, body)

    async def pods(self, name: str) -> list[dict[str, Any]]:
        found = await self.rest.list(PODS, self.ns, labelSelector=f"{LOADTEST_LABEL}={name}")
        return sorted(found.get("items") or [], key=lambda p: p["metadata"]["name"])

    async def state(self, name: str) -> str | None:
        return (await self.rest.get(LOADTESTS, name, self.ns)).get("status", {}).get("state")

    async def set_phase(self, pod: dict[str, Any], phase: str) -> None:
        """Play the kubelet: write the Pod's phase."""
        fresh = await self.rest.get(PODS, pod["metadata"]["name"], self.ns)
        fresh["status"] = {**(fresh.get("status") or {}), "phase": phase}
        await self.rest.replace_status(PODS, fresh)  # only we write Pod status: no conflict


@pytest.fixture
async def lab(api_client: Any, rest_client: RestClient, namespace: str) -> AsyncIterator[Lab]:
    await install_crd_file(rest_client, CRD, LOADTESTS.path())
    yield Lab(api_client, rest_client, namespace)


async def _pods_count(lab: Lab, name: str, n: int) -> list[dict[str, Any]] | bool:
    """The Pods when there are ``n`` (True when ``n`` is 0), else False."""
    pods = await lab.pods(name)
    if len(pods) != n:
        return False
    return pods or True


async def test_it_creates_owned_pods_and_the_state_follows_their_phases(lab: Lab) -> None:
    loadtest = await lab.create("lt", replicas=2)
    async with lab.start():
        pods = await eventually(lambda: _pods_count(lab, "lt", 2), what="two Pods")
        for pod in pods:
            (owner,) = pod["metadata"]["ownerReferences"]
            assert (owner["kind"], owner["uid"], owner["controller"]) == (
                "LoadTest",
                loadtest["metadata"]["uid"],
                True,
            )
            assert pod["spec"]["restartPolicy"] == "Never"
            assert "http://my-service/" in pod["spec"]["containers"][0]["command"][-1]

        async def state_is(state: str) -> bool:
            return await lab.state("lt") == state

        await eventually(lambda: state_is("pending"), what="pending")
        await lab.set_phase(pods[0], "Running")
        await eventually(lambda: state_is("executing"), what="executing")
        await lab.set_phase(pods[0], "Succeeded")
        await lab.set_phase(pods[1], "Succeeded")
        await eventually(lambda: state_is("finished"), what="finished")
        status = (await lab.rest.get(LOADTESTS, "lt", lab.ns))["status"]
        assert (status["succeeded"], status["failed"]) == (2, 0)

        async def announced() -> bool:
            reasons = {e["reason"] for e in await events_about(lab.rest, lab.ns, "lt")}
            return {"Executing", "Finished"} <= reasons

        await eventually(announced, what="Executing and Finished events")


async def test_one_failed_pod_fails_the_load_test(lab: Lab) -> None:
    await lab.create("lt", replicas=2)
    async with lab.start():
        pods = await eventually(lambda: _pods_count(lab, "lt", 2), what="two Pods")
        await lab.set_phase(pods[1], "Failed")

        async def failed() -> bool:
            return await lab.state("lt") == "failed"

        await eventually(failed, what="failed")

        async def warned() -> bool:
            got = await events_about(lab.rest, lab.ns, "lt")
            return any(e["type"] == "Warning" and e["reason"] == "Failed" for e in got)

        await eventually(warned, what="a Warning event")


async def test_changing_the_spec_deletes_the_pods_and_starts_again(lab: Lab) -> None:
    await lab.create("lt", replicas=2)
    async with lab.start():
        first = await eventually(lambda: _pods_count(lab, "lt", 2), what="two Pods")
        await lab.set_phase(first[0], "Running")
        await modify(lab.rest, LOADTESTS, "lt", lab.ns, lambda lt: lt["spec"].update(replicas=3))

        async def restarted() -> bool:
            pods = await lab.pods("lt")
            names = {p["metadata"]["name"] for p in pods}
            old = {p["metadata"]["name"] for p in first}
            return len(pods) == 3 and not names & old and await lab.state("lt") == "pending"

        await eventually(restarted, what="three new Pods and state pending")


async def test_deleting_the_load_test_deletes_its_pods(lab: Lab) -> None:
    await lab.create("lt", replicas=3)
    async with lab.start():
        await eventually(lambda: _pods_count(lab, "lt", 3), what="three Pods")
        await lab.rest.delete(LOADTESTS, "lt", lab.ns)
        await eventually(lambda: _pods_count(lab, "lt", 0), what="no Pods")


async def test_zero_replicas_is_reported_and_the_operator_keeps_running(lab: Lab) -> None:
    try:
        await lab.create("zero", replicas=0)
        created = True
    except InvalidError as exc:
        # A real API server enforces the CRD's schema (minimum: 1).
        assert "replicas" in str(exc)
        created = False
    async with lab.start():
        if created:

            async def reported() -> bool:
                loadtest = await lab.rest.get(LOADTESTS, "zero", lab.ns)
                conditions = loadtest.get("status", {}).get("conditions", [])
                got = await events_about(lab.rest, lab.ns, "zero")
                return (
                    loadtest.get("status", {}).get("state") == "failed"
                    and any(c["reason"] == "InvalidSpec" and c["status"] == "False" for c in conditions)
                    and any(e["type"] == "Warning" and e["reason"] == "InvalidSpec" for e in got)
                )

            await eventually(reported, what="state failed with an InvalidSpec condition and event")
            assert await lab.pods("zero") == []
        await lab.create("fine", replicas=1)
        await eventually(lambda: _pods_count(lab, "fine", 1), what="the next LoadTest still gets its Pod")
