"""controller-runtime's webhook metrics, as loop-local numbers exported at scrape time.

One :class:`WebhookMetrics` per webhook path (the ``webhook`` label), updated by the server's request
handler without a lock (one event loop); a collector registered in :data:`pycontroller.metrics.registry`
turns them into:

* ``controller_runtime_webhook_requests_total{webhook,code}`` (HTTP status codes answered)
* ``controller_runtime_webhook_latency_seconds{webhook}`` (histogram, Prometheus' default buckets)
* ``controller_runtime_webhook_requests_in_flight{webhook}``
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric

from pycontroller.metrics import registry

__all__ = ["LATENCY_BUCKETS", "WebhookMetrics", "webhook_metrics"]

LATENCY_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds of ``controller_runtime_webhook_latency_seconds`` (prometheus' DefBuckets)."""


class WebhookMetrics:
    """The counters of one webhook path: ``codes`` (HTTP code -> count), ``in_flight``, latency."""

    __slots__ = ("_buckets", "_count", "_sum", "codes", "in_flight", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self.codes: dict[int, int] = {}
        self.in_flight = 0
        self._buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self._sum = 0.0
        self._count = 0

    def observe(self, code: int, seconds: float) -> None:
        """Count one answered request. Never suspends, takes no lock."""
        self.codes[code] = self.codes.get(code, 0) + 1
        self._buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self._sum += seconds
        self._count += 1

    def histogram(self) -> tuple[list[tuple[str, float]], float]:
        out: list[tuple[str, float]] = []
        running = 0
        counts = list(self._buckets)
        for bound, count in zip(LATENCY_BUCKETS, counts, strict=False):
            running += count
            out.append((repr(bound), float(running)))
        out.append(("+Inf", float(running + counts[-1])))
        return out, self._sum


_by_path: dict[str, WebhookMetrics] = {}
_lock = threading.Lock()


def webhook_metrics(path: str) -> WebhookMetrics:
    """The metrics of webhook ``path``, created on first use (shared by servers serving that path)."""
    with _lock:
        metrics = _by_path.get(path)
        if metrics is None:
            metrics = _by_path[path] = WebhookMetrics(path)
        return metrics


class _WebhookCollector:
    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        with _lock:
            items = sorted(_by_path.values(), key=lambda m: m.path)
        total = CounterMetricFamily(
            "controller_runtime_webhook_requests_total",
            "Total number of admission requests by HTTP status code.",
            labels=["webhook", "code"],
        )
        latency = HistogramMetricFamily(
            "controller_runtime_webhook_latency_seconds",
            "Histogram of the latency of processing admission requests",
            labels=["webhook"],
        )
        in_flight = GaugeMetricFamily(
            "controller_runtime_webhook_requests_in_flight",
            "Current number of admission requests being served.",
            labels=["webhook"],
        )
        for m in items:
            for code, count in sorted(dict(m.codes).items()):
                total.add_metric([m.path, str(code)], count)
            buckets, total_seconds = m.histogram()
            latency.add_metric([m.path], buckets, total_seconds)
            in_flight.add_metric([m.path], m.in_flight)
        yield from (total, latency, in_flight)


registry.register(_WebhookCollector())
