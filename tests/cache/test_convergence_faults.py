"""Convergence under faults, as a property: whatever happens on the way, the cache ends up exact.

A SharedIndexInformer (with our Reflector) watches ConfigMaps. Hypothesis draws sequences of
creates, updates and deletes (made directly on the server) interleaved with faults: dropped
watches, 410 Expired (a compaction), 500 and 429 answers to the next requests, and stalled watches.
On the in-memory fake the server makes the faults itself (real compaction; stalls that queue); in
front of the real kube-apiserver (envtest) a fault-injecting HTTP proxy makes them (a 410 ERROR
event; stalls that swallow bytes, so only the inactivity timeout recovers). Once the faults stop:

* the informer's indexer equals the server's state exactly: same keys, same resourceVersions;
* the handler saw a consistent story per key: an add before any update or delete, nothing after a
  delete unless re-created, each update's old object being (a same-version copy of) the one
  delivered before, and deletes missed while disconnected arriving as DeletedFinalStateUnknown
  tombstones.

The reflector runs on a FakeClock with client-go's default backoff; the test advances that clock
while it waits for convergence (a deadline in real time), so no test step sleeps. The real-time
deadlines are generous (60 s) because they only bound a failure: a passing run never waits them out,
and on a machine loaded by other work a tight one made Hypothesis report a flaky failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes_asyncio.client import ApiClient, Configuration

from pycontroller.cache.informer import SharedIndexInformer
from pycontroller.cache.keys import DeletedFinalStateUnknown, deletion_handling_meta_namespace_key_func
from pycontroller.cache.reflector import Reflector
from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.errors import AlreadyExistsError, ConflictError, NotFoundError
from pycontroller.testing import FakeClock

CONFIGMAPS = GroupVersionResource("", "v1", "configmaps")
NAMES = ["a", "b", "c", "d"]


class FaultProxy:
    """Forwards to ``upstream``; injects errors, drops, 410s and stalls into the stream on demand."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.errors: deque[int] = deque()
        self.watches: set[_Conn] = set()
        self.session: aiohttp.ClientSession | None = None
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False))
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        for conn in list(self.watches):
            conn.cut("drop")
        if self.runner is not None:
            await self.runner.cleanup()
        if self.session is not None:
            await self.session.close()

    def fault(self, kind: str, count: int = 1) -> None:
        if kind in ("500", "429"):
            self.errors.extend([int(kind)] * count)
            return
        for conn in list(self.watches):
            conn.cut(kind)

    def heal(self) -> None:
        """Stop injecting errors. Stalled watches stay stalled: the inactivity timeout must find them."""
        self.errors.clear()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.errors:
            code = self.errors.popleft()
            body = {"kind": "Status", "code": code, "reason": "InjectedFault", "message": "injected"}
            headers = {"Retry-After": "1"} if code == 429 else None
            return web.Response(
                status=code, body=orjson.dumps(body), content_type="application/json", headers=headers
            )
        assert self.session is not None
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() in ("authorization", "accept", "content-type")
        }
        body = await request.read()
        upstream = self.session.request(
            request.method, self.upstream + request.path_qs, headers=headers, data=body or None
        )
        async with upstream as up:
            if request.query.get("watch") != "true" or up.status != 200:
                return web.Response(status=up.status, body=await up.read(), content_type="application/json")
            resp = web.StreamResponse(status=200)
            resp.content_type = "application/json"
            await resp.prepare(request)
            conn = _Conn()
            self.watches.add(conn)
            try:
                await conn.forward(up, resp, request)
            finally:
                self.watches.discard(conn)
            return resp


class _Conn:
    def __init__(self) -> None:
        self.stalled = False
        self.action: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def cut(self, kind: str) -> None:
        if kind == "stall":
            self.stalled = True
        elif not self.action.done():
            self.action.set_result(kind)

    async def forward(
        self, up: aiohttp.ClientResponse, resp: web.StreamResponse, request: web.Request
    ) -> None:
        while True:
            read = asyncio.ensure_future(up.content.readany())
            await asyncio.wait({read, self.action}, return_when=asyncio.FIRST_COMPLETED)
            if self.action.done():
                read.cancel()
                kind = self.action.result()
                if kind == "gone":
                    status = {"kind": "Status", "code": 410, "reason": "Expired", "message": "compacted"}
                    with contextlib.suppress(ConnectionError):
                        await resp.write(orjson.dumps({"type": "ERROR", "object": status}) + b"\n")
                        await resp.write_eof()
                elif request.transport is not None:
                    request.transport.close()  # dropped: the client sees a broken connection
                return
            chunk = read.result()
            if not chunk:
                with contextlib.suppress(ConnectionError):
                    await resp.write_eof()
                return
            if not self.stalled:  # a stalled connection swallows what the server sends
                try:
                    await resp.write(chunk)
                except ConnectionError:
                    return


def _rv(obj: Any) -> str:
    return str(obj["metadata"]["resourceVersion"])


class StoryHandler:
    """An informer event handler that checks each key's story and keeps the resulting state."""

    def __init__(self) -> None:
        self.state: dict[str, dict[str, Any]] = {}
        self.violations: list[str] = []
        self.tombstones = 0

    def on_add(self, obj: dict[str, Any], is_in_initial_list: bool) -> None:
        key = deletion_handling_meta_namespace_key_func(obj)
        if key in self.state:
            self.violations.append(f"add of {key} while present")
        self.state[key] = obj

    def on_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        key = deletion_handling_meta_namespace_key_func(new)
        delivered = self.state.get(key)
        # Not identity: like client-go, a relist of an unchanged object (same resourceVersion) swaps
        # the cached copy without telling handlers, so "old" may be an equal copy of what they saw.
        if delivered is None or _rv(delivered) != _rv(old):
            self.violations.append(f"update of {key} whose old object is not the one delivered last")
        self.state[key] = new

    def on_delete(self, obj: Any) -> None:
        key = deletion_handling_meta_namespace_key_func(obj)
        if key not in self.state:
            self.violations.append(f"delete of {key} while absent")
        if isinstance(obj, DeletedFinalStateUnknown):
            self.tombstones += 1
        self.state.pop(key, None)


class Informed:
    """A SharedIndexInformer (our reflector inside, on the fake clock) with one story handler."""

    def __init__(self, client: RestClient, namespace: str, clock: FakeClock, in_order: bool) -> None:
        def reflector(fifo: Any) -> Reflector:
            self.reflector = Reflector(
                client, CONFIGMAPS, fifo, namespace=namespace, clock=clock, watch_inactivity_timeout=30.0
            )
            return self.reflector

        self.reflector: Reflector
        self.informer = SharedIndexInformer(
            client,
            CONFIGMAPS,
            namespace=namespace,
            clock=clock,
            reflector_factory=reflector,
            in_order=in_order,
        )
        self.indexer = self.informer.indexer
        self.handler = StoryHandler()
        self.informer.add_event_handler(self.handler)


steps = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["create", "update", "delete"]), st.sampled_from(NAMES)),
        st.tuples(st.sampled_from(["drop", "gone", "stall"]), st.just("")),
        st.tuples(st.sampled_from(["500", "429"]), st.sampled_from(["1", "3"])),
    ),
    min_size=3,
    max_size=14,
)


async def apply(rc: RestClient, namespace: str, op: str, name: str, counter: int) -> None:
    try:
        if op == "create":
            body = {"metadata": {"name": name}, "data": {"v": str(counter)}}
            await rc.create(CONFIGMAPS, body, namespace)
        elif op == "update":
            await rc.patch(CONFIGMAPS, name, {"data": {"v": str(counter)}}, namespace)
        else:
            await rc.delete(CONFIGMAPS, name, namespace)
    except (AlreadyExistsError, NotFoundError, ConflictError):
        pass


class ProxyFaults:
    """Faults injected by a FaultProxy in front of a real server."""

    def __init__(self, upstream: str, token: str | None) -> None:
        self.proxy = FaultProxy(upstream)
        self.upstream = upstream
        self.token = token

    def config(self, host: str) -> Configuration:
        cfg = Configuration(host=host)
        if self.token:
            cfg.api_key = {"BearerToken": self.token}
            cfg.api_key_prefix = {"BearerToken": "Bearer"}
        cfg.verify_ssl = False
        return cfg

    @contextlib.asynccontextmanager
    async def clients(self) -> AsyncIterator[tuple[RestClient, RestClient]]:
        await self.proxy.start()
        try:
            async with (
                ApiClient(self.config(self.upstream)) as d,
                ApiClient(self.config(self.proxy.url)) as p,
            ):
                yield RestClient(d), RestClient(p)
        finally:
            await self.proxy.stop()

    def fault(self, kind: str, count: int) -> None:
        self.proxy.fault(kind, count)

    def heal(self) -> None:
        self.proxy.heal()

    def watching(self) -> bool:
        return bool(self.proxy.watches)


class NativeFaults:
    """Faults the in-memory FakeAPIServer injects itself (real compaction, queued stalls)."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.abrupt = False

    @contextlib.asynccontextmanager
    async def clients(self) -> AsyncIterator[tuple[RestClient, RestClient]]:
        async with self.server.new_client() as d, self.server.new_client() as p:
            yield RestClient(d), RestClient(p)

    def fault(self, kind: str, count: int) -> None:
        if kind in ("500", "429"):
            retry_after = 1 if kind == "429" else None
            for verb in ("list", "watch"):  # the reflector's requests, not the test's writes
                self.server.fail_next(
                    count, int(kind), verb=verb, resource="configmaps", retry_after=retry_after
                )
        elif kind == "drop":
            self.abrupt = not self.abrupt
            self.server.drop_watches(abrupt=self.abrupt)
        elif kind == "gone":
            self.server.compact()
            self.server.drop_watches()
        elif kind == "stall":
            self.server.stall_watches()

    def heal(self) -> None:
        self.server.clear_faults()
        self.server.resume_watches()

    def watching(self) -> bool:
        return bool(self.server.watch_count)


async def until_watching(faults: Any, clock: FakeClock, timeout: float = 60.0) -> None:
    """Let the reflector (maybe backing off) open its watch, so a watch fault hits a live watch."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not faults.watching():
        if loop.time() > deadline:
            pytest.fail("the reflector did not open a watch")
        await clock.step(2.0, settle=5)  # backoffs after many injected errors reach 30-60 s
        await asyncio.sleep(0.002)  # a poll interval for the HTTP round trip, not a settle


async def scenario(
    faults: Any, ops: list[tuple[str, str]], in_order: bool = True
) -> tuple[dict[str, int], int]:
    namespace = f"conv-{uuid.uuid4().hex[:10]}"
    clock = FakeClock()
    async with faults.clients() as (direct, proxied):
        await direct.request("POST", "/api/v1/namespaces", body={"metadata": {"name": namespace}})
        inf = Informed(proxied, namespace, clock, in_order)
        inf.informer.start()
        try:
            await direct.create(CONFIGMAPS, {"metadata": {"name": "seed"}, "data": {}}, namespace)
            await until_watching(faults, clock)
            for i, (op, arg) in enumerate(ops):
                if op in ("create", "update", "delete"):
                    await apply(direct, namespace, op, arg, i)
                    continue
                if op in ("drop", "gone", "stall"):
                    await until_watching(faults, clock)
                faults.fault(op, int(arg) if arg else 1)
                await clock.step(0.5, settle=5)
            faults.heal()
            expected: dict[str, str] = {}

            async def converged() -> bool:
                nonlocal expected
                listed = await direct.list(CONFIGMAPS, namespace)
                expected = {
                    f"{namespace}/{o['metadata']['name']}": o["metadata"]["resourceVersion"]
                    for o in listed["items"]
                }
                cached = {
                    k: o["metadata"]["resourceVersion"]
                    for k, o in zip(inf.indexer.list_keys(), inf.indexer.list(), strict=True)
                }
                seen = {k: o["metadata"]["resourceVersion"] for k, o in inf.handler.state.items()}
                return cached == expected and seen == expected

            deadline = asyncio.get_running_loop().time() + 60.0
            while not await converged():
                if asyncio.get_running_loop().time() > deadline:
                    cached = sorted(inf.indexer.list_keys())
                    pytest.fail(
                        f"no convergence: server {expected}, cache {cached}, stats {inf.reflector.stats.as_dict()}"
                    )
                await clock.step(2.0, settle=10)
            assert inf.handler.violations == []
            return inf.reflector.stats.as_dict(), inf.handler.tombstones
        finally:
            await inf.informer.stop()
            with contextlib.suppress(Exception):
                await direct.request("DELETE", f"/api/v1/namespaces/{namespace}")


def on_envtest(server: Any, ops: list[tuple[str, str]], in_order: bool = True) -> tuple[dict[str, int], int]:
    return asyncio.run(scenario(ProxyFaults(server.url, server.token), ops, in_order))


def on_fake(
    ops: list[tuple[str, str]], *, proxy: bool = False, in_order: bool = True
) -> tuple[dict[str, int], int]:
    try:
        from pycontroller.testing.apiserver import FakeAPIServer
    except ImportError as exc:  # pragma: no cover - until the fake lands
        pytest.skip(f"the in-memory API server is not available: {exc}")

    async def run() -> tuple[dict[str, int], int]:
        async with FakeAPIServer() as server:
            faults = ProxyFaults(server.url, None) if proxy else NativeFaults(server)
            return await scenario(faults, ops, in_order)

    return asyncio.run(run())


FIFOS = pytest.mark.parametrize("in_order", [True, False], ids=["in-order", "delta-fifo"])


@FIFOS
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=steps)
def test_the_cache_converges_to_the_server_state_after_any_faults_on_the_fake(
    in_order: bool, ops: list[tuple[str, str]]
) -> None:
    on_fake(ops, in_order=in_order)


@FIFOS
def test_a_delete_missed_across_a_compaction_arrives_as_a_tombstone_on_the_fake(in_order: bool) -> None:
    ops = [("create", "a"), ("stall", ""), ("delete", "seed"), ("update", "a"), ("gone", "")]
    stats, tombstones = on_fake(ops, proxy=True, in_order=in_order)
    assert tombstones == 1 and stats["relists"] >= 1


@pytest.mark.envtest
@FIFOS
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=steps)
def test_the_cache_converges_to_the_server_state_after_any_faults_on_envtest(
    envtest_server: Any, in_order: bool, ops: list[tuple[str, str]]
) -> None:
    on_envtest(envtest_server, ops, in_order)


@pytest.mark.envtest
def test_a_delete_missed_during_a_stall_arrives_as_a_tombstone_after_the_relist(envtest_server: Any) -> None:
    ops = [("create", "a"), ("stall", ""), ("delete", "seed"), ("update", "a"), ("gone", "")]
    stats, tombstones = on_envtest(envtest_server, ops)
    assert tombstones == 1
    assert stats["relists"] >= 1


@pytest.mark.envtest
@pytest.mark.envtest
def test_a_stalled_watch_is_replaced_by_the_inactivity_timeout_and_catches_up(envtest_server: Any) -> None:
    ops = [("stall", ""), ("create", "a"), ("delete", "seed")]
    stats, _ = on_envtest(envtest_server, ops)
    assert stats["stalls"] >= 1 and stats["relists"] == 0


@pytest.mark.envtest
def test_errors_and_drops_recover_without_losing_events(envtest_server: Any) -> None:
    ops = [
        ("500", "3"),
        ("drop", ""),
        ("create", "a"),
        ("429", "3"),
        ("drop", ""),
        ("update", "a"),
        ("delete", "a"),
    ]
    stats, _ = on_envtest(envtest_server, ops)
    assert stats["watch_errors"] + stats["list_errors"] >= 1


def test_the_fault_mix_covers_every_kind() -> None:
    kinds = {"create", "update", "delete", "drop", "gone", "stall", "500", "429"}
    seen: set[str] = set()

    @settings(max_examples=200, deadline=None)
    @given(ops=steps)
    def collect(ops: list[tuple[str, str]]) -> None:
        seen.update(op for op, _ in ops)

    collect()
    assert seen == kinds
