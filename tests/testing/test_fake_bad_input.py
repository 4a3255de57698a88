"""Bad requests get a Status with the right code, and none of them can crash or hang the server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest

from pycontroller.testing import FakeAPIServer

DEADLINE = 5.0
CMS = "/api/v1/namespaces/default/configmaps"


@pytest.fixture
async def server() -> AsyncIterator[FakeAPIServer]:
    async with FakeAPIServer(max_body_bytes=64 * 1024) as srv:
        yield srv


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def status_of(resp: aiohttp.ClientResponse) -> dict[str, object]:
    body = orjson.loads(await resp.read())
    assert body["kind"] == "Status"
    assert body["status"] == "Failure"
    assert body["code"] == resp.status
    return body  # type: ignore[no-any-return]


async def test_malformed_json_is_400_with_a_status(
    server: FakeAPIServer, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        server.url + CMS, data=b"{nope", headers={"Content-Type": "application/json"}
    ) as resp:
        assert resp.status == 400
        body = await status_of(resp)
    assert body["reason"] == "BadRequest"
    assert "json parse error" in str(body["message"])


async def test_a_body_that_is_not_an_object_is_400(
    server: FakeAPIServer, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        server.url + CMS, data=b"[1, 2]", headers={"Content-Type": "application/json"}
    ) as resp:
        assert resp.status == 400
        await status_of(resp)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/namespaces/default/widgets",
        "/apis/nogroup.example.com/v1/things",
        "/apis/apps/v9/deployments",
        "/nothing",
    ],
)
async def test_an_unknown_resource_is_404_with_a_status(
    server: FakeAPIServer, http: aiohttp.ClientSession, path: str
) -> None:
    async with http.get(server.url + path) as resp:
        assert resp.status == 404
        body = await status_of(resp)
    assert body["reason"] == "NotFound"


async def test_a_patch_with_an_unsupported_content_type_is_415(
    server: FakeAPIServer, http: aiohttp.ClientSession
) -> None:
    server.add_object(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "default"}}
    )
    async with http.patch(
        server.url + CMS + "/a", data=b"{}", headers={"Content-Type": "text/plain"}
    ) as resp:
        assert resp.status == 415
        body = await status_of(resp)
    assert body["reason"] == "UnsupportedMediaType"


async def test_an_oversized_body_is_413(server: FakeAPIServer, http: aiohttp.ClientSession) -> None:
    big = orjson.dumps({"metadata": {"name": "big"}, "data": {"k": "x" * 100_000}})
    async with http.post(server.url + CMS, data=big, headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 413
        body = await status_of(resp)
    assert body["reason"] == "RequestEntityTooLarge"
    async with http.get(server.url + CMS) as resp:  # still serving
        assert resp.status == 200


async def test_a_bad_query_value_is_400(server: FakeAPIServer, http: aiohttp.ClientSession) -> None:
    for query in (
        "limit=abc",
        "resourceVersion=xyz&resourceVersionMatch=Exact",
        "watch=1&timeoutSeconds=soon",
    ):
        async with http.get(f"{server.url}{CMS}?{query}") as resp:
            assert resp.status == 400, query
            await status_of(resp)


async def test_an_unsupported_method_is_405(server: FakeAPIServer, http: aiohttp.ClientSession) -> None:
    async with http.request("OPTIONS", server.url + CMS) as resp:
        assert resp.status == 405
        await status_of(resp)


async def test_a_client_disconnecting_mid_watch_frees_its_watcher(
    server: FakeAPIServer, http: aiohttp.ClientSession
) -> None:
    resp = await http.get(f"{server.url}{CMS}?watch=1")
    await server.wait_for_watches(1, timeout=DEADLINE)
    resp.close()  # drops the connection without reading the end
    await server.wait_for_watches(0, at_least=False, timeout=DEADLINE)
    table = server.registry.tables[("", "configmaps")]
    assert not table.watchers
    server.add_object(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "after", "namespace": "default"}}
    )


async def test_garbage_requests_never_stop_the_server(
    server: FakeAPIServer, http: aiohttp.ClientSession
) -> None:
    bad = [
        ("PUT", CMS + "/x", b"null"),
        ("PATCH", CMS + "/x", b"[{]"),
        ("POST", "/api/v1/namespaces", b'{"metadata": 5}'),
        ("DELETE", CMS + "/x", b"{bad"),
        ("GET", "/api/v1/namespaces/default/configmaps/a/b/c/d", b""),
        ("GET", "/apis/apps/v1/namespaces/default/deployments?labelSelector=a%20in%20(", b""),
        ("GET", "/api/v1/configmaps?continue=notatoken", b""),
    ]
    for method, path, data in bad:
        async with http.request(
            method, server.url + path, data=data, headers={"Content-Type": "application/merge-patch+json"}
        ) as resp:
            assert 400 <= resp.status < 500, (method, path, resp.status)
            await status_of(resp)
    async with http.get(server.url + "/version") as resp:
        assert resp.status == 200


async def test_an_unknown_dry_run_value_is_422(server: FakeAPIServer, http: aiohttp.ClientSession) -> None:
    body = orjson.dumps({"metadata": {"name": "x"}})
    async with http.post(
        f"{server.url}{CMS}?dryRun=Bogus", data=body, headers={"Content-Type": "application/json"}
    ) as resp:
        assert resp.status == 422
        status = await status_of(resp)
    assert "dryRun: Unsupported value" in str(status["message"])
