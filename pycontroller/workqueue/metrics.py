"""Work queue metrics: plain loop-local counters, exported to Prometheus at scrape time.

prometheus-client's own metric objects take a lock on every update (about 0.5-2 us each), which
would make a work queue several times slower. Instead every named queue owns a
:class:`QueueMetrics` of plain ints, floats and lists that only its event loop writes, and one
:class:`WorkQueueCollector` per Prometheus registry reads them all when the registry is scraped.

The exported families are client-go's, with the label ``name`` (the queue's name) plus any
constant labels of the :class:`MetricsProvider` (controller-runtime adds ``controller``):

====================================================  =========  =========================================
``workqueue_depth``                                   gauge      items waiting to be handed out
``workqueue_adds_total``                              counter    items accepted by ``add``
``workqueue_queue_duration_seconds``                  histogram  time from add to get
``workqueue_work_duration_seconds``                   histogram  time from get to done
``workqueue_unfinished_work_seconds``                 gauge      summed age of items being processed
``workqueue_longest_running_processor_seconds``       gauge      age of the oldest item being processed
``workqueue_retries_total``                           counter    ``add_after`` / ``add_rate_limited`` calls
====================================================  =========  =========================================

Histogram buckets are client-go's: 1e-8 s to 10 s, exponential by 10. Durations use the queue's
injected clock, so tests read exact values with a fake clock.

A scrape runs in whatever thread serves ``/metrics``; it copies the counters without a lock. Values
from one scrape may be a few operations apart from each other, never torn or corrupt.
"""

from __future__ import annotations

import logging
import threading
import weakref
from bisect import bisect_left
from collections.abc import Callable, Collection, Hashable, Iterator, Mapping
from typing import Any

from prometheus_client.core import REGISTRY, CollectorRegistry, CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["BUCKETS", "MetricsProvider", "QueueMetrics", "WorkQueueCollector", "default_metrics_provider"]

log = logging.getLogger(__name__)

#: client-go's histogram upper bounds (seconds): 10 ns .. 10 s, exponential by 10.
BUCKETS: tuple[float, ...] = tuple(10.0**e for e in range(-8, 2))


class QueueMetrics:
    """The counters of one named queue. Written only by the queue's event loop; read by scrapes.

    Invariants (between queue operations):
    ``add_times`` holds exactly the items that are dirty (added, not yet handed out), with the
    time they were first added; ``start_times`` holds exactly the items being processed, with
    the time they were handed out; ``queue_counts`` / ``work_counts`` have ``len(BUCKETS) + 1``
    non-cumulative bucket counts (the last is +Inf).
    """

    __slots__ = (
        "__weakref__",
        "add_times",
        "adds",
        "dirty",
        "labels",
        "now",
        "queue_counts",
        "queue_sum",
        "retries",
        "start_times",
        "work_counts",
        "work_sum",
    )

    def __init__(
        self, labels: Mapping[str, str], now: Callable[[], float], dirty: Collection[Any] = ()
    ) -> None:
        self.labels: dict[str, str] = dict(labels)
        self.now = now
        #: the queue's dirty set; its size is ``workqueue_depth`` (client-go counts the same items)
        self.dirty = dirty
        self.adds = 0
        self.retries = 0
        self.add_times: dict[Hashable, float] = {}
        self.start_times: dict[Hashable, float] = {}
        self.queue_counts = [0] * (len(BUCKETS) + 1)
        self.work_counts = [0] * (len(BUCKETS) + 1)
        self.queue_sum = 0.0
        self.work_sum = 0.0

    # The queue calls these four; each is a handful of dict and list operations, no lock.

    def added(self, item: Hashable) -> None:
        """``item`` became dirty (accepted by ``add``)."""
        self.adds += 1
        times = self.add_times
        if item not in times:
            times[item] = self.now()

    def taken(self, item: Hashable) -> None:
        """``item`` was handed to a worker."""
        now = self.now()
        start = self.add_times.pop(item, None)
        if start is not None:
            elapsed = now - start
            self.queue_counts[bisect_left(BUCKETS, elapsed)] += 1
            self.queue_sum += elapsed
        self.start_times[item] = now

    def finished(self, item: Hashable) -> None:
        """A worker called ``done(item)``."""
        start = self.start_times.pop(item, None)
        if start is not None:
            elapsed = self.now() - start
            self.work_counts[bisect_left(BUCKETS, elapsed)] += 1
            self.work_sum += elapsed

    def untaken(self, item: Hashable) -> None:
        """``item`` went back to the queue without being processed (its getter was cancelled)."""
        start = self.start_times.pop(item, None)
        if start is not None and item not in self.add_times:
            self.add_times[item] = start


def _histogram(name: str, doc: str, labels: list[str]) -> HistogramMetricFamily:
    return HistogramMetricFamily(name, doc, labels=labels)


def _cumulative(counts: list[int]) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    total = 0
    for bound, count in zip(BUCKETS, counts, strict=False):
        total += count
        out.append((repr(bound), float(total)))
    out.append(("+Inf", float(total + counts[-1])))
    return out


class WorkQueueCollector(Collector):
    """A prometheus-client collector exporting every live named queue of one registry.

    Created and registered by :class:`MetricsProvider` (once per registry); queues are tracked
    weakly, so a queue that is garbage collected stops being exported even if never shut down.
    Two live queues with the same label values cannot both be exported: the later one replaces
    the earlier (a warning is logged).
    """

    def __init__(self) -> None:
        self._queues: dict[tuple[tuple[str, str], ...], weakref.ref[QueueMetrics]] = {}

    def track(self, metrics: QueueMetrics) -> None:
        """Export ``metrics`` until :meth:`untrack` or until it is garbage collected."""
        key = tuple(sorted(metrics.labels.items()))
        old = self._queues.get(key)
        if old is not None and old() is not None and old() is not metrics:
            log.warning("work queue metrics %s were re-registered; exporting the newer queue", dict(key))
        self._queues[key] = weakref.ref(metrics)

    def untrack(self, metrics: QueueMetrics) -> None:
        """Stop exporting ``metrics`` (a queue shutting down)."""
        key = tuple(sorted(metrics.labels.items()))
        ref = self._queues.get(key)
        if ref is not None and ref() is metrics:
            del self._queues[key]

    def describe(self) -> Iterator[Metric]:
        """The seven families, without samples (so registries know the names; no duplicates)."""
        yield from self._families([]).values()

    @staticmethod
    def _families(label_names: list[str]) -> dict[str, Any]:
        return {
            "depth": GaugeMetricFamily("workqueue_depth", "Current depth of workqueue", labels=label_names),
            "adds": CounterMetricFamily(
                "workqueue_adds", "Total number of adds handled by workqueue", labels=label_names
            ),
            "queue": _histogram(
                "workqueue_queue_duration_seconds",
                "How long in seconds an item stays in workqueue before being requested.",
                label_names,
            ),
            "work": _histogram(
                "workqueue_work_duration_seconds",
                "How long in seconds processing an item from workqueue takes.",
                label_names,
            ),
            "unfinished": GaugeMetricFamily(
                "workqueue_unfinished_work_seconds",
                "How many seconds of work has done that is in progress and hasn't been observed by "
                "work_duration. Large values indicate stuck threads. One can deduce the number of "
                "stuck threads by observing the rate at which this increases.",
                labels=label_names,
            ),
            "longest": GaugeMetricFamily(
                "workqueue_longest_running_processor_seconds",
                "How many seconds has the longest running processor for workqueue been running.",
                labels=label_names,
            ),
            "retries": CounterMetricFamily(
                "workqueue_retries", "Total number of retries handled by workqueue", labels=label_names
            ),
        }

    def collect(self) -> Iterator[Metric]:
        live = [m for m in (ref() for ref in list(self._queues.values())) if m is not None]
        label_names = sorted({k for m in live for k in m.labels})
        fams = self._families(label_names)
        for m in live:
            values = [m.labels.get(k, "") for k in label_names]
            now = m.now()
            # Copies are single C-level calls: atomic with respect to the loop thread.
            starts = tuple(m.start_times.values())
            queue_counts = list(m.queue_counts)
            work_counts = list(m.work_counts)
            fams["depth"].add_metric(values, float(len(m.dirty)))
            fams["adds"].add_metric(values, float(m.adds))
            fams["retries"].add_metric(values, float(m.retries))
            fams["queue"].add_metric(values, _cumulative(queue_counts), m.queue_sum)
            fams["work"].add_metric(values, _cumulative(work_counts), m.work_sum)
            fams["unfinished"].add_metric(values, sum(max(0.0, now - s) for s in starts))
            fams["longest"].add_metric(values, max((max(0.0, now - s) for s in starts), default=0.0))
        yield from fams.values()


# One collector per registry; weak keys so a dropped registry (tests make many) is not kept alive.
_collectors: weakref.WeakKeyDictionary[CollectorRegistry, WorkQueueCollector] = weakref.WeakKeyDictionary()
_collectors_lock = threading.Lock()


def _collector_for(registry: CollectorRegistry) -> WorkQueueCollector:
    with _collectors_lock:
        collector = _collectors.get(registry)
        if collector is None:
            collector = WorkQueueCollector()
            registry.register(collector)
            _collectors[registry] = collector
        return collector


class MetricsProvider:
    """Where named queues export their metrics: a registry plus constant labels.

    ``registry`` defaults to ``prometheus_client.REGISTRY``. One :class:`WorkQueueCollector` is
    registered per registry, lazily, the first time a queue using it is created; any number of
    providers (for example one per controller, with ``const_labels={"controller": name}``) share it.
    Never suspends; safe to create from any thread.
    """

    __slots__ = ("const_labels", "registry")

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        const_labels: Mapping[str, str] | None = None,
    ) -> None:
        labels = dict(const_labels or {})
        for key, value in labels.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError("metric label names and values must be str")
            if key == "name":
                raise ValueError("the label 'name' is the queue's name; it cannot be a constant label")
        self.registry = registry if registry is not None else REGISTRY
        self.const_labels = labels

    def new_queue_metrics(
        self, name: str, now: Callable[[], float], depth_of: Collection[Any]
    ) -> QueueMetrics:
        """Counters for the queue called ``name``, exported until :meth:`release`."""
        metrics = QueueMetrics({"name": name, **self.const_labels}, now, depth_of)
        _collector_for(self.registry).track(metrics)
        return metrics

    def release(self, metrics: QueueMetrics) -> None:
        """Stop exporting ``metrics`` (called when its queue shuts down)."""
        _collector_for(self.registry).untrack(metrics)


_DEFAULT_PROVIDER: MetricsProvider | None = None


def default_metrics_provider() -> MetricsProvider:
    """The provider named queues use when given none: ``prometheus_client.REGISTRY``, no extra labels."""
    global _DEFAULT_PROVIDER
    if _DEFAULT_PROVIDER is None:
        _DEFAULT_PROVIDER = MetricsProvider()
    return _DEFAULT_PROVIDER
