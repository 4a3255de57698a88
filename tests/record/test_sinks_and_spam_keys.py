"""client-go's StartRecordingToSink (several sinks, each with its own caches) and SpamKeyFunc."""

from __future__ import annotations

import random
from typing import Any

import pytest

from pycontroller.errors import ShutDownError
from pycontroller.record import EventBroadcaster, EventCorrelator
from pycontroller.testing import FakeClock
from tests.record.memsink import MemSink
from tests.record.test_correlation import POD, flush


def pod(name: str) -> dict[str, Any]:
    return {**POD, "metadata": {**POD["metadata"], "name": name, "uid": f"u-{name}"}}


async def test_every_sink_gets_every_event_and_counts_repeats_in_its_own_cache() -> None:
    clock = FakeClock()
    first, second = MemSink(), MemSink()
    b = EventBroadcaster(first, clock=clock, rng=random.Random(1))
    b.start()
    rec = b.new_recorder("c")
    rec.event(POD, "Normal", "Synced", "x")  # before the second sink: only the first hears it
    await flush(b)
    stop = b.start_recording_to_sink(second)
    rec.event(POD, "Normal", "Synced", "x")
    await flush(b)
    await flush(b.sinks[0])
    # The first sink saw the event twice (a create, then a count patch); the second sink's own
    # correlator saw it once, so it creates it with count 1.
    assert [c[0] for c in first.calls] == ["create", "patch"]
    assert [c[0] for c in second.calls] == ["create"]
    assert first.events()[0]["count"] == 2 and second.events()[0]["count"] == 1
    await stop()
    rec.event(POD, "Normal", "Synced", "x")
    await flush(b)
    assert len(second.calls) == 1 and len(first.calls) == 3 and b.sinks == []
    await b.shutdown()


async def test_a_recorder_without_a_primary_sink_still_feeds_added_sinks_and_shutdown_stops_them() -> None:
    clock = FakeClock()
    sink = MemSink()
    b = EventBroadcaster(None, clock=clock)
    b.start()
    b.start_recording_to_sink(sink)
    b.new_recorder("c").event(POD, "Warning", "Failed", "boom")
    extra = b.sinks[0]
    await flush(extra)
    assert [e["reason"] for e in sink.events()] == ["Failed"]
    await b.shutdown()
    assert b.sinks == []
    b2_event_count = len(sink.calls)
    extra.action({**sink.events()[0]})  # the stopped sink's writer takes nothing more
    assert extra.dropped == 1 and len(sink.calls) == b2_event_count
    with pytest.raises(ShutDownError):
        b.start_recording_to_sink(MemSink())


async def test_a_custom_spam_key_function_decides_what_shares_a_token_bucket() -> None:
    clock = FakeClock()
    sink = MemSink()
    b = EventBroadcaster(
        sink,
        clock=clock,
        correlator=EventCorrelator(
            clock, lambda name: f"{name}.x", burst=2, spam_key_func=lambda event: event["reason"]
        ),
    )
    b.start()
    rec = b.new_recorder("c")
    # Three different objects, one reason: with the default key each object has its own bucket;
    # keyed by reason they share one bucket of 2.
    for name in ("a", "b", "c"):
        rec.event(pod(name), "Normal", "Same", "m")
    rec.event(pod("a"), "Normal", "Other", "m")
    await flush(b)
    assert sorted((e["involvedObject"]["name"], e["reason"]) for e in sink.events()) == [
        ("a", "Other"),
        ("a", "Same"),
        ("b", "Same"),
    ]
    await b.shutdown()


def test_a_spam_key_function_must_be_callable() -> None:
    with pytest.raises(TypeError, match="spam_key_func"):
        EventCorrelator(FakeClock(), str, spam_key_func="reason")  # type: ignore[arg-type]
