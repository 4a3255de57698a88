"""pycontroller.testing's eventually() and running(): what an operator's tests rely on."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pycontroller import Manager
from pycontroller.testing import eventually, running


async def test_eventually_returns_once_a_sync_assertion_passes() -> None:
    calls = []

    def check() -> str:
        calls.append(1)
        assert len(calls) >= 3, "not yet"
        return "done"

    assert await eventually(check, timeout=5, interval=0.001) == "done"
    assert len(calls) == 3


async def test_eventually_awaits_async_assertions_and_treats_false_as_not_yet() -> None:
    answers = iter([False, False, True])

    async def check() -> bool:
        return next(answers)

    assert await eventually(check, timeout=5, interval=0.001) is True


async def test_eventually_shows_the_last_failure_on_timeout() -> None:
    n = 0

    def check() -> None:
        nonlocal n
        n += 1
        raise KeyError(f"attempt {n}")

    with pytest.raises(AssertionError, match=r"within 0s .*KeyError: 'attempt \d+'") as info:
        await eventually(check, timeout=0, interval=0.001, what="")
    assert isinstance(info.value.__cause__, KeyError)
    assert str(n) in str(info.value.__cause__)


async def test_eventually_names_what_it_waited_for() -> None:
    with pytest.raises(AssertionError, match="the widget to appear did not pass"):
        await eventually(lambda: False, timeout=0, what="the widget to appear")


async def test_eventually_refuses_a_non_callable() -> None:
    with pytest.raises(TypeError, match="function"):
        await eventually(True, timeout=0)  # type: ignore[arg-type]


def _manager(api_client: Any, namespace: str, **kwargs: Any) -> Manager:
    return Manager(api_client, namespace=namespace, metrics_bind_address="0", handle_signals=False, **kwargs)


async def test_running_enters_once_ready_and_stops_the_manager_on_exit(
    api_client: Any, namespace: str
) -> None:
    mgr = _manager(api_client, namespace)
    mgr.informer_for("", "v1", "configmaps")
    async with running(mgr) as same:
        assert same is mgr
        assert mgr._caches_synced
        assert mgr.elected().is_set()
    assert not mgr._caches_synced  # stopped: caches shut down


async def test_running_reraises_the_managers_failure(api_client: Any, namespace: str) -> None:
    mgr = _manager(api_client, namespace)
    failed = asyncio.Event()

    async def boom() -> None:
        await asyncio.sleep(0)
        failed.set()
        raise RuntimeError("runnable broke")

    mgr.add(boom, need_leader_election=False)
    with pytest.raises(RuntimeError, match="runnable broke"):
        async with running(mgr):
            await failed.wait()
            (task,) = [t for t in asyncio.all_tasks() if t.get_name() == "manager-under-test"]
            await eventually(task.done, timeout=15)


async def test_a_failing_block_wins_and_the_manager_is_still_stopped(api_client: Any, namespace: str) -> None:
    mgr = _manager(api_client, namespace)
    with pytest.raises(ValueError, match="test body"):
        async with running(mgr):
            raise ValueError("test body")
    assert mgr._started and not mgr._caches_synced


async def test_the_manager_and_client_fixtures_read_through_the_cache(
    manager: Any, client: Any, rest_client: Any, namespace: str
) -> None:
    from pycontroller.client import GroupVersionResource

    configmaps = GroupVersionResource("", "v1", "configmaps")
    await rest_client.create(configmaps, {"metadata": {"name": "cm"}, "data": {"a": "1"}}, namespace)
    async with running(manager):
        got = await client.get(configmaps, "cm", namespace)
        assert got["data"] == {"a": "1"}
