"""The FakeAPIServer's test knobs: injected errors, latency, dropped and stalled watches, history."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.errors import GoneError, ServerError, TooManyRequestsError
from pycontroller.testing import FakeAPIServer

CM = GroupVersionResource("", "v1", "configmaps")
DEADLINE = 5.0


@pytest.fixture
async def server() -> AsyncIterator[FakeAPIServer]:
    async with FakeAPIServer() as srv:
        yield srv


@pytest.fixture
async def rest(server: FakeAPIServer) -> AsyncIterator[RestClient]:
    client = RestClient(server.new_client(), owns_api_client=True)
    yield client
    await client.close()


def cm(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
    }


async def read_lines(resp: aiohttp.ClientResponse, n: int) -> list[dict[str, Any]]:
    out = []
    async with asyncio.timeout(DEADLINE):
        while len(out) < n:
            line = await resp.content.readline()
            if not line:
                break
            out.append(orjson.loads(line))
    return out


async def test_fail_next_answers_that_many_matching_requests_then_recovers(
    server: FakeAPIServer, rest: RestClient
) -> None:
    rule = server.fail_next(2, 500, verb="list", resource="configmaps")
    for _ in range(2):
        with pytest.raises(ServerError) as info:
            await rest.list(CM, "default")
        assert info.value.status == 500
        assert info.value.reason == "InternalError"
    assert (await rest.list(CM, "default"))["kind"] == "ConfigMapList"
    assert rule.hits == 2


async def test_a_fault_leaves_other_verbs_and_resources_alone(
    server: FakeAPIServer, rest: RestClient
) -> None:
    server.fail_next(1, 500, verb="create", resource="secrets")
    await rest.create(CM, cm("a"))
    assert (await rest.list(CM, "default"))["items"]
    with pytest.raises(ServerError):
        await rest.create(
            GroupVersionResource("", "v1", "secrets"), {"metadata": {"name": "s", "namespace": "default"}}
        )


async def test_a_fault_can_match_a_path_substring(server: FakeAPIServer, rest: RestClient) -> None:
    await rest.create(CM, cm("a"))
    await rest.create(CM, cm("b"))
    server.fail_next(1, 504, path="/configmaps/b")
    assert (await rest.get(CM, "a", "default"))["metadata"]["name"] == "a"
    with pytest.raises(ServerError) as info:
        await rest.get(CM, "b", "default")
    assert info.value.status == 504


async def test_an_injected_429_carries_retry_after(server: FakeAPIServer) -> None:
    server.fail_next(1, 429, retry_after=7)
    rest = RestClient(server.new_client(), owns_api_client=True, max_retries=0)  # see the error
    try:
        with pytest.raises(TooManyRequestsError) as info:
            await rest.list(CM)
    finally:
        await rest.close()
    assert info.value.retry_after == 7
    assert info.value.body["details"]["retryAfterSeconds"] == 7


async def test_an_injected_410_on_a_list_is_expired(server: FakeAPIServer, rest: RestClient) -> None:
    server.fail_next(1, 410, verb="list")
    with pytest.raises(GoneError) as info:
        await rest.list(CM)
    assert info.value.reason == "Expired"


async def test_an_injected_410_on_a_watch_is_an_error_event_in_a_200_stream(server: FakeAPIServer) -> None:
    server.fail_next(1, 410, verb="watch")
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/api/v1/configmaps?watch=1") as resp:
        assert resp.status == 200
        [event] = await read_lines(resp, 1)
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 410
    assert event["object"]["reason"] == "Expired"


async def test_added_latency_delays_matching_requests_only(server: FakeAPIServer, rest: RestClient) -> None:
    server.add_latency(0.2, verb="get")
    await rest.create(CM, cm("a"))
    start = time.monotonic()
    await rest.list(CM)
    assert time.monotonic() - start < 0.2
    start = time.monotonic()
    await rest.get(CM, "a", "default")
    assert time.monotonic() - start >= 0.2
    server.clear_faults()


async def test_drop_watches_ends_every_open_stream(server: FakeAPIServer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/api/v1/configmaps?watch=1") as resp:
            await server.wait_for_watches(1, timeout=DEADLINE)
            assert server.drop_watches() == 1
            async with asyncio.timeout(DEADLINE):
                assert await resp.content.read() == b""
    await server.wait_for_watches(0, at_least=False, timeout=DEADLINE)


async def test_a_stalled_watch_sends_nothing_until_resumed_and_loses_nothing(server: FakeAPIServer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/api/v1/namespaces/default/configmaps?watch=1") as resp:
            server.stall_watches()
            server.add_object(cm("a"))
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    await resp.content.readline()
            server.resume_watches()
            [event] = await read_lines(resp, 1)
    assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "a")


async def test_compact_makes_older_resource_versions_expire(server: FakeAPIServer) -> None:
    old = server.add_object(cm("a"))["metadata"]["resourceVersion"]
    server.add_object(cm("b"))
    server.compact()
    async with aiohttp.ClientSession() as http:
        url = f"{server.url}/api/v1/configmaps?watch=1&resourceVersion={old}"
        async with http.get(url) as resp:
            [event] = await read_lines(resp, 1)
        assert event["type"] == "ERROR" and event["object"]["code"] == 410
        url = f"{server.url}/api/v1/configmaps?resourceVersion={old}&resourceVersionMatch=Exact"
        async with http.get(url) as resp:
            assert resp.status == 410


async def test_expire_watches_ends_watches_and_expires_even_the_newest_resource_version(
    server: FakeAPIServer,
) -> None:
    newest = server.add_object(cm("a"))["metadata"]["resourceVersion"]
    async with aiohttp.ClientSession() as http:
        url = f"{server.url}/api/v1/configmaps?watch=1&resourceVersion={newest}"
        async with http.get(url) as watch:
            await server.wait_for_watches(1)
            rv, ended = server.expire_watches()
            assert (rv, ended) == (int(newest) + 1, 1)
            assert await watch.content.read() == b"", "the watch ended without an event"
        # Nothing was written, yet the newest version handed out is too old now: a client relists.
        async with http.get(url) as resp:
            [event] = await read_lines(resp, 1)
        assert event["type"] == "ERROR" and event["object"]["code"] == 410
        async with http.get(f"{server.url}/api/v1/configmaps") as resp:
            listed = orjson.loads(await resp.read())
        assert listed["metadata"]["resourceVersion"] == str(rv) and len(listed["items"]) == 1


async def test_history_size_bounds_what_a_watch_can_replay(server: FakeAPIServer) -> None:
    server.history_size = 2
    first = server.add_object(cm("a"))["metadata"]["resourceVersion"]
    for name in "bcd":
        server.add_object(cm(name))
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/api/v1/configmaps?watch=1&resourceVersion={first}") as resp:
            [event] = await read_lines(resp, 1)
        assert event["type"] == "ERROR"
        recent = server.get_object("v1", "ConfigMap", "b", "default")
        assert recent is not None
        url = (
            f"{server.url}/api/v1/configmaps?watch=1&resourceVersion={recent['metadata']['resourceVersion']}"
        )
        async with http.get(url) as resp:
            events = await read_lines(resp, 2)
    assert [e["object"]["metadata"]["name"] for e in events] == ["c", "d"]


async def test_bookmarks_arrive_at_the_configured_interval_once_something_happened(
    server: FakeAPIServer,
) -> None:
    server.bookmark_interval = 0.05
    server.add_object(cm("a"))
    async with aiohttp.ClientSession() as http:
        url = f"{server.url}/api/v1/configmaps?watch=1&resourceVersion={server.resource_version}&allowWatchBookmarks=true"
        async with http.get(url) as resp:
            with pytest.raises(TimeoutError):  # nothing newer than the start: no bookmark (like 1.20)
                async with asyncio.timeout(0.3):
                    await resp.content.readline()
            server.add_object(cm("b"))
            events = await read_lines(resp, 2)
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    bookmark = events[1]["object"]
    assert bookmark["kind"] == "ConfigMap"
    assert bookmark["metadata"]["resourceVersion"] == events[0]["object"]["metadata"]["resourceVersion"]


async def test_a_watcher_that_falls_too_far_behind_is_ended_cleanly() -> None:
    async with FakeAPIServer(watch_queue_limit=10) as server, aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/api/v1/configmaps?watch=1") as resp:
            await server.wait_for_watches(1, timeout=DEADLINE)
            server.stall_watches()
            for i in range(20):  # no chance to write in between: the queue overflows
                server.add_object(cm(f"c{i}"))
            assert server.watch_count == 0
            server.resume_watches()
            async with asyncio.timeout(DEADLINE):
                assert await resp.content.read() == b""  # the end of the stream, nothing half-sent


async def test_a_client_that_stops_reading_is_cut_off_and_frees_its_watcher() -> None:
    async with FakeAPIServer(watch_queue_limit=10) as server:
        server.control.overflow_grace = 0.1
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /api/v1/configmaps?watch=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        await server.wait_for_watches(1, timeout=DEADLINE)
        big = "x" * 200_000
        for i in range(200):  # megabytes the client never reads: the server's writes block
            server.add_object({**cm(f"big{i}"), "data": {"k": big}})
            await asyncio.sleep(0)
            if not server.handlers.watchers:
                break
        async with asyncio.timeout(DEADLINE):
            while server.handlers.watchers:  # the handler itself has returned  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        assert server.watch_count == 0
        writer.close()


def test_knobs_refuse_nonsense_values() -> None:
    server = FakeAPIServer()
    with pytest.raises(ValueError):
        server.fail_next(0)
    with pytest.raises(ValueError):
        server.fail_next(1, 200)
    with pytest.raises(ValueError):
        server.history_size = 0
    with pytest.raises(ValueError):
        FakeAPIServer(bookmark_interval=0)
    with pytest.raises(RuntimeError):
        _ = server.url


async def test_a_stalled_watch_can_still_be_dropped(server: FakeAPIServer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/api/v1/configmaps?watch=1") as resp:
            await server.wait_for_watches(1, timeout=DEADLINE)
            server.stall_watches()
            server.add_object(cm("a"))
            assert server.drop_watches(abrupt=True) == 1
            with pytest.raises(aiohttp.ClientPayloadError):
                async with asyncio.timeout(DEADLINE):
                    await resp.content.read()
    server.resume_watches()
    await server.wait_for_watches(0, at_least=False, timeout=DEADLINE)


async def test_a_stopped_server_refuses_connections_and_restarts_on_its_port_with_its_state() -> None:
    server = FakeAPIServer()
    await server.start()
    try:
        url = server.url
        server.add_object(cm("kept"))
        await server.stop()
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.ClientConnectionError):
                await http.get(url + "/version")
            await server.start()
            assert server.url == url
            async with http.get(url + "/api/v1/namespaces/default/configmaps/kept") as resp:
                assert resp.status == 200
    finally:
        await server.stop()


async def test_a_fault_without_a_count_lasts_until_cleared(server: FakeAPIServer, rest: RestClient) -> None:
    rule = server.fail_next(None, 503, resource="configmaps")
    for _ in range(3):
        with pytest.raises(ServerError):
            await rest.list(CM)
    server.clear_faults()
    assert (await rest.list(CM))["items"] == []
    assert rule.hits == 3
