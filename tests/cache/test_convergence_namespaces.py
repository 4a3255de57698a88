"""Convergence under faults with several namespaces: one informer, one reflector per namespace.

The property of tests/cache/test_convergence_faults.py (same faults, same story checks), for an
informer made by the factory with ``namespaces=[a, b]``: writes land in a, b and a third namespace
the informer does not watch. Once the faults stop, the cache equals the server's objects of a and b
exactly, the handler's story per key is consistent, and nothing of the third namespace was seen.
Relists after a 410 are scoped per namespace (:mod:`pycontroller.cache.multi_namespace`), so a
relist of one namespace must not delete or re-add the other's objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pycontroller.cache.factory import SharedInformerFactory
from pycontroller.testing import FakeClock
from tests.cache.test_convergence_faults import (
    CONFIGMAPS,
    NAMES,
    NativeFaults,
    ProxyFaults,
    StoryHandler,
    apply,
)

SPACES = ["a", "b", "other"]

steps = st.lists(
    st.one_of(
        st.tuples(
            st.sampled_from(["create", "update", "delete"]), st.sampled_from(NAMES), st.sampled_from(SPACES)
        ),
        st.tuples(st.sampled_from(["drop", "gone", "stall"]), st.just(""), st.just("")),
        st.tuples(st.sampled_from(["500", "429"]), st.sampled_from(["1", "3"]), st.just("")),
    ),
    min_size=3,
    max_size=12,
)


def watches(faults: Any) -> int:
    if isinstance(faults, NativeFaults):
        return int(faults.server.watch_count)
    return len(faults.proxy.watches)


async def until_watching(faults: Any, clock: FakeClock, count: int, timeout: float = 60.0) -> None:
    """Let every namespace's reflector (maybe backing off) open its watch."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while watches(faults) < count:
        if loop.time() > deadline:
            pytest.fail(f"the reflectors did not open {count} watches")
        await clock.step(2.0, settle=5)
        await asyncio.sleep(0.002)  # a poll interval for the HTTP round trip, not a settle


async def scenario(faults: Any, ops: list[tuple[str, str, str]]) -> tuple[dict[str, int], int]:
    suffix = uuid.uuid4().hex[:8]
    spaces = {s: f"conv-{s}-{suffix}" for s in SPACES}
    watched = [spaces["a"], spaces["b"]]
    clock = FakeClock()
    async with faults.clients() as (direct, proxied):
        for ns in spaces.values():
            await direct.request("POST", "/api/v1/namespaces", body={"metadata": {"name": ns}})
        factory = SharedInformerFactory(
            proxied, clock=clock, reflector_options={"watch_inactivity_timeout": 30.0}
        )
        informer = factory.informer_for(CONFIGMAPS, namespaces=watched)
        handler = StoryHandler()
        informer.add_event_handler(handler)
        factory.start()
        try:
            for ns in spaces.values():
                await direct.create(CONFIGMAPS, {"metadata": {"name": "seed"}, "data": {}}, ns)
            await until_watching(faults, clock, 2)
            for i, (op, arg, space) in enumerate(ops):
                if op in ("create", "update", "delete"):
                    await apply(direct, spaces[space], op, arg, i)
                    continue
                if op in ("drop", "gone", "stall"):
                    await until_watching(faults, clock, 2)
                faults.fault(op, int(arg) if arg else 1)
                await clock.step(0.5, settle=5)
            faults.heal()
            expected: dict[str, str] = {}

            async def converged() -> bool:
                nonlocal expected
                expected = {}
                for ns in watched:
                    listed = await direct.list(CONFIGMAPS, ns)
                    for o in listed["items"]:
                        expected[f"{ns}/{o['metadata']['name']}"] = o["metadata"]["resourceVersion"]
                cached = {
                    k: o["metadata"]["resourceVersion"]
                    for k, o in zip(informer.indexer.list_keys(), informer.indexer.list(), strict=True)
                }
                seen = {k: o["metadata"]["resourceVersion"] for k, o in handler.state.items()}
                return cached == expected and seen == expected

            deadline = asyncio.get_running_loop().time() + 60.0
            while not await converged():
                if asyncio.get_running_loop().time() > deadline:
                    pytest.fail(
                        f"no convergence: server {expected}, cache {sorted(informer.indexer.list_keys())}"
                    )
                await clock.step(2.0, settle=10)
            assert handler.violations == []
            stats = informer.reflector_stats
            assert stats is not None
            return stats.as_dict(), handler.tombstones
        finally:
            await factory.shutdown()
            for ns in spaces.values():
                with contextlib.suppress(Exception):
                    await direct.request("DELETE", f"/api/v1/namespaces/{ns}")


def on_fake(ops: list[tuple[str, str, str]], *, proxy: bool = False) -> tuple[dict[str, int], int]:
    from pycontroller.testing.apiserver import FakeAPIServer

    async def run() -> tuple[dict[str, int], int]:
        async with FakeAPIServer() as server:
            faults = ProxyFaults(server.url, None) if proxy else NativeFaults(server)
            return await scenario(faults, ops)

    return asyncio.run(run())


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=steps)
def test_a_multi_namespace_cache_converges_after_any_faults_on_the_fake(
    ops: list[tuple[str, str, str]],
) -> None:
    on_fake(ops)


def test_a_delete_missed_in_one_namespace_is_a_tombstone_and_the_other_namespace_is_untouched() -> None:
    ops = [
        ("create", "a", "a"),
        ("create", "a", "b"),
        ("stall", "", ""),
        ("delete", "seed", "a"),
        ("update", "a", "b"),
        ("gone", "", ""),
    ]
    stats, tombstones = on_fake(ops, proxy=True)
    assert tombstones == 1 and stats["relists"] >= 1


@pytest.mark.envtest
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=steps)
def test_a_multi_namespace_cache_converges_after_any_faults_on_envtest(
    envtest_server: Any, ops: list[tuple[str, str, str]]
) -> None:
    asyncio.run(scenario(ProxyFaults(envtest_server.url, envtest_server.token), ops))
