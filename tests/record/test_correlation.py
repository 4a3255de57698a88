"""Events through client-go's correlator: counting, aggregation after 10, the spam filter after 25,
names, namespaces and types, against an in-memory sink on fake time."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from pycontroller.errors import InvalidObjectError
from pycontroller.record import EventBroadcaster, EventRecorder
from pycontroller.testing import FakeClock
from tests.record.memsink import MemSink

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web-1", "namespace": "prod", "uid": "u-1", "resourceVersion": "7"},
}


async def flush(b: EventBroadcaster) -> None:
    for _ in range(200):
        await asyncio.sleep(0)
        if b.queued() == 0:
            break
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.fixture
async def setup() -> Any:
    clock = FakeClock()
    sink = MemSink()
    b = EventBroadcaster(sink, clock=clock, rng=random.Random(1))
    b.start()
    yield clock, sink, b, b.new_recorder("test-controller")
    await b.shutdown()


async def test_an_event_becomes_a_core_v1_event_named_after_the_object_and_the_time(setup: Any) -> None:
    clock, sink, b, rec = setup
    rec.event(POD, "Normal", "Synced", "Pod synced successfully")
    await flush(b)
    (event,) = sink.events()
    nanos = int(clock.wall() * 1e9)
    assert event["metadata"]["name"] == f"web-1.{nanos:x}"
    assert event["metadata"]["namespace"] == "prod"
    assert event["involvedObject"] == {
        "kind": "Pod",
        "apiVersion": "v1",
        "name": "web-1",
        "namespace": "prod",
        "uid": "u-1",
        "resourceVersion": "7",
    }
    assert (event["type"], event["reason"], event["message"], event["count"]) == (
        "Normal",
        "Synced",
        "Pod synced successfully",
        1,
    )
    assert event["source"] == {"component": "test-controller"}
    assert event["firstTimestamp"] == event["lastTimestamp"] == "2023-11-14T22:13:20Z"


async def test_repeats_of_one_event_patch_its_count_and_last_timestamp(setup: Any) -> None:
    clock, sink, b, rec = setup
    rec.event(POD, "Normal", "Synced", "same")
    await flush(b)
    for _ in range(4):
        await clock.step(30)
        rec.event(POD, "Normal", "Synced", "same")
    await flush(b)
    (event,) = sink.events()
    assert event["count"] == 5
    assert event["firstTimestamp"] == "2023-11-14T22:13:20Z"
    assert event["lastTimestamp"] == "2023-11-14T22:15:20Z"
    assert [c[0] for c in sink.calls] == ["create", "patch", "patch", "patch", "patch"]


async def test_the_tenth_distinct_message_of_a_reason_is_combined_and_later_ones_count_on_it(
    setup: Any,
) -> None:
    _clock, sink, b, rec = setup
    for i in range(12):
        rec.eventf(POD, "Warning", "FailedSync", "attempt %d failed", i)
    await flush(b)
    messages = sorted(e["message"] for e in sink.events())
    assert len(sink.events()) == 10
    assert [f"attempt {i} failed" for i in range(9)] == sorted(m for m in messages if m.startswith("attempt"))
    combined = [e for e in sink.events() if e["message"].startswith("(combined from similar events): ")]
    assert len(combined) == 1
    # The 10th created it, the 11th and 12th patched it (count 3, message of the latest).
    assert combined[0]["count"] == 3
    assert combined[0]["message"] == "(combined from similar events): attempt 11 failed"
    assert combined[0]["metadata"]["name"].startswith("web-1.")


async def test_aggregation_starts_over_after_600_quiet_seconds(setup: Any) -> None:
    clock, sink, b, rec = setup
    for i in range(9):
        rec.eventf(POD, "Warning", "FailedSync", "round one %d", i)
    await flush(b)
    await clock.step(601)
    rec.eventf(POD, "Warning", "FailedSync", "round two %d", 0)
    await flush(b)
    assert not any(e["message"].startswith("(combined") for e in sink.events())
    assert len(sink.events()) == 10


async def test_the_spam_filter_lets_25_events_per_object_through_then_one_per_300_seconds(
    setup: Any,
) -> None:
    clock, sink, b, rec = setup
    for _ in range(30):
        rec.event(POD, "Normal", "Tick", "tick")
    await flush(b)
    (event,) = sink.events()
    assert event["count"] == 25
    assert len(sink.calls) == 25
    await clock.step(299)
    rec.event(POD, "Normal", "Tick", "tick")
    await flush(b)
    assert event["count"] == 25
    await clock.step(1)
    rec.event(POD, "Normal", "Tick", "tick")
    await flush(b)
    # As in client-go, the counter also counted the filtered repeats: 30 + 1 filtered + this one.
    assert sink.events()[0]["count"] == 32
    assert len(sink.calls) == 26
    # Another object has its own bucket.
    other = {**POD, "metadata": {**POD["metadata"], "name": "web-2", "uid": "u-2"}}
    rec.event(other, "Normal", "Tick", "tick")
    await flush(b)
    assert len(sink.events()) == 2


async def test_a_cluster_scoped_object_gets_its_events_in_default(setup: Any) -> None:
    _clock, sink, b, rec = setup
    rec.event({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}, "Normal", "Ready", "ok")
    await flush(b)
    (event,) = sink.events()
    assert event["metadata"]["namespace"] == "default"
    assert "namespace" not in event["involvedObject"]


async def test_annotated_events_carry_their_annotations(setup: Any) -> None:
    _clock, sink, b, rec = setup
    rec.annotated_eventf(POD, {"a": "b"}, "Normal", "Scaled", "to %d", 3)
    await flush(b)
    (event,) = sink.events()
    assert event["metadata"]["annotations"] == {"a": "b"}
    assert event["message"] == "to 3"


async def test_an_unknown_event_type_is_refused_with_a_message(setup: Any) -> None:
    _clock, _sink, _b, rec = setup
    with pytest.raises(ValueError, match=r"'Error'.*Normal.*Warning"):
        rec.event(POD, "Error", "Boom", "x")


async def test_an_object_without_a_name_is_refused(setup: Any) -> None:
    _clock, _sink, _b, rec = setup
    with pytest.raises(InvalidObjectError, match="name"):
        rec.event({"kind": "Pod", "metadata": {}}, "Normal", "X", "x")
    with pytest.raises(InvalidObjectError):
        rec.event(42, "Normal", "X", "x")


async def test_two_events_in_the_same_instant_get_distinct_names(setup: Any) -> None:
    _clock, sink, b, rec = setup
    rec.event(POD, "Normal", "A", "a")
    rec.event(POD, "Normal", "B", "b")
    await flush(b)
    names = {e["metadata"]["name"] for e in sink.events()}
    assert len(names) == 2


def test_a_recorder_needs_a_component() -> None:
    with pytest.raises(ValueError, match="component"):
        EventRecorder(EventBroadcaster(), "")


async def test_typed_kubernetes_asyncio_objects_are_referenced_like_dicts(setup: Any) -> None:
    from kubernetes_asyncio.client import V1ConfigMap, V1ObjectMeta

    _clock, sink, b, rec = setup
    cm = V1ConfigMap(
        api_version="v1", kind="ConfigMap", metadata=V1ObjectMeta(name="cm", namespace="ns", uid="u")
    )
    rec.event(cm, "Normal", "Synced", "ok")
    await flush(b)
    (event,) = sink.events()
    assert event["involvedObject"] == {
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "name": "cm",
        "namespace": "ns",
        "uid": "u",
    }
    assert event["metadata"]["namespace"] == "ns"
