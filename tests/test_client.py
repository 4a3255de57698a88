"""RestClient: raw-dict REST over kubernetes-asyncio's transport, against a tiny local aiohttp app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web
from kubernetes_asyncio.client import ApiClient, Configuration

from pycontroller.client import GroupVersionResource, RestClient, parse_retry_after
from pycontroller.errors import (
    AlreadyExistsError,
    DecodeError,
    NotFoundError,
    ServerError,
    TooManyRequestsError,
)
from pycontroller.testing import FakeClock

CONFIGMAPS = GroupVersionResource("", "v1", "configmaps")
DEPLOYMENTS = GroupVersionResource("apps", "v1", "deployments")


def test_paths_follow_the_core_and_named_group_layouts() -> None:
    assert CONFIGMAPS.path() == "/api/v1/configmaps"
    assert CONFIGMAPS.path("ns", "a b") == "/api/v1/namespaces/ns/configmaps/a%20b"
    assert DEPLOYMENTS.path("ns", "web", "status") == "/apis/apps/v1/namespaces/ns/deployments/web/status"
    assert DEPLOYMENTS.api_version == "apps/v1" and CONFIGMAPS.api_version == "v1"


def test_retry_after_is_read_as_seconds_or_ignored() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert parse_retry_after("-1") is None


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[web.Request]]]:
    seen: list[web.Request] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append(request)
        body = await request.read()
        path = request.path
        if path.endswith("/missing"):
            status = {
                "kind": "Status",
                "code": 404,
                "reason": "NotFound",
                "message": 'configmaps "missing" not found',
            }
            return web.Response(status=404, body=orjson.dumps(status), content_type="application/json")
        if path.endswith("/busy"):
            return web.Response(
                status=429, body=b"{}", headers={"Retry-After": "2"}, content_type="application/json"
            )
        if path.endswith("/starting"):  # 503 with Retry-After for the first two attempts
            if sum(1 for r in seen if r.path == path) <= 2:
                return web.Response(
                    status=503, body=b"{}", headers={"Retry-After": "1"}, content_type="application/json"
                )
        if path.endswith("/broken"):
            return web.Response(status=500, body=b"{}", content_type="application/json")
        if path.endswith("/garbage"):
            return web.Response(status=200, body=b"<html>not json", content_type="text/html")
        if request.method == "POST" and orjson.loads(body)["metadata"]["name"] == "taken":
            status = {"kind": "Status", "code": 409, "reason": "AlreadyExists", "message": "taken"}
            return web.Response(status=409, body=orjson.dumps(status), content_type="application/json")
        if path.endswith("/watch"):
            resp = web.StreamResponse()
            await resp.prepare(request)
            for i in range(3):
                await resp.write(orjson.dumps({"type": "ADDED", "object": {"n": i}}) + b"\n")
            await resp.write_eof()
            return resp
        echo: dict[str, Any] = {
            "method": request.method,
            "query": dict(request.query),
            "content_type": request.headers.get("Content-Type"),
            "body": orjson.loads(body) if body else None,
        }
        return web.Response(body=orjson.dumps(echo), content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


@pytest.fixture
async def client(server: tuple[str, list[web.Request]]) -> AsyncIterator[RestClient]:
    config = Configuration(
        host=server[0], api_key={"BearerToken": "s3cret"}, api_key_prefix={"BearerToken": "Bearer"}
    )
    async with ApiClient(config) as api:
        yield RestClient(api, max_retries=0)


async def waiting(clock: FakeClock, seen: list[web.Request], count: int) -> None:
    """Until ``count`` requests reached the server, stepping the fake clock past retry waits."""
    async with asyncio.timeout(10):
        while len(seen) < count:
            await clock.step(0.5, settle=5)
            await asyncio.sleep(0.002)  # a poll interval for the HTTP round trip, not a settle


async def test_429_and_5xx_with_retry_after_are_sent_again_after_the_wait_as_client_go_does(
    server: tuple[str, list[web.Request]],
) -> None:
    url, seen = server
    clock = FakeClock()
    async with ApiClient(Configuration(host=url)) as api:
        rc = RestClient(api, max_retries=3, clock=clock)
        # 503 + Retry-After: 1 twice, then an answer: the caller only sees the answer.
        answer = asyncio.create_task(rc.get(CONFIGMAPS, "starting", "ns"))
        await waiting(clock, seen, 3)
        assert (await answer)["method"] == "GET"
        # Always 429 + Retry-After: 2: the first attempt and max_retries more, then the error.
        seen.clear()
        start = clock.now()
        busy = asyncio.create_task(rc.get(CONFIGMAPS, "busy", "ns"))
        await waiting(clock, seen, 4)
        with pytest.raises(TooManyRequestsError) as info:
            await busy
        assert len(seen) == 4 and info.value.retry_after == 2.0
        assert clock.now() - start >= 6.0, "each retry waited the 2 s the server asked for"
        # A 500 without Retry-After is not retried.
        seen.clear()
        with pytest.raises(ServerError):
            await rc.get(CONFIGMAPS, "broken", "ns")
        assert len(seen) == 1
    with pytest.raises(ValueError, match="max_retries"):
        RestClient(api, max_retries=-1)


async def test_requests_carry_the_bearer_token_and_encode_bodies_as_json(
    client: RestClient, server: tuple[str, list[web.Request]]
) -> None:
    answer = await client.create(CONFIGMAPS, {"metadata": {"name": "a", "namespace": "ns"}})
    assert answer["method"] == "POST"
    assert answer["body"] == {"metadata": {"name": "a", "namespace": "ns"}}
    assert answer["content_type"] == "application/json"
    request = server[1][-1]
    assert request.path == "/api/v1/namespaces/ns/configmaps"
    assert request.headers["authorization"] == "Bearer s3cret"


async def test_patch_types_select_the_content_type_and_unknown_ones_are_refused(client: RestClient) -> None:
    answer = await client.patch(CONFIGMAPS, "a", {"data": {"k": "v"}}, "ns")
    assert answer["content_type"] == "application/merge-patch+json"
    answer = await client.patch(CONFIGMAPS, "a", [{"op": "remove", "path": "/data"}], "ns", patch_type="json")
    assert answer["content_type"] == "application/json-patch+json"
    with pytest.raises(ValueError, match="patch_type"):
        await client.patch(CONFIGMAPS, "a", {}, "ns", patch_type="yaml")


async def test_query_values_are_encoded_the_way_the_api_expects(client: RestClient) -> None:
    answer = await client.list(CONFIGMAPS, "ns", labelSelector="app=web", allowWatchBookmarks=True, limit=5)
    assert answer["query"] == {"labelSelector": "app=web", "allowWatchBookmarks": "true", "limit": "5"}


async def test_error_statuses_raise_typed_errors_without_the_token(client: RestClient) -> None:
    with pytest.raises(NotFoundError) as info:
        await client.get(CONFIGMAPS, "missing", "ns")
    assert info.value.reason == "NotFound"
    assert "s3cret" not in str(info.value)
    with pytest.raises(TooManyRequestsError) as busy:
        await client.get(CONFIGMAPS, "busy", "ns")
    assert busy.value.retry_after == 2.0
    with pytest.raises(AlreadyExistsError):
        await client.create(CONFIGMAPS, {"metadata": {"name": "taken", "namespace": "ns"}})


async def test_a_2xx_body_that_is_not_json_raises_a_decode_error_with_its_start(client: RestClient) -> None:
    with pytest.raises(DecodeError) as info:
        await client.get(CONFIGMAPS, "garbage", "ns")
    assert info.value.snippet.startswith("<html>")


async def test_a_stream_yields_the_response_for_line_by_line_reading(client: RestClient) -> None:
    lines = []
    async with client.stream("/api/v1/watch", query={"watch": True}) as resp:
        async for line in resp.content:
            lines.append(orjson.loads(line))
    assert [e["object"]["n"] for e in lines] == [0, 1, 2]


async def test_a_stream_that_is_refused_raises_before_yielding(client: RestClient) -> None:
    with pytest.raises(NotFoundError):
        async with client.stream("/api/v1/missing"):
            pytest.fail("must not yield")


def test_wrap_refuses_things_that_are_not_clients() -> None:
    with pytest.raises(TypeError, match="ApiClient"):
        RestClient.wrap(object())


async def test_requests_never_hop_to_a_worker_thread(
    client: RestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The ApiClient's own session trusts the environment, which costs two thread hops per request
    # (netrc and proxy lookups); ours reads the environment once, when the client is made.
    import asyncio

    loop = asyncio.get_running_loop()

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a request went through run_in_executor")

    monkeypatch.setattr(loop, "run_in_executor", refuse)
    answer = await client.get(CONFIGMAPS, "a", "ns")
    assert answer["method"] == "GET"


async def test_a_borrowing_client_leaves_the_api_client_usable_after_close(
    server: tuple[str, list[web.Request]],
) -> None:
    async with ApiClient(Configuration(host=server[0])) as api:
        client = RestClient.wrap(api)
        await client.get(CONFIGMAPS, "a", "ns")
        await client.close()
        assert not api.rest_client.pool_manager.closed
        assert (await client.get(CONFIGMAPS, "a", "ns"))["method"] == "GET"
