"""events.k8s.io/v1 Events with series, as client-go's tools/events writes them."""

from __future__ import annotations

import re
from typing import Any

import pytest

from pycontroller.client import RestClient
from pycontroller.record.events_v1 import EventsV1Broadcaster
from pycontroller.testing import FakeClock
from tests.record.memsink import MemSink
from tests.record.test_correlation import POD, flush

MICRO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@pytest.fixture
async def setup() -> Any:
    clock = FakeClock()
    sink = MemSink()
    b = EventsV1Broadcaster(sink, clock=clock)
    b.start()
    yield clock, sink, b, b.new_recorder("example.com/my-operator", "pod-a")
    await b.shutdown()


async def test_a_first_event_is_created_with_the_new_api_fields(setup: Any) -> None:
    _clock, sink, b, rec = setup
    rec.eventf(POD, None, "Normal", "Scaled", "Scale", "scaled to %d", 3)
    await flush(b)
    (event,) = sink.events()
    assert event["apiVersion"] == "events.k8s.io/v1"
    assert event["metadata"]["namespace"] == "prod"
    assert event["metadata"]["name"].startswith("web-1.")
    assert event["regarding"]["name"] == "web-1"
    assert (event["action"], event["reason"], event["note"], event["type"]) == (
        "Scale",
        "Scaled",
        "scaled to 3",
        "Normal",
    )
    assert event["reportingController"] == "example.com/my-operator"
    assert event["reportingInstance"] == "pod-a"
    assert MICRO.match(event["eventTime"])
    assert "series" not in event


async def test_the_second_occurrence_starts_a_series_and_later_ones_wait_for_the_heartbeat(
    setup: Any,
) -> None:
    clock, sink, b, rec = setup
    rec.eventf(POD, None, "Warning", "Failed", "Sync", "attempt %d", 1)
    await flush(b)
    await clock.step(10)
    rec.eventf(POD, None, "Warning", "Failed", "Sync", "attempt %d", 2)  # isomorphic: note ignored
    await flush(b)
    (event,) = sink.events()
    assert event["series"]["count"] == 2
    for _ in range(3):
        await clock.step(10)
        rec.eventf(POD, None, "Warning", "Failed", "Sync", "again")
    await flush(b)
    assert sink.events()[0]["series"]["count"] == 2  # counted in memory only
    assert [c[0] for c in sink.calls] == ["create", "patch"]
    # Six quiet minutes later the series is finished: its final count is written.
    await clock.step(360)
    await flush(b)
    await clock.step(360)
    await flush(b)
    assert sink.events()[0]["series"]["count"] == 5
    # ...and forgotten: the next occurrence is a new Event.
    rec.eventf(POD, None, "Warning", "Failed", "Sync", "again")
    await flush(b)
    assert len(sink.events()) == 2


async def test_a_long_running_series_is_rewritten_every_30_minutes(setup: Any) -> None:
    clock, sink, b, rec = setup
    for _ in range(2):
        rec.eventf(POD, None, "Normal", "Tick", "Poll", "tick")
    await flush(b)
    for _ in range(36):  # one every 50 s for 30 minutes: never quiet for 6 minutes
        await clock.step(50)
        rec.eventf(POD, None, "Normal", "Tick", "Poll", "tick")
        await flush(b)
    assert sink.events()[0]["series"]["count"] > 2


async def test_bad_input_is_refused(setup: Any) -> None:
    _clock, _sink, _b, rec = setup
    with pytest.raises(ValueError, match="Normal"):
        rec.eventf(POD, None, "Info", "R", "A", "x")
    with pytest.raises(ValueError, match="action"):
        rec.eventf(POD, None, "Normal", "R", "", "x")


async def test_a_long_note_is_cut_to_the_api_limit(setup: Any) -> None:
    _clock, sink, b, rec = setup
    rec.eventf(POD, None, "Normal", "R", "A", "%s", "é" * 2000)
    await flush(b)
    note = sink.events()[0]["note"]
    assert len(note.encode()) <= 1024 and note.endswith("...")


async def test_series_events_are_accepted_by_the_api_servers(rest_client: RestClient, namespace: str) -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm", "namespace": namespace, "uid": "u"},
    }
    async with EventsV1Broadcaster(rest_client) as b:
        rec = b.new_recorder("example.com/my-operator")
        rec.eventf(cm, None, "Normal", "Synced", "Sync", "synced %s", "cm")
        rec.eventf(cm, None, "Normal", "Synced", "Sync", "synced %s", "cm")
        await b.shutdown()  # writes what is queued
    assert (b.written, b.failed) == (2, 0)
    items = (await rest_client.request("GET", f"/apis/events.k8s.io/v1/namespaces/{namespace}/events"))[
        "items"
    ]
    (event,) = items
    assert event["series"]["count"] == 2
    assert event["note"] == "synced cm"
    assert event["reportingController"] == "example.com/my-operator"
