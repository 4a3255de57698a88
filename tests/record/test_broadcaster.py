"""The broadcaster never blocks a caller: bounded queue, retries on fake time, shutdown, logging."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import threading

import aiohttp
import pytest

from pycontroller.errors import (
    AlreadyExistsError,
    DecodeError,
    ForbiddenError,
    InvalidError,
    ServerError,
    TooManyRequestsError,
)
from pycontroller.record import EventBroadcaster, EventLogHandler
from pycontroller.testing import FakeClock
from tests.record.memsink import MemSink
from tests.record.test_correlation import POD, flush


def down() -> aiohttp.ClientConnectionError:
    return aiohttp.ClientConnectionError("connection refused")


async def test_recording_never_blocks_and_drops_and_counts_past_1000_queued() -> None:
    sink = MemSink()
    b = EventBroadcaster(sink, clock=FakeClock())  # writer not started: nothing drains the queue
    rec = b.new_recorder("c")
    for i in range(1005):
        rec.event(POD, "Normal", f"R{i}", "m")
    assert b.queued() == 1000
    assert b.dropped == 5


async def test_transport_errors_are_retried_12_times_10_seconds_apart_the_first_randomised() -> None:
    clock = FakeClock()
    sink = MemSink()
    sink.errors = [down() for _ in range(20)]
    b = EventBroadcaster(sink, clock=clock, rng=random.Random(3))
    b.start()
    rec = b.new_recorder("c")
    rec.event(POD, "Normal", "Synced", "x")
    await flush(b)
    tries_at = [clock.now()]
    first = random.Random(3).random() * 10
    for _ in range(40):
        deadline = clock.next_deadline()
        if deadline is None:
            break
        await clock.step(deadline - clock.now())
        if len(sink.calls) > len(tries_at):
            tries_at.append(clock.now())
    assert len(sink.calls) == 12
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(tries_at)]
    assert gaps[0] == pytest.approx(first)
    assert gaps[1:] == [10.0] * 10
    assert b.failed == 1 and b.written == 0
    await b.shutdown()


@pytest.mark.parametrize(
    "error",
    [
        ServerError(503, "ServiceUnavailable", "etcd down"),
        TooManyRequestsError(429, "TooManyRequests", "slow down"),
        ForbiddenError(403, "Forbidden", "events is forbidden"),
    ],
)
async def test_an_error_status_from_the_server_is_dropped_at_once_as_client_gos_record_to_sink(
    error: Exception,
) -> None:
    sink = MemSink()
    sink.errors = [error]
    b = EventBroadcaster(sink, clock=FakeClock())
    b.start()
    b.new_recorder("c").event(POD, "Normal", "Synced", "x")
    await flush(b)
    assert len(sink.calls) == 1 and b.failed == 1 and b.written == 0
    await b.shutdown()


async def test_an_answer_that_is_not_an_event_and_a_timeout_are_retried() -> None:
    clock = FakeClock()
    sink = MemSink()
    sink.errors = [DecodeError("not an Event"), TimeoutError("read timed out")]
    b = EventBroadcaster(sink, clock=clock, rng=random.Random(0))
    b.start()
    b.new_recorder("c").event(POD, "Normal", "Synced", "x")
    await flush(b)
    await clock.step(10)
    await clock.step(10)
    assert len(sink.calls) == 3 and len(sink.events()) == 1 and b.written == 1


async def test_an_event_that_cannot_be_built_into_a_request_is_dropped_at_once() -> None:
    sink = MemSink()
    sink.errors = [KeyError("namespace")]
    b = EventBroadcaster(sink, clock=FakeClock())
    b.start()
    b.new_recorder("c").event(POD, "Normal", "Synced", "x")
    await flush(b)
    assert len(sink.calls) == 1 and b.failed == 1
    await b.shutdown()


async def test_a_conflict_on_create_is_quietly_done_and_not_counted_as_failed() -> None:
    sink = MemSink()
    sink.errors = [AlreadyExistsError(409, "AlreadyExists", "exists")]
    b = EventBroadcaster(sink, clock=FakeClock())
    b.start()
    b.new_recorder("c").event(POD, "Normal", "Synced", "x")
    await flush(b)
    assert len(sink.calls) == 1 and b.failed == 0 and b.written == 0
    await b.shutdown()


async def test_a_rejected_event_is_not_retried() -> None:
    sink = MemSink()
    sink.errors = [InvalidError(422, "Invalid", "bad event")]
    b = EventBroadcaster(sink, clock=FakeClock())
    b.start()
    b.new_recorder("c").event(POD, "Normal", "Synced", "x")
    await flush(b)
    assert len(sink.calls) == 1 and b.failed == 1
    await b.shutdown()


async def test_a_repeat_of_a_deleted_event_creates_it_again() -> None:
    sink = MemSink()
    b = EventBroadcaster(sink, clock=FakeClock())
    b.start()
    rec = b.new_recorder("c")
    rec.event(POD, "Normal", "Synced", "x")
    await flush(b)
    sink.objects.clear()  # expired by the server's TTL
    rec.event(POD, "Normal", "Synced", "x")
    await flush(b)
    assert [c[0] for c in sink.calls] == ["create", "patch", "create"]
    assert sink.events()[0]["count"] == 2
    await b.shutdown()


async def test_while_the_server_is_down_callers_go_on_and_the_queue_stays_bounded() -> None:
    clock = FakeClock()
    sink = MemSink()
    sink.errors = [down() for _ in range(10_000)]
    b = EventBroadcaster(sink, clock=clock, max_queued=50)
    b.start()
    rec = b.new_recorder("c")
    for i in range(200):
        rec.eventf(POD, "Normal", "Tick", "tick %d", i)  # returns at once every time
    await flush(b)
    assert b.queued() <= 50
    assert b.dropped >= 149
    await b.shutdown()
    assert b.queued() == 0


async def test_shutdown_writes_what_is_queued_and_later_events_are_dropped() -> None:
    sink = MemSink()
    b = EventBroadcaster(sink, clock=FakeClock())
    rec = b.new_recorder("c")
    b.start()
    for i in range(5):
        rec.event(POD, "Normal", f"R{i}", "m")
    await b.shutdown()
    assert len(sink.events()) == 5
    rec.event(POD, "Normal", "Late", "m")
    assert b.dropped == 1


async def test_shutdown_does_not_wait_for_retries() -> None:
    clock = FakeClock()
    sink = MemSink()
    sink.errors = [down() for _ in range(100)]
    b = EventBroadcaster(sink, clock=clock)
    b.start()
    b.new_recorder("c").event(POD, "Normal", "Synced", "x")
    await flush(b)
    await asyncio.wait_for(b.shutdown(), timeout=5)  # real-time guard; fake time never moves
    assert b.failed == 1


async def test_start_logging_mirrors_events_to_the_log(caplog: pytest.LogCaptureFixture) -> None:
    b = EventBroadcaster(None, clock=FakeClock())
    stop = b.start_logging()
    with caplog.at_level(logging.INFO, logger="pycontroller.record"):
        b.new_recorder("c").event(POD, "Warning", "Failed", "it broke")
    assert "Event(Pod prod/web-1): type: 'Warning' reason: 'Failed' it broke" in caplog.text
    stop()
    caplog.clear()
    b.new_recorder("c").event(POD, "Warning", "Failed", "again")
    assert "again" not in caplog.text


async def test_recording_from_another_thread_reaches_the_sink() -> None:
    sink = MemSink()
    b = EventBroadcaster(sink, clock=FakeClock())
    b.start()
    rec = b.new_recorder("c")
    t = threading.Thread(target=lambda: rec.event(POD, "Normal", "FromThread", "x"))
    t.start()
    t.join()
    for _ in range(100):
        if sink.events():
            break
        await asyncio.sleep(0.01)
    assert sink.events()[0]["reason"] == "FromThread"
    await b.shutdown()


async def test_the_first_event_from_a_running_loop_starts_the_writer() -> None:
    sink = MemSink()
    b = EventBroadcaster(sink, clock=FakeClock())
    b.new_recorder("c").event(POD, "Normal", "Auto", "x")
    await flush(b)
    assert len(sink.events()) == 1
    await b.shutdown()


async def test_log_records_about_an_object_become_events() -> None:
    sink = MemSink()
    b = EventBroadcaster(sink, clock=FakeClock())
    b.start()
    b.start_logging()
    logger = logging.getLogger("test.operator.events")
    logger.propagate = False
    handler = EventLogHandler(b.new_recorder("op"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("scaled to %d", 3, extra={"k8s_object": POD, "reason": "Scaled"})
        logger.warning("quota low", extra={"k8s_object": POD})
        logger.info("about nothing in particular")
        await flush(b)
    finally:
        logger.removeHandler(handler)
    got = sorted((e["type"], e["reason"], e["message"]) for e in sink.events())
    assert got == [("Normal", "Scaled", "scaled to 3"), ("Warning", "Logged", "quota low")]
    await b.shutdown()
