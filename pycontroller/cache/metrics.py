"""Prometheus metrics of shared informers, read at scrape time (no cost on the event path).

client-go exports no informer metrics, so these names are pycontroller's own::

    pycontroller_informer_cached_objects{resource}                  objects in the cache
    pycontroller_informer_synced{resource}                          1 once the first list was processed
    pycontroller_informer_fifo_depth{resource}                      changes/keys waiting in its queue
    pycontroller_informer_handler_backlog{resource,handler}         notifications a handler has yet to process
    pycontroller_informer_handler_notifications_total{resource,handler}   notifications processed
    pycontroller_informer_handler_errors_total{resource,handler}    notifications whose handler raised
    pycontroller_reflector_<what>_total{resource}                   the reflector's counters: lists, relists,
                                                                    list_errors, watches, watch_errors,
                                                                    watch_restarts, stalls, events, bookmarks,
                                                                    bad_input (lines or objects it could not use)

Register once: ``prometheus_client.REGISTRY.register(InformerCollector(factory))`` (the Manager
does this for its factory while it runs). ``describe()`` is empty, so several collectors (several
factories in one process) can share a registry. ``collect()``
reads plain attributes without locks (it may run on the metrics server's thread; the values are
then a moment's snapshot, which is what a scrape is).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from pycontroller.cache.factory import SharedInformerFactory
    from pycontroller.cache.informer import SharedIndexInformer

__all__ = ["InformerCollector"]


class InformerCollector(Collector):
    """Exports the state of every informer of a factory (or of a callable returning informers)."""

    def __init__(self, source: SharedInformerFactory | Callable[[], Iterable[SharedIndexInformer]]) -> None:
        self._source = source

    def describe(self) -> list[Metric]:
        """Nothing up front: the informers (and so the series) are only known at scrape time."""
        return []

    def _informers(self) -> list[SharedIndexInformer]:
        source: Any = self._source
        if callable(source):
            return list(source())
        # metadata-only informers (a factory's second table) are exported too, under their name
        return [*source.informers.values(), *getattr(source, "metadata_informers", {}).values()]

    def collect(self) -> Iterator[Metric]:
        cached = GaugeMetricFamily(
            "pycontroller_informer_cached_objects", "Objects in the informer's cache.", labels=["resource"]
        )
        synced = GaugeMetricFamily(
            "pycontroller_informer_synced",
            "1 once the informer processed its first full list.",
            labels=["resource"],
        )
        depth = GaugeMetricFamily(
            "pycontroller_informer_fifo_depth",
            "Changes (RealFIFO) or object keys (DeltaFIFO) waiting in the informer's queue.",
            labels=["resource"],
        )
        backlog = GaugeMetricFamily(
            "pycontroller_informer_handler_backlog",
            "Notifications buffered for an event handler and not yet processed.",
            labels=["resource", "handler"],
        )
        delivered = CounterMetricFamily(
            "pycontroller_informer_handler_notifications",
            "Notifications an event handler processed.",
            labels=["resource", "handler"],
        )
        errors = CounterMetricFamily(
            "pycontroller_informer_handler_errors",
            "Notifications whose event handler raised.",
            labels=["resource", "handler"],
        )
        reflector = {
            what: CounterMetricFamily(
                f"pycontroller_reflector_{what}", f"Reflector counter: {doc}.", labels=["resource"]
            )
            for what, doc in _REFLECTOR_COUNTERS.items()
        }
        for informer in self._informers():
            resource = informer.name
            stats = informer.reflector_stats
            if stats is not None:
                for what, family in reflector.items():
                    family.add_metric([resource], getattr(stats, what))
            cached.add_metric([resource], len(informer.indexer))
            synced.add_metric([resource], 1.0 if informer.has_synced() else 0.0)
            fifo = informer._fifo
            depth.add_metric([resource], len(fifo) if fifo is not None else 0)
            for registration in informer.registrations:
                labels = [resource, registration.name]
                backlog.add_metric(labels, registration.backlog)
                delivered.add_metric(labels, registration.delivered)
                errors.add_metric(labels, registration.errors)
        yield from (cached, synced, depth, backlog, delivered, errors)
        yield from reflector.values()


_REFLECTOR_COUNTERS = {
    "lists": "successful lists",
    "relists": "lists after the first one",
    "list_errors": "lists that failed",
    "watches": "watches opened",
    "watch_errors": "watches that ended with an error",
    "watch_restarts": "watches replaced without a relist",
    "stalls": "watches replaced after the inactivity timeout",
    "events": "watch events applied to the cache",
    "bookmarks": "bookmarks received",
    "bad_input": "watch lines or objects that could not be used (logged, then the watch restarted)",
}
