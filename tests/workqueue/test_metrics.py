"""Metrics: client-go's names and values, read back from a Prometheus registry, timed by a fake clock."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from pycontroller.testing import FakeClock
from pycontroller.workqueue import BUCKETS, DelayingQueue, MetricsProvider, Queue, RateLimitingQueue

LABELS = {"name": "q", "controller": "foo"}


def value(registry: CollectorRegistry, metric: str, **extra: str) -> float | None:
    return registry.get_sample_value(metric, {**LABELS, **extra})


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def provider(registry: CollectorRegistry) -> MetricsProvider:
    return MetricsProvider(registry=registry, const_labels={"controller": "foo"})


async def test_counts_depth_adds_and_durations_with_the_queues_clock(
    registry: CollectorRegistry, provider: MetricsProvider
) -> None:
    clock = FakeClock()
    q: Queue[str] = Queue(name="q", clock=clock, metrics=provider)
    q.add("a")
    q.add("b")
    q.add("a")  # deduplicated: not an add
    assert value(registry, "workqueue_adds_total") == 2
    assert value(registry, "workqueue_depth") == 2

    clock.advance(0.5)
    a, _ = await q.get()
    assert value(registry, "workqueue_depth") == 1
    assert value(registry, "workqueue_queue_duration_seconds_count") == 1
    assert value(registry, "workqueue_queue_duration_seconds_sum") == 0.5
    assert value(registry, "workqueue_queue_duration_seconds_bucket", le="0.1") == 0
    assert value(registry, "workqueue_queue_duration_seconds_bucket", le="1.0") == 1
    assert value(registry, "workqueue_queue_duration_seconds_bucket", le="+Inf") == 1

    clock.advance(2)
    b, _ = await q.get()
    assert value(registry, "workqueue_unfinished_work_seconds") == 2.0
    assert value(registry, "workqueue_longest_running_processor_seconds") == 2.0
    clock.advance(1)
    assert value(registry, "workqueue_unfinished_work_seconds") == 4.0  # 3 s of "a" + 1 s of "b"
    assert value(registry, "workqueue_longest_running_processor_seconds") == 3.0

    q.done(a)
    assert value(registry, "workqueue_work_duration_seconds_count") == 1
    assert value(registry, "workqueue_work_duration_seconds_sum") == 3.0
    assert value(registry, "workqueue_work_duration_seconds_bucket", le="1.0") == 0
    assert value(registry, "workqueue_work_duration_seconds_bucket", le="10.0") == 1
    assert value(registry, "workqueue_unfinished_work_seconds") == 1.0
    q.done(b)
    assert value(registry, "workqueue_longest_running_processor_seconds") == 0.0
    assert value(registry, "workqueue_depth") == 0


async def test_an_item_re_added_while_processing_counts_in_depth_until_taken_again(
    registry: CollectorRegistry, provider: MetricsProvider
) -> None:
    clock = FakeClock()
    q: Queue[str] = Queue(name="q", clock=clock, metrics=provider)
    q.add("a")
    await q.get()
    q.add("a")
    assert value(registry, "workqueue_depth") == 1  # client-go counts dirty items
    assert value(registry, "workqueue_adds_total") == 2


async def test_retries_count_add_after_and_add_rate_limited(
    registry: CollectorRegistry, provider: MetricsProvider
) -> None:
    q: RateLimitingQueue[str] = RateLimitingQueue(name="q", clock=FakeClock(), metrics=provider)
    q.add_after("a", 1)
    q.add_after("b", 0)
    q.add_rate_limited("c")
    assert value(registry, "workqueue_retries_total") == 3


def test_histograms_use_client_gos_buckets(registry: CollectorRegistry, provider: MetricsProvider) -> None:
    assert BUCKETS == (1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
    q: Queue[str] = Queue(name="q", clock=FakeClock(), metrics=provider)
    text = generate_latest(registry).decode()
    for name in (
        "workqueue_depth",
        "workqueue_adds_total",
        "workqueue_queue_duration_seconds",
        "workqueue_work_duration_seconds",
        "workqueue_unfinished_work_seconds",
        "workqueue_longest_running_processor_seconds",
        "workqueue_retries_total",
    ):
        assert f'{name}{{controller="foo",name="q"}}' in text or f"{name}_bucket" in text
    assert 'le="1e-08"' in text
    q.shut_down()


async def test_unnamed_queues_export_nothing(registry: CollectorRegistry, provider: MetricsProvider) -> None:
    q: Queue[str] = Queue(clock=FakeClock(), metrics=provider)
    q.add("a")
    assert "workqueue_adds_total{" not in generate_latest(registry).decode()


async def test_shut_down_stops_exporting_the_queues_metrics(
    registry: CollectorRegistry, provider: MetricsProvider
) -> None:
    q: DelayingQueue[str] = DelayingQueue(name="q", clock=FakeClock(), metrics=provider)
    q.add("a")
    assert value(registry, "workqueue_adds_total") == 1
    q.shut_down()
    assert value(registry, "workqueue_adds_total") is None


async def test_several_queues_and_providers_share_one_registry(registry: CollectorRegistry) -> None:
    one = MetricsProvider(registry=registry, const_labels={"controller": "one"})
    two = MetricsProvider(registry=registry, const_labels={"controller": "two"})
    q1: Queue[str] = Queue(name="one", clock=FakeClock(), metrics=one)
    q2: Queue[str] = Queue(name="two", clock=FakeClock(), metrics=two)
    q1.add("a")
    q2.add("a")
    q2.add("b")
    assert registry.get_sample_value("workqueue_depth", {"name": "one", "controller": "one"}) == 1
    assert registry.get_sample_value("workqueue_depth", {"name": "two", "controller": "two"}) == 2


def test_the_name_label_cannot_be_a_constant_label() -> None:
    with pytest.raises(ValueError):
        MetricsProvider(const_labels={"name": "x"})
    with pytest.raises(TypeError):
        MetricsProvider(const_labels={"controller": 1})  # type: ignore[dict-item]


async def test_named_queues_export_to_the_global_registry_by_default() -> None:
    from prometheus_client import REGISTRY

    q: Queue[str] = Queue(name="test-default-registry-queue", clock=FakeClock())
    q2: Queue[str] = Queue(name="test-default-registry-queue-2", clock=FakeClock())
    q.add("a")
    labels = {"name": "test-default-registry-queue"}
    assert REGISTRY.get_sample_value("workqueue_adds_total", labels) == 1
    q.shut_down()
    q2.shut_down()
    assert REGISTRY.get_sample_value("workqueue_adds_total", labels) is None


async def test_a_filtered_scrape_finds_the_workqueue_families(
    registry: CollectorRegistry, provider: MetricsProvider
) -> None:
    q: Queue[str] = Queue(name="q", clock=FakeClock(), metrics=provider)
    q.add("a")
    restricted = registry.restricted_registry(["workqueue_depth"])
    text = generate_latest(restricted).decode()  # type: ignore[arg-type]
    assert 'workqueue_depth{controller="foo",name="q"} 1.0' in text
    q.shut_down()


async def test_a_garbage_collected_queue_stops_being_exported(
    registry: CollectorRegistry, provider: MetricsProvider
) -> None:
    import gc

    q: Queue[str] | None = Queue(name="q", clock=FakeClock(), metrics=provider)
    assert q is not None
    q.add("a")
    assert value(registry, "workqueue_depth") == 1
    q = None
    gc.collect()
    assert value(registry, "workqueue_depth") is None


async def test_a_second_live_queue_with_the_same_labels_replaces_the_first(
    registry: CollectorRegistry, provider: MetricsProvider, caplog: pytest.LogCaptureFixture
) -> None:
    first: Queue[str] = Queue(name="q", clock=FakeClock(), metrics=provider)
    second: Queue[str] = Queue(name="q", clock=FakeClock(), metrics=provider)
    first.add("a")
    second.add("a")
    second.add("b")
    assert value(registry, "workqueue_depth") == 2
    assert "re-registered" in caplog.text
    first.shut_down()  # releasing the replaced queue leaves the newer one exported
    assert value(registry, "workqueue_depth") == 2
