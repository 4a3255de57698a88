"""controller-runtime's controller metrics, kept as plain loop-local numbers and exported at scrape time.

Every :class:`~pycontroller.controller.Controller` owns a :class:`ControllerMetrics`: ints and floats
updated by its workers with no lock (they all run on one event loop). One :class:`prometheus_client`
collector, registered in :data:`registry`, turns them into metric families when ``/metrics`` is
scraped. Names and labels are controller-runtime's exactly:

* ``controller_runtime_reconcile_total{controller,result}``, result one of ``success``, ``error``,
  ``requeue``, ``requeue_after`` (all four exported from the start, at 0)
* ``controller_runtime_reconcile_errors_total{controller}``
* ``controller_runtime_terminal_reconcile_errors_total{controller}``
* ``controller_runtime_reconcile_panics_total{controller}``
* ``controller_runtime_reconcile_time_seconds{controller}`` (histogram, controller-runtime's buckets)
* ``controller_runtime_active_workers{controller}``
* ``controller_runtime_max_concurrent_reconciles{controller}``

:data:`registry` (prometheus-client's default registry) is what the Manager serves on ``/metrics``;
metrics you create with prometheus-client's defaults are served too.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric

__all__ = [
    "RECONCILE_TIME_BUCKETS",
    "RESULT_LABELS",
    "ControllerMetrics",
    "controller_metrics",
    "registry",
]

RESULT_LABELS = ("success", "error", "requeue", "requeue_after")
"""The ``result`` label values of ``controller_runtime_reconcile_total``."""

RECONCILE_TIME_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0,
    1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
)  # fmt: skip
"""controller-runtime's upper bounds for ``controller_runtime_reconcile_time_seconds``."""

registry: CollectorRegistry = REGISTRY
"""The registry served on the Manager's ``/metrics``: prometheus-client's default registry, where the
work queues, leader election and process metrics also register (controller-runtime serves one
registry the same way)."""


class ControllerMetrics:
    """The counters of one controller name. Updated from its event loop only; read at scrape time.

    Attributes are plain numbers: ``total`` (a dict result -> count), ``errors``, ``terminal_errors``,
    ``panics``, ``active_workers``, ``max_concurrent_reconciles``; :meth:`observe` records a reconcile
    duration. A scrape from another thread may see a histogram mid-update by one observation; that is
    the price of no lock per operation, and Prometheus tolerates it.
    """

    __slots__ = (
        "_bucket_counts",
        "_time_count",
        "_time_sum",
        "active_workers",
        "errors",
        "max_concurrent_reconciles",
        "name",
        "panics",
        "terminal_errors",
        "total",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.total: dict[str, int] = dict.fromkeys(RESULT_LABELS, 0)
        self.errors = 0
        self.terminal_errors = 0
        self.panics = 0
        self.active_workers = 0
        self.max_concurrent_reconciles = 0
        self._bucket_counts = [0] * (len(RECONCILE_TIME_BUCKETS) + 1)  # last one is +Inf
        self._time_sum = 0.0
        self._time_count = 0

    def observe(self, seconds: float) -> None:
        """Record one reconcile's duration. Never suspends, takes no lock."""
        self._bucket_counts[bisect.bisect_left(RECONCILE_TIME_BUCKETS, seconds)] += 1
        self._time_sum += seconds
        self._time_count += 1

    def histogram(self) -> tuple[list[tuple[str, float]], float]:
        """Cumulative ``(le, count)`` buckets (ending with ``+Inf``) and the sum, for export."""
        out: list[tuple[str, float]] = []
        running = 0
        counts = list(self._bucket_counts)
        for bound, count in zip(RECONCILE_TIME_BUCKETS, counts, strict=False):
            running += count
            out.append((_le(bound), float(running)))
        running += counts[-1]
        out.append(("+Inf", float(running)))
        return out, self._time_sum


def _le(bound: float) -> str:
    return repr(float(bound))


_by_name: dict[str, ControllerMetrics] = {}
_by_name_lock = threading.Lock()


def controller_metrics(name: str) -> ControllerMetrics:
    """The metrics of controller ``name``, created (with results pre-set to 0) on first use.

    A controller re-created under the same name continues the same counters, as a Go metric vector would.
    """
    with _by_name_lock:
        metrics = _by_name.get(name)
        if metrics is None:
            metrics = _by_name[name] = ControllerMetrics(name)
        return metrics


class _ControllerCollector:
    """Exports every :class:`ControllerMetrics` at scrape time."""

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        with _by_name_lock:
            all_metrics = sorted(_by_name.values(), key=lambda m: m.name)
        total = CounterMetricFamily(
            "controller_runtime_reconcile_total",
            "Total number of reconciliations per controller",
            labels=["controller", "result"],
        )
        errors = CounterMetricFamily(
            "controller_runtime_reconcile_errors_total",
            "Total number of reconciliation errors per controller",
            labels=["controller"],
        )
        terminal = CounterMetricFamily(
            "controller_runtime_terminal_reconcile_errors_total",
            "Total number of terminal reconciliation errors per controller",
            labels=["controller"],
        )
        panics = CounterMetricFamily(
            "controller_runtime_reconcile_panics_total",
            "Total number of reconciliation panics per controller",
            labels=["controller"],
        )
        time_hist = HistogramMetricFamily(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            labels=["controller"],
        )
        active = GaugeMetricFamily(
            "controller_runtime_active_workers",
            "Number of currently used workers per controller",
            labels=["controller"],
        )
        max_conc = GaugeMetricFamily(
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller",
            labels=["controller"],
        )
        for m in all_metrics:
            labels = [m.name]
            for result in RESULT_LABELS:
                total.add_metric([m.name, result], m.total[result])
            errors.add_metric(labels, m.errors)
            terminal.add_metric(labels, m.terminal_errors)
            panics.add_metric(labels, m.panics)
            buckets, sum_value = m.histogram()
            time_hist.add_metric(labels, buckets, sum_value)
            active.add_metric(labels, m.active_workers)
            max_conc.add_metric(labels, m.max_concurrent_reconciles)
        yield from (total, errors, terminal, panics, time_hist, active, max_conc)


registry.register(_ControllerCollector())
