"""Events written to the API servers (fake and real): counts patched, aggregation, and a server that
is down or failing never blocks the caller."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pycontroller.client import RestClient
from pycontroller.record import EventBroadcaster


def configmap(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm", "namespace": namespace, "uid": "uid-1"},
    }


async def wait_for(cond: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def events_in(client: RestClient, namespace: str) -> list[dict[str, Any]]:
    result = await client.request("GET", f"/api/v1/namespaces/{namespace}/events")
    return list(result.get("items") or [])


async def test_repeated_events_are_one_event_with_its_count_on_the_server(
    rest_client: RestClient, namespace: str
) -> None:
    async with EventBroadcaster(rest_client) as b:
        rec = b.new_recorder("test-controller")
        for _ in range(3):
            rec.event(configmap(namespace), "Normal", "Synced", "ConfigMap synced successfully")
        await wait_for(lambda: b.written == 3)
    (event,) = await events_in(rest_client, namespace)
    assert event["count"] == 3
    assert event["message"] == "ConfigMap synced successfully"
    assert event["involvedObject"]["name"] == "cm"
    assert event["source"]["component"] == "test-controller"
    assert event["metadata"]["name"].startswith("cm.")


async def test_ten_distinct_messages_become_a_combined_event_on_the_server(
    rest_client: RestClient, namespace: str
) -> None:
    async with EventBroadcaster(rest_client) as b:
        rec = b.new_recorder("test-controller")
        for i in range(11):
            rec.eventf(configmap(namespace), "Warning", "SyncFailed", "error %d", i)
        await wait_for(lambda: b.written == 11)
    events = await events_in(rest_client, namespace)
    assert len(events) == 10
    (combined,) = [e for e in events if e["message"].startswith("(combined from similar events): ")]
    assert combined["count"] == 2
    assert combined["message"] == "(combined from similar events): error 10"


async def test_a_server_error_drops_that_event_and_never_delays_the_caller(fake_api_server: Any) -> None:
    # client-go's recordToSink: an error Status from the server is not retried.
    fake_api_server.fail_next(1, 500, resource="events")
    client = RestClient(fake_api_server.new_client(), owns_api_client=True)
    try:
        b = EventBroadcaster(client, sleep_duration=0.05)
        b.start()
        rec = b.new_recorder("c")
        start = time.perf_counter()
        rec.event(configmap("default"), "Normal", "Synced", "x")
        assert time.perf_counter() - start < 0.05
        await wait_for(lambda: b.failed == 1)
        rec.event(configmap("default"), "Normal", "Other", "y")
        await wait_for(lambda: b.written == 1)
        assert [e["reason"] for e in await events_in(client, "default")] == ["Other"]
        await b.shutdown()
    finally:
        await client.close()


async def test_events_recorded_while_the_server_is_down_are_written_when_it_returns(
    fake_api_server: Any,
) -> None:
    client = RestClient(fake_api_server.new_client(), owns_api_client=True)
    try:
        b = EventBroadcaster(client, sleep_duration=0.05)
        b.start()
        rec = b.new_recorder("c")
        await fake_api_server.stop()
        start = time.perf_counter()
        for i in range(20):
            rec.eventf(configmap("default"), "Normal", "Tick", "tick %d", i)
        assert time.perf_counter() - start < 0.1  # 20 events recorded without waiting
        await fake_api_server.start()
        await wait_for(lambda: b.written == 20, timeout=20)
        await b.shutdown()
        assert b.dropped == 0
    finally:
        await client.close()
