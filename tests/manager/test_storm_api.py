"""Event storms through the API server: with many workers a key is never reconciled twice at once,
and after the storm every key's last reconcile saw the server's final state (level-triggered)."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.controller import Controller
from pycontroller.errors import AlreadyExistsError, NotFoundError
from pycontroller.manager import Manager
from tests.controller.conftest import until

pytest.importorskip("pycontroller.cache.factory", reason="the shared informer factory has not landed")

CONFIGMAPS = GroupVersionResource("", "v1", "configmaps")
NAMESPACES = GroupVersionResource("", "v1", "namespaces")
_seq = itertools.count()

ops = st.lists(
    st.tuples(st.sampled_from(["create", "update", "delete"]), st.integers(0, 4), st.integers(0, 3)),
    min_size=1,
    max_size=30,
)


async def _storm(script: list[tuple[str, int, int]], workers: int) -> None:
    from pycontroller.testing import FakeAPIServer

    async with FakeAPIServer() as server:
        api_client = server.new_client()
        rest = RestClient(api_client)
        await rest.create(NAMESPACES, {"metadata": {"name": "storm"}})
        mgr = Manager(api_client, namespace="storm", metrics_bind_address="0", handle_signals=False)
        informer = mgr.informer_for("", "v1", "configmaps")
        in_flight: set[str] = set()
        overlaps: list[str] = []
        last_seen: dict[str, str | None] = {}

        async def reconcile(key: str) -> None:
            if key in in_flight:
                overlaps.append(key)
            in_flight.add(key)
            try:
                obj = informer.indexer.get_by_key(key)
                for _ in range(3):
                    await asyncio.sleep(0)
                last_seen[key] = None if obj is None else obj["metadata"]["resourceVersion"]
            finally:
                in_flight.discard(key)

        ctl = Controller(f"api-storm-{next(_seq)}", reconcile, max_concurrent_reconciles=workers)
        ctl.watch(informer)
        mgr.add(ctl)
        run = asyncio.create_task(mgr.run())
        existed: set[str] = set()
        try:
            await until(lambda: ctl._workers != [], timeout=10)  # watching before the storm starts
            for op, index, pause in script:
                name = f"cm-{index}"
                try:
                    if op == "create":
                        await rest.create(
                            CONFIGMAPS, {"metadata": {"name": name}, "data": {"n": "0"}}, "storm"
                        )
                        existed.add(f"storm/{name}")
                    elif op == "update":
                        await rest.patch(CONFIGMAPS, name, {"data": {"n": str(time.monotonic())}}, "storm")
                    else:
                        await rest.delete(CONFIGMAPS, name, "storm")
                except (AlreadyExistsError, NotFoundError):
                    pass
                for _ in range(pause):
                    await asyncio.sleep(0)
            final = {
                f"storm/{o['metadata']['name']}": o["metadata"]["resourceVersion"]
                for o in (await rest.list(CONFIGMAPS, "storm"))["items"]
            }
            touched = existed  # a key that never existed has no events to reconcile
            expected = {key: final.get(key) for key in touched}
            deadline = time.monotonic() + 10
            while {k: last_seen.get(k, "never") for k in touched} != expected or in_flight:
                assert time.monotonic() < deadline, f"not converged: saw {last_seen}, expected {expected}"
                await asyncio.sleep(0.001)
        finally:
            mgr.request_shutdown()
            await asyncio.wait_for(run, 10)
            await api_client.close()
        assert overlaps == [], f"keys reconciled concurrently: {overlaps}"


@settings(max_examples=10, deadline=None)
@given(script=ops, workers=st.sampled_from([4, 16]))
def test_api_event_storms_never_overlap_a_key_and_converge_on_the_final_state(
    script: list[tuple[str, int, int]], workers: int
) -> None:
    asyncio.run(_storm(script, workers))
