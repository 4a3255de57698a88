"""Reflector against a scripted HTTP server: every list and watch answer is chosen by the test.

This pins client-go's exact request sequence (which resourceVersion each list and watch carries,
when a relist happens and when it must not) and the handling of bad input, independently of any
API server implementation. Time is a FakeClock; waits are on conditions with a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from kubernetes_asyncio.client import ApiClient, Configuration

from pycontroller.backoff import Backoff
from pycontroller.cache.reflector import Reflector
from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.errors import DecodeError, GoneError, TooManyRequestsError
from pycontroller.testing import FakeClock

CONFIGMAPS = GroupVersionResource("", "v1", "configmaps")
Answer = Callable[[web.Request], Awaitable[web.StreamResponse]]


def cm(name: str, rv: str, value: str = "v") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv},
        "data": {"k": value},
    }


def event(kind: str, obj: dict[str, Any]) -> bytes:
    return orjson.dumps({"type": kind, "object": obj})


def bookmark(rv: str, **annotations: str) -> bytes:
    meta: dict[str, Any] = {"resourceVersion": rv}
    if annotations:
        meta["annotations"] = annotations
    return event("BOOKMARK", {"kind": "ConfigMap", "apiVersion": "v1", "metadata": meta})


def list_of(items: list[dict[str, Any]], rv: str, cont: str = "") -> Answer:
    async def answer(request: web.Request) -> web.StreamResponse:
        body = {
            "kind": "ConfigMapList",
            "apiVersion": "v1",
            "metadata": {"resourceVersion": rv, "continue": cont},
            "items": [{k: v for k, v in i.items() if k not in ("kind", "apiVersion")} for i in items],
        }
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    return answer


def status(code: int, reason: str, message: str = "", headers: dict[str, str] | None = None) -> Answer:
    async def answer(request: web.Request) -> web.StreamResponse:
        body = {"kind": "Status", "status": "Failure", "code": code, "reason": reason, "message": message}
        return web.Response(
            status=code, body=orjson.dumps(body), content_type="application/json", headers=headers
        )

    return answer


def watch_of(*lines: bytes, hold: asyncio.Event | None = None, close: bool = False) -> Answer:
    """A watch answering ``lines``; it stays open (silent) until ``hold`` is set, if given.

    ``close`` ends the connection with the watch (no keep-alive reuse).
    """

    async def answer(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.content_type = "application/json"
        if close:
            resp.force_close()
        await resp.prepare(request)
        for line in lines:
            await resp.write(line + b"\n")
        if hold is not None:
            await hold.wait()
        with contextlib.suppress(ConnectionError):
            await resp.write_eof()
        return resp

    return answer


class Script:
    """Queues of answers for lists and watches, and the log of requests seen."""

    def __init__(self) -> None:
        self.lists: asyncio.Queue[Answer] = asyncio.Queue()
        self.watches: asyncio.Queue[Answer] = asyncio.Queue()
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.changed = asyncio.Event()
        self.held: list[asyncio.Event] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        kind = "watch" if request.query.get("watch") == "true" else "list"
        self.requests.append((kind, dict(request.query)))
        self.changed.set()
        queue = self.watches if kind == "watch" else self.lists
        answer = await queue.get()
        return await answer(request)

    def of(self, kind: str) -> list[dict[str, str]]:
        return [q for k, q in self.requests if k == kind]

    def hold(self) -> asyncio.Event:
        event = asyncio.Event()
        self.held.append(event)
        return event


class RecordingStore:
    """A store that keeps the latest objects by key and logs every call."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, Any]] = []
        self.rv = ""
        self.changed = asyncio.Event()

    @staticmethod
    def key(obj: dict[str, Any]) -> str:
        meta = obj["metadata"]
        return f"{meta.get('namespace', '')}/{meta['name']}"

    def _note(self, call: str, arg: Any) -> None:
        self.calls.append((call, arg))
        self.changed.set()

    def add(self, obj: dict[str, Any]) -> None:
        self.items[self.key(obj)] = obj
        self._note("add", self.key(obj))

    def update(self, obj: dict[str, Any]) -> None:
        self.items[self.key(obj)] = obj
        self._note("update", self.key(obj))

    def delete(self, obj: dict[str, Any]) -> None:
        self.items.pop(self.key(obj), None)
        self._note("delete", self.key(obj))

    def replace(self, objs: list[dict[str, Any]], resource_version: str) -> None:
        self.items = {self.key(o): o for o in objs}
        self._note("replace", resource_version)

    def resync(self) -> None:
        self._note("resync", None)

    def update_resource_version(self, rv: str) -> None:
        self.rv = rv


async def until(predicate: Callable[[], bool], *events: asyncio.Event, timeout: float = 5.0) -> None:
    """Wait (with a deadline) until ``predicate()`` holds, re-checking whenever an event fires."""

    async def loop() -> None:
        while not predicate():
            waiters = [asyncio.ensure_future(e.wait()) for e in events]
            try:
                await asyncio.wait(waiters, timeout=0.05, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waiters:
                    w.cancel()
            for e in events:
                e.clear()

    await asyncio.wait_for(loop(), timeout)


@pytest.fixture
async def script() -> AsyncIterator[tuple[Script, RestClient]]:
    s = Script()
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", s.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    config = Configuration(host=f"http://127.0.0.1:{port}", api_key={"BearerToken": "t0ken-never-logged"})
    config.api_key_prefix = {"BearerToken": "Bearer"}
    try:
        async with ApiClient(config) as api:
            yield s, RestClient(api)
    finally:
        for e in s.held:
            e.set()
        await runner.cleanup()


class Running:
    def __init__(self, reflector: Reflector, store: RecordingStore, clock: FakeClock) -> None:
        self.reflector = reflector
        self.store = store
        self.clock = clock
        self.errors: list[BaseException] = []
        reflector.set_watch_error_handler(lambda r, exc: self.errors.append(exc))
        self.task = asyncio.create_task(reflector.run())

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


@pytest.fixture
async def start(script: tuple[Script, RestClient]) -> AsyncIterator[Callable[..., Running]]:
    running: list[Running] = []

    def make(**kwargs: Any) -> Running:
        clock = FakeClock()
        store = RecordingStore()
        backoff = Backoff(1.0, 8.0, jitter=0.0, clock=clock)
        kwargs.setdefault("namespace", "ns")
        reflector = Reflector(script[1], CONFIGMAPS, store, clock=clock, backoff=backoff, **kwargs)
        r = Running(reflector, store, clock)
        running.append(r)
        return r

    yield make
    for r in running:
        await r.stop()


async def requests_reach(s: Script, kind: str, count: int) -> None:
    await until(lambda: len(s.of(kind)) >= count, s.changed)


async def test_first_list_asks_for_rv_0_in_pages_then_watches_from_the_list_rv_with_bookmarks(
    script: tuple[Script, RestClient], start: Callable[..., Running]
) -> None:
    s, _ = script
    s.lists.put_nowait(list_of([cm("a", "5")], "10", cont="tok1"))
    s.lists.put_nowait(list_of([cm("b", "7")], "10"))
    s.watches.put_nowait(watch_of(event("ADDED", cm("c", "11")), hold=s.hold()))
    r = start(page_size=1)
    await until(lambda: "ns/c" in r.store.items, r.store.changed)
    first, second = s.of("list")
    assert first["resourceVersion"] == "0" and first["limit"] == "1"
    assert second["continue"] == "tok1" and "resourceVersion" not in second
    watch = s.of("watch")[0]
    assert watch["resourceVersion"] == "10" and watch["allowWatchBookmarks"] == "true"
    assert 300 <= int(watch["timeoutSeconds"]) < 600
    assert r.store.calls[0] == ("replace", "10")
    assert set(r.store.items) == {"ns/a", "ns/b", "ns/c"}
    assert r.store.items["ns/a"]["kind"] == "ConfigMap", "list items get the kind the list implies"
    assert r.reflector.last_sync_resource_version() == "11" == r.store.rv


async def test_events_and_bookmarks_move_the_resource_version_and_a_closed_watch_resumes_without_relist(
    script: tuple[Script, RestClient], start: Callable[..., Running]
) -> None:
    s, _ = script
    s.lists.put_nowait(list_of([cm("a", "5")], "10"))
    s.watches.put_nowait(
        watch_of(event("MODIFIED", cm("a", "12", "x")), event("DELETED", cm("a", "13")), bookmark("20"))
    )
    s.watches.put_nowait(watch_of(event("ADDED", cm("b", "21")), hold=s.hold()))
    r = start()
    await until(lambda: "ns/b" in r.store.items, r.store.changed)
    assert [q["resourceVersion"] for q in s.of("watch")] == ["10", "20"]
    assert len(s.of("list")) == 1
    assert r.store.calls == [("replace", "10"), ("update", "ns/a"), ("delete", "ns/a"), ("add", "ns/b")]
    assert r.reflector.stats.bookmarks == 1 and r.reflector.stats.relists == 0


async def test_an_expired_watch_relists_at_the_last_rv_after_a_backoff(
    script: tuple[Script, RestClient], start: Callable[..., Running]
) -> None:
    s, _ = script
    s.lists.put_nowait(list_of([cm("a", "5")], "10"))
    s.watches.put_nowait(
        watch_of(
            event("ADDED", cm("b", "11")),
            event("ERROR", {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}),
        )
    )
    s.lists.put_nowait(list_of([cm("b", "11"), cm("c", "30")], "30"))
    s.watches.put_nowait(watch_of(hold=s.hold()))
    r = start()
    await until(lambda: any(isinstance(e, GoneError) for e in r.errors), r.store.changed, s.changed)
    assert len(s.of("list")) == 1, "the relist waits for the backoff"
    await r.clock.step(1.0)
    await requests_reach(s, "watch", 2)
    assert [q["resourceVersion"] for q in s.of("list")] == ["0", "11"]
    assert s.of("watch")[1]["resourceVersion"] == "30"
    assert set(r.store.items) == {"ns/b", "ns/c"} and r.reflector.stats.relists == 1


async def test_an_expired_list_is_retried_at_once_with_an_empty_rv(
    script: tuple[Script, RestClient], start: Callable[..., Running]
) -> None:
    s, _ = script
    s.lists.put_nowait(status(410, "Expired", "too old resource version"))
    s.lists.put_nowait(list_of([cm("a", "5")], "40"))
    s.watches.put_nowait(watch_of(hold=s.hold()))
    r = start()
    await requests_reach(s, "watch", 1)
    assert [q.get("resourceVersion") for q in s.of("list")] == ["0", ""]
    assert s.of("watch")[0]["resourceVersion"] == "40" and r.errors == []


async def test_a_too_large_resource_version_on_a_relist_falls_back_to_an_empty_rv(
    script: tuple[Script, RestClient], start: Callable[..., Running]
) -> None:
    s, _ = script
    s.lists.put_nowait(list_of([], "10"))
    s.watches.put_nowait(watch_of(event("ERROR", {"kind": "Status", "code": 410, "reason": "Gone"})))
    too_large = status(504, "Timeout", "Too large resource version: 10, current: 9")
    s.lists.put_nowait(too_large)
    s.lists.put_nowait(list_of([cm("a", "9")], "9"))
    s.watches.put_nowait(watch_of(hold=s.hold()))
    r = start()
    await until(lambda: r.errors != [], r.store.changed, s.changed)
    await r.clock.step(1.0)
    await requests_reach(s, "watch", 2)
    assert [q.get("resourceVersion") for q in s.of("list")] == ["0", "10", ""]
    assert set(r.store.items) == {"ns/a"}


async def test_429_on_watch_backs_off_for_retry_after_and_rewatches_without_relisting(
    script: tuple[Script, RestClient], start: Callable[..., Running]
) -> None:
    s, _ = script
    s.lists.put_nowait(list_of([], "10"))
    s.watches.put_nowait(status(429, "TooManyRequests", "slow down", {"Retry-After": "7"}))
    s.watches.put_nowait(watch_of(event("ADDED", cm("a", "11")), hold=s.hold()))
    r = start()
    await until(lambda: r.errors != [], s.changed, r.store.changed)
    assert isinstance(r.errors[0], TooManyRequestsError)
    await r.clock.step(6.9)
    assert len(s.of("watch")) == 1, "Retry-After is honoured"
    await r.clock.step(0.1)
    await until(lambda: "ns/a" in r.store.items, r.store.changed)
    assert len(s.of("list")) == 1 and [q["resourceVersion"] for q in s.of("watch")] == ["10", "10"]


async def test_500_on_list_backs_off_and_lists_again(
    script: tuple[Script, RestClient], start: Callable[..., Running]
) -> None:
    s, _ = script
    s.lists.put_nowait(status(500, "InternalError", "etcd down"))
    s.lists.put_nowait(status(500, "InternalError", "etcd down"))
    s.lists.put_nowait(list_of([cm("a", "5")], "10"))
    s.watches.put_nowait(watch_of(hold=s.hold()))
    r = start()
    await until(lambda: len(r.errors) == 1, s.changed)
    await r.clock.step(0.99)
    assert len(s.of("list")) == 1
    await r.clock.step(0.01)
    await until(lambda: len(r.errors) == 2, s.changed)
    await r.clock.step(1.99)
    assert len(s.of("list")) == 2, "the second wait is twice as long"
    await r.clock.step(0.01)
    await until(lambda: "ns/a" in r.store.items, r.store.changed)
    assert r.reflector.stats.list_errors == 2


async def test_a_stalled_watch_is_replaced_after_the_inactivity_timeout_without_relisting(
    script: tuple[Script, RestClient], start: Callable[..., Running]
) -> None:
    s, _ = script
    s.lists.put_nowait(list_of([], "10"))
    s.watches.put_nowait(watch_of(bookmark("15"), hold=s.hold()))
    s.watches.put_nowait(watch_of(event("ADDED", cm("a", "16")), hold=s.hold()))
    r = start(watch_inactivity_timeout=60.0)
    await until(lambda: r.reflector.last_sync_resource_version() == "15", s.changed, r.store.changed)
    await r.clock.step(59.0)
    assert len(s.of("watch")) == 1
    await r.clock.step(1.0)
    await until(lambda: "ns/a" in r.store.items, r.store.changed)
    assert [q["resourceVersion"] for q in s.of("watch")] == ["10", "15"]
    assert r.reflector.stats.stalls == 1 and len(s.of("list")) == 1


@pytest.mark.parametrize(
    ("bad_line", "counter"),
    [
        (b'{"type": "ADDED", "object": {"metadata": {"na', "decode_errors"),
        (b"<html>proxy error</html>", "decode_errors"),
        (event("ADDED", {"kind": "ConfigMap", "metadata": {"resourceVersion": "12"}}), "invalid_objects"),
        (event("MODIFIED", {"kind": "ConfigMap", "data": {}}), "invalid_objects"),
        (orjson.dumps({"type": "ERROR", "object": "boom"}), "unknown_errors"),
        (orjson.dumps({"type": "SURPRISE", "object": cm("z", "12")}), "unknown_errors"),
        (b"[1, 2, 3]", "unknown_errors"),
    ],
)
async def test_bad_watch_input_is_logged_counted_never_stored_and_ends_the_watch_with_a_relist(
    script: tuple[Script, RestClient],
    start: Callable[..., Running],
    caplog: pytest.LogCaptureFixture,
    bad_line: bytes,
    counter: str,
) -> None:
    # Go's stream decoder turns a bad line into an InternalError event, and the reflector ends
    # ListAndWatch on it (max_internal_error_retry_duration is 0 by default): the next round relists.
    s, _ = script
    s.lists.put_nowait(list_of([cm("a", "5")], "10"))
    s.watches.put_nowait(
        watch_of(event("MODIFIED", cm("a", "11", "good")), bad_line, event("ADDED", cm("never", "13")))
    )
    s.lists.put_nowait(list_of([cm("a", "11", "good"), cm("b", "12")], "12"))
    s.watches.put_nowait(watch_of(hold=s.hold()))
    caplog.set_level(logging.INFO, logger="pycontroller.cache.reflector")
    r = start()
    await until(lambda: r.errors != [], s.changed, r.store.changed)
    assert "ns/never" not in r.store.items, "nothing after the bad line was applied"
    await r.clock.step(1.0)
    await requests_reach(s, "watch", 2)
    assert getattr(r.reflector.stats, counter) == 1 and r.reflector.stats.bad_input == 1
    assert isinstance(r.errors[0], DecodeError)
    assert r.errors[0].snippet == bad_line[:200].decode()
    assert set(r.store.items) == {"ns/a", "ns/b"}
    assert r.store.items["ns/a"]["data"] == {"k": "good"}
    assert [q["resourceVersion"] for q in s.of("list")] == ["0", "11"]
    assert "limit" not in s.of("list")[1], "a relist at a known RV is unpaginated by default"
    assert [q["resourceVersion"] for q in s.of("watch")] == ["10", "12"]
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "configmaps.v1" in logged and bad_line[:20].decode() in logged
    assert "t0ken" not in logged


@pytest.mark.parametrize(
    ("code", "reason"), [(500, "InternalError"), (403, "Forbidden"), (400, "BadRequest"), (504, "Timeout")]
)
async def test_an_error_event_in_the_watch_ends_list_and_watch_so_the_next_round_relists(
    script: tuple[Script, RestClient], start: Callable[..., Running], code: int, reason: str
) -> None:
    s, _ = script
    s.lists.put_nowait(list_of([cm("a", "5")], "10"))
    s.watches.put_nowait(
        watch_of(
            event("ADDED", cm("b", "11")),
            event("ERROR", {"kind": "Status", "code": code, "reason": reason, "message": "boom"}),
            event("ADDED", cm("never", "12")),
        )
    )
    s.lists.put_nowait(list_of([cm("b", "11")], "15"))
    s.watches.put_nowait(watch_of(hold=s.hold()))
    r = start()
    await until(lambda: r.errors != [], s.changed, r.store.changed)
    assert r.errors[0].status == code  # type: ignore[attr-defined]
    await r.clock.step(1.0)
    await requests_reach(s, "watch", 2)
    assert [q["resourceVersion"] for q in s.of("list")] == ["0", "11"]
    assert [q["resourceVersion"] for q in s.of("watch")] == ["10", "15"]
    assert set(r.store.items) == {"ns/b"} and r.reflector.stats.relists == 1


async def test_internal_errors_watch_again_without_relisting_within_max_internal_error_retry_duration(
    script: tuple[Script, RestClient], start: Callable[..., Running]
) -> None:
    s, _ = script
    internal = event("ERROR", {"kind": "Status", "code": 500, "reason": "InternalError"})
    s.lists.put_nowait(list_of([], "10"))
    s.watches.put_nowait(watch_of(event("ADDED", cm("a", "11")), internal))
    s.watches.put_nowait(watch_of(b"not json at all"))
    s.watches.put_nowait(watch_of(internal))
    s.lists.put_nowait(list_of([cm("a", "11")], "20"))
    s.watches.put_nowait(watch_of(hold=s.hold()))
    r = start(max_internal_error_retry_duration=2.0)
    await until(lambda: len(r.errors) == 1, s.changed, r.store.changed)  # t=0: the streak begins
    await r.clock.step(1.0)  # backoff 1 s: watch again from 11, no relist
    await until(lambda: len(r.errors) == 2, s.changed, r.store.changed)  # t=1: within 2 s
    await r.clock.step(2.0)  # backoff 2 s: watch again
    await requests_reach(s, "watch", 3)
    assert len(s.of("list")) == 1
    await until(lambda: len(r.errors) == 3, s.changed, r.store.changed)  # t=3: the streak is too old
    await r.clock.step(4.0)  # backoff 4 s, then the relist
    await requests_reach(s, "watch", 4)
    assert [q["resourceVersion"] for q in s.of("watch")] == ["10", "11", "11", "20"]
    assert [q["resourceVersion"] for q in s.of("list")] == ["0", "11"]


async def test_a_long_bad_line_is_logged_only_by_its_first_200_characters(
    script: tuple[Script, RestClient], start: Callable[..., Running]
) -> None:
    s, _ = script
    s.lists.put_nowait(list_of([], "10"))
    s.watches.put_nowait(watch_of(b"x" * 5000))
    s.watches.put_nowait(watch_of(hold=s.hold()))
    r = start()
    await until(lambda: r.errors != [], s.changed)
    assert isinstance(r.errors[0], DecodeError) and r.errors[0].snippet == "x" * 200


async def test_listed_items_without_a_name_are_skipped_and_counted(
    script: tuple[Script, RestClient], start: Callable[..., Running]
) -> None:
    s, _ = script
    s.lists.put_nowait(list_of([cm("a", "5"), {"metadata": {"namespace": "ns"}}], "10"))
    s.watches.put_nowait(watch_of(hold=s.hold()))
    r = start()
    await requests_reach(s, "watch", 1)
    assert set(r.store.items) == {"ns/a"} and r.reflector.stats.invalid_objects == 1


async def test_resync_calls_the_store_every_period_while_watching(
    script: tuple[Script, RestClient], start: Callable[..., Running]
) -> None:
    s, _ = script
    s.lists.put_nowait(list_of([cm("a", "5")], "10"))
    s.watches.put_nowait(watch_of(hold=s.hold()))
    r = start(resync_period=30.0)
    await requests_reach(s, "watch", 1)
    await r.clock.step(30.0)
    await r.clock.step(30.0)
    assert [c for c in r.store.calls if c[0] == "resync"] == [("resync", None)] * 2


async def test_streaming_list_replaces_the_store_at_the_initial_events_end_bookmark_and_keeps_watching(
    script: tuple[Script, RestClient], start: Callable[..., Running]
) -> None:
    s, _ = script
    s.watches.put_nowait(
        watch_of(
            event("ADDED", cm("a", "5")),
            event("ADDED", cm("b", "6")),
            bookmark("10", **{"k8s.io/initial-events-end": "true"}),
            event("DELETED", cm("a", "11")),
            hold=s.hold(),
        )
    )
    r = start(use_streaming_list=True)
    await until(lambda: ("delete", "ns/a") in r.store.calls or r.errors != [], r.store.changed)
    query = s.of("watch")[0]
    assert query["sendInitialEvents"] == "true" and query["resourceVersionMatch"] == "NotOlderThan"
    assert query["resourceVersion"] == ""
    assert r.store.calls == [("replace", "10"), ("delete", "ns/a")], r.errors
    assert s.of("list") == [] and r.reflector.last_sync_resource_version() == "11"


async def test_a_server_refusing_streaming_lists_gets_list_and_watch_from_then_on(
    script: tuple[Script, RestClient], start: Callable[..., Running]
) -> None:
    s, _ = script
    s.watches.put_nowait(status(422, "Invalid", "resourceVersionMatch is forbidden for watch"))
    s.lists.put_nowait(list_of([cm("a", "5")], "10"))
    s.watches.put_nowait(watch_of(event("ERROR", {"kind": "Status", "code": 410, "reason": "Expired"})))
    s.lists.put_nowait(list_of([cm("a", "5")], "12"))
    s.watches.put_nowait(watch_of(hold=s.hold()))
    r = start(use_streaming_list=True)
    await until(lambda: r.errors != [], s.changed, r.store.changed)
    await r.clock.step(1.0)
    await requests_reach(s, "watch", 3)
    assert [q.get("sendInitialEvents") for q in s.of("watch")] == ["true", None, None]
    assert len(s.of("list")) == 2 and set(r.store.items) == {"ns/a"}


def test_bad_arguments_are_refused() -> None:
    class NotAStore:
        def add(self, obj: Any) -> None: ...

    api = object.__new__(RestClient)
    with pytest.raises(TypeError):
        Reflector(api, CONFIGMAPS, NotAStore())
    with pytest.raises(TypeError):
        Reflector(api, ("", "v1", "configmaps"), RecordingStore())  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Reflector(api, CONFIGMAPS, RecordingStore(), resync_period=-1)


async def test_by_default_a_silent_watch_is_replaced_after_150_seconds(
    script: tuple[Script, RestClient], start: Callable[..., Running]
) -> None:
    s, _ = script
    s.lists.put_nowait(list_of([], "10"))
    s.watches.put_nowait(watch_of(hold=s.hold()))
    s.watches.put_nowait(watch_of(hold=s.hold()))
    r = start()
    await requests_reach(s, "watch", 1)
    await r.clock.step(149.0)
    assert len(s.of("watch")) == 1
    await r.clock.step(1.0)
    await requests_reach(s, "watch", 2)
    assert r.reflector.stats.stalls == 1 and len(s.of("list")) == 1


async def test_a_refused_connection_backs_off_and_watches_again_without_relisting() -> None:
    s = Script()
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", s.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, reuse_address=True)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    clock = FakeClock()
    store = RecordingStore()
    errors: list[BaseException] = []
    try:
        async with ApiClient(Configuration(host=f"http://127.0.0.1:{port}")) as api:
            reflector = Reflector(
                RestClient(api),
                CONFIGMAPS,
                store,
                clock=clock,
                backoff=Backoff(1.0, 8.0, jitter=0.0, clock=clock),
            )
            reflector.set_watch_error_handler(lambda r, exc: errors.append(exc))
            hold = s.hold()
            s.lists.put_nowait(list_of([cm("a", "5")], "10"))
            s.watches.put_nowait(watch_of(bookmark("12"), hold=hold, close=True))
            task = asyncio.create_task(reflector.run())
            try:
                await until(lambda: reflector.last_sync_resource_version() == "12", s.changed, store.changed)
                await clock.step(2.0)  # a watch that lived a while: its end re-watches
                await site.stop()
                hold.set()
                await until(lambda: errors != [], s.changed, store.changed)
                assert isinstance(errors[0], aiohttp.ClientConnectorError)
                assert reflector.stats.watch_errors >= 1 and reflector.stats.relists == 0
                site = web.TCPSite(runner, "127.0.0.1", port, reuse_address=True)
                await site.start()
                s.watches.put_nowait(watch_of(event("ADDED", cm("b", "13")), hold=s.hold()))
                await clock.step(1.0)
                await until(lambda: "ns/b" in store.items, store.changed, s.changed)
                assert [q["resourceVersion"] for q in s.of("watch")] == ["10", "12"]
                assert len(s.of("list")) == 1, "a refused connection never relists"
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
    finally:
        for e in s.held:
            e.set()
        await runner.cleanup()


async def test_a_compacted_continue_token_falls_back_to_one_full_list_with_the_original_options(
    script: tuple[Script, RestClient], start: Callable[..., Running]
) -> None:
    s, _ = script
    s.lists.put_nowait(list_of([cm("a", "5")], "10", cont="tok1"))
    s.lists.put_nowait(status(410, "Expired", "The provided continue parameter is too old"))
    s.lists.put_nowait(list_of([cm("a", "5"), cm("b", "6"), cm("c", "7")], "20"))
    s.watches.put_nowait(watch_of(hold=s.hold()))
    r = start(page_size=1)
    await requests_reach(s, "watch", 1)
    first, second, third = s.of("list")
    assert first["resourceVersion"] == "0" and first["limit"] == "1"
    assert second["continue"] == "tok1"
    assert third == {"resourceVersion": "0"}, "client-go's pager: no limit, no token, the original RV"
    assert set(r.store.items) == {"ns/a", "ns/b", "ns/c"} and r.store.calls == [("replace", "20")]
    assert s.of("watch")[0]["resourceVersion"] == "20" and r.errors == []


async def test_items_decoded_before_a_compacted_continue_token_are_not_counted_twice(
    script: tuple[Script, RestClient], start: Callable[..., Running]
) -> None:
    s, _ = script
    nameless = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": "ns"}}
    s.lists.put_nowait(list_of([nameless], "10", cont="tok1"))
    s.lists.put_nowait(status(410, "Expired", "The provided continue parameter is too old"))
    s.lists.put_nowait(list_of([nameless, cm("b", "6")], "20"))
    s.watches.put_nowait(watch_of(hold=s.hold()))
    r = start(page_size=1)
    await requests_reach(s, "watch", 1)
    assert len(s.of("list")) == 3 and set(r.store.items) == {"ns/b"}
    # The nameless item was decoded (and refused) in the first page and again in the full list:
    # it is one bad object of the list that was used, counted once.
    assert r.reflector.stats.invalid_objects == 1


async def test_an_explicit_page_size_applies_to_every_list_relists_included(
    script: tuple[Script, RestClient], start: Callable[..., Running]
) -> None:
    s, _ = script
    s.lists.put_nowait(list_of([cm("a", "5")], "10"))
    s.watches.put_nowait(
        watch_of(event("ADDED", cm("b", "11")), event("ERROR", {"kind": "Status", "code": 410}))
    )
    s.lists.put_nowait(list_of([cm("a", "5")], "12", cont="tok"))
    s.lists.put_nowait(list_of([cm("b", "11")], "12"))
    s.watches.put_nowait(watch_of(hold=s.hold()))
    r = start(page_size=7)
    await until(lambda: r.errors != [], s.changed, r.store.changed)
    await r.clock.step(1.0)
    await requests_reach(s, "watch", 2)
    first, relist, page2 = s.of("list")
    assert first["limit"] == "7" and first["resourceVersion"] == "0"
    assert relist["limit"] == "7" and relist["resourceVersion"] == "11"
    assert page2["limit"] == "7" and page2["continue"] == "tok"


async def test_the_watch_timeout_is_never_below_client_gos_five_minutes() -> None:
    api = object.__new__(RestClient)
    reflector = Reflector(api, CONFIGMAPS, RecordingStore(), min_watch_timeout=10.0)
    timeouts = {reflector._watch_query("1")["timeoutSeconds"] for _ in range(200)}
    assert min(timeouts) >= 300 and max(timeouts) < 600
    longer = Reflector(api, CONFIGMAPS, RecordingStore(), min_watch_timeout=900.0)
    assert all(900 <= longer._watch_query("1")["timeoutSeconds"] < 1800 for _ in range(50))


async def test_selectors_and_the_tweak_shape_every_list_and_watch(
    script: tuple[Script, RestClient], start: Callable[..., Running]
) -> None:
    s, _ = script
    s.lists.put_nowait(list_of([], "10"))
    s.watches.put_nowait(watch_of(hold=s.hold()))

    def tweak(query: dict[str, Any]) -> None:
        query["labelSelector"] += ",tier=web"

    r = start(label_selector="app=shop", field_selector="metadata.name!=x", tweak_list_options=tweak)
    await requests_reach(s, "watch", 1)
    for query in (s.of("list")[0], s.of("watch")[0]):
        assert query["labelSelector"] == "app=shop,tier=web"
        assert query["fieldSelector"] == "metadata.name!=x"
    assert r.reflector.stats.lists == 1
