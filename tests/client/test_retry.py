"""retry_on_conflict: client-go's RetryOnConflict for async and plain functions."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pycontroller import AlreadyExistsError, ConflictError
from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.retry import DEFAULT_BACKOFF, DEFAULT_RETRY, RetryBackoff, retry_on_conflict
from tests.conformance._support import configmap

CONFIGMAPS = GroupVersionResource("", "v1", "configmaps")


def conflict() -> ConflictError:
    return ConflictError(409, "Conflict", "the object has been modified")


def test_the_default_numbers_are_client_gos() -> None:
    assert DEFAULT_RETRY == RetryBackoff(steps=5, duration=0.01, factor=1.0, jitter=0.1)
    assert DEFAULT_BACKOFF == RetryBackoff(steps=4, duration=0.01, factor=5.0, jitter=0.1)
    assert DEFAULT_RETRY.delays(rng=lambda: 1.0) == pytest.approx([0.011] * 4)
    assert DEFAULT_BACKOFF.delays(rng=lambda: 0.0) == pytest.approx([0.01, 0.05, 0.25])


def test_a_plain_function_is_retried_in_the_calling_thread_until_it_succeeds() -> None:
    calls: list[int] = []
    slept: list[float] = []

    def write() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise conflict()
        return "done"

    assert retry_on_conflict(write, sleep=slept.append, rng=lambda: 0.5) == "done"
    assert len(calls) == 3 and slept == pytest.approx([0.0105, 0.0105])


def test_the_last_conflict_propagates_after_the_steps_and_other_errors_at_once() -> None:
    calls: list[int] = []

    def always() -> None:
        calls.append(1)
        raise conflict()

    with pytest.raises(ConflictError):
        retry_on_conflict(always, sleep=lambda s: None)
    assert len(calls) == DEFAULT_RETRY.steps

    calls.clear()

    def taken() -> None:
        calls.append(1)
        raise AlreadyExistsError(409, "AlreadyExists", "taken")

    with pytest.raises(AlreadyExistsError):
        retry_on_conflict(taken, sleep=lambda s: None)
    assert len(calls) == 1  # client-go's IsConflict: AlreadyExists is not a conflict


async def test_an_async_function_is_awaited_and_retried_with_async_sleeps() -> None:
    calls: list[int] = []
    slept: list[float] = []

    async def write() -> str:
        calls.append(1)
        if len(calls) < 2:
            raise conflict()
        return "ok"

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    assert await retry_on_conflict(write, sleep=sleep, rng=lambda: 0.0) == "ok"
    assert len(calls) == 2 and slept == [0.01]


async def test_a_read_modify_write_racing_another_writer_lands_on_the_server(
    rest_client: RestClient, namespace: str
) -> None:
    await rest_client.create(configmap("counter", namespace, data={"n": "0"}))
    raced = False

    async def increment() -> dict[str, Any]:
        nonlocal raced
        obj = await rest_client.get(CONFIGMAPS, "counter", namespace)
        if not raced:  # another writer gets in between our read and our write, once
            raced = True
            await rest_client.patch(CONFIGMAPS, "counter", {"data": {"other": "1"}}, namespace)
        obj["data"]["n"] = str(int(obj["data"]["n"]) + 1)
        return await rest_client.replace(obj)

    result = await retry_on_conflict(lambda: increment())
    assert result["data"] == {"n": "1", "other": "1"}


async def test_retry_on_conflict_is_usable_from_a_worker_thread() -> None:
    calls: list[int] = []

    def write() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise conflict()
        return len(calls)

    assert await asyncio.to_thread(retry_on_conflict, write) == 2
