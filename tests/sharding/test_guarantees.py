"""The guarantee, under hypothesis-chosen histories: replicas join, leave cleanly and die while
objects are created, updated and deleted; a monitor records who is inside each object's reconcile.

* never two replicas inside one object's reconcile at the same moment;
* once the changes stop, every object is labelled (without drain) for exactly one live shard, which
  reconciled it at its latest resourceVersion.

Each example runs against its own in-memory API server (fake) or the session's kube-apiserver
(envtest, in a fresh namespace). Deaths are real as far as the cluster can tell: the replica's
requests fail, so its Leases are left to expire (3 s leases keep an example to seconds).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pycontroller.client import RestClient
from pycontroller.errors import ApiError
from tests.sharding.cluster import CONFIGMAPS, Monitor, Replica, converged, eventually

Step = tuple[str, int]
steps = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["join", "leave", "kill"]), st.integers(0, 3)),
        st.tuples(st.sampled_from(["create", "update", "delete"]), st.integers(0, 11)),
    ),
    min_size=3,
    max_size=9,
)


async def run_history(server: Any, history: list[Step]) -> None:
    rest = RestClient(server.new_client(), owns_api_client=True)
    namespace = f"shard-{uuid.uuid4().hex[:10]}"
    await rest.request(
        "POST",
        "/api/v1/namespaces",
        body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
    )
    monitor = Monitor()

    async def work() -> None:
        await asyncio.sleep(0.01)  # a reconcile that takes a moment: overlaps would show

    replicas: list[Replica] = []
    alive: list[Replica] = []
    try:
        for _ in range(2):
            replica = Replica(server, namespace, monitor, work=work)
            replica.start()
            replicas.append(replica)
            alive.append(replica)
        for i in range(6):
            await rest.create(CONFIGMAPS, {"metadata": {"name": f"cm-{i}"}, "data": {"v": "0"}}, namespace)
        for op, n in history:
            if op == "join" and len(alive) < 4:
                replica = Replica(server, namespace, monitor, work=work)
                replica.start()
                replicas.append(replica)
                alive.append(replica)
            elif op in ("leave", "kill") and alive:
                replica = alive.pop(n % len(alive))
                await (replica.stop() if op == "leave" else replica.kill())
            elif op == "create":
                try:
                    await rest.create(
                        CONFIGMAPS, {"metadata": {"name": f"cm-{n}"}, "data": {"v": "0"}}, namespace
                    )
                except ApiError:
                    pass  # exists
            elif op == "update":
                try:
                    await rest.patch(CONFIGMAPS, f"cm-{n % 6}", {"data": {"v": uuid.uuid4().hex}}, namespace)
                except ApiError:
                    pass  # deleted earlier in the history
            elif op == "delete":
                try:
                    await rest.delete(CONFIGMAPS, f"cm-{n}", namespace)
                except ApiError:
                    pass
        if not alive:
            replica = Replica(server, namespace, monitor, work=work)
            replica.start()
            replicas.append(replica)
            alive.append(replica)

        async def done() -> bool:
            for i, r in enumerate(alive):
                if r.task is not None and r.task.done():
                    # It lost its Lease (a stall on a loaded machine) and exited: restart it, as
                    # its Deployment would, under the same name.
                    await r.client.close()
                    alive[i] = Replica(server, namespace, monitor, name=r.name, work=work)
                    alive[i].start()
                    replicas.append(alive[i])
            return all(r.shard.is_ready() for r in alive) and await converged(rest, namespace, alive, monitor)

        await eventually(done, timeout=90, what=f"convergence after {history}")
        assert monitor.violations == []
    finally:
        for replica in alive:
            await replica.stop()
        try:
            await rest.request("DELETE", f"/api/v1/namespaces/{namespace}")
        except ApiError:
            pass
        await rest.close()


@pytest.mark.parametrize("server_kind", ["fake", pytest.param("envtest", marks=pytest.mark.envtest)])
# SHARDING_EXAMPLES=50 for a longer search than the suite's.
@pytest.mark.timeout(900)
@settings(
    max_examples=int(os.environ.get("SHARDING_EXAMPLES", "4")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(history=steps)
def test_no_object_is_ever_reconciled_by_two_replicas_and_all_converge(
    server_kind: str, request: pytest.FixtureRequest, history: list[Step]
) -> None:
    if server_kind == "envtest":
        server = request.getfixturevalue("envtest_server")
        asyncio.run(run_history(server, history))
        return
    from pycontroller.testing import FakeAPIServer

    async def on_fake() -> None:
        fake = FakeAPIServer()
        await fake.start()
        try:
            await run_history(fake, history)
        finally:
            await fake.stop()

    asyncio.run(on_fake())
