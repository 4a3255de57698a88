"""The ``leader_election_master_status{name}`` gauge, exported at scrape time.

client-go (through component-base) reports 1 while a process leads the lease called ``name`` and 0
while it is a standby. Live electors register themselves here (weakly); a custom collector reads
them at scrape time, so nothing is written per renewal. The collector is registered on
prometheus_client's default ``REGISTRY`` when this module is imported; register
:data:`COLLECTOR` on another registry with :func:`register_metrics` as well if you serve one.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from typing import Protocol

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["COLLECTOR", "LeaderElectionCollector", "register_metrics"]


class _Reporting(Protocol):
    @property
    def name(self) -> str: ...

    def is_leader(self) -> bool: ...


class LeaderElectionCollector(Collector):
    """Yields ``leader_election_master_status`` for every live elector (1 leading, 0 standby).

    Two electors with the same name report the maximum (1 if either leads).
    """

    def __init__(self) -> None:
        self._electors: weakref.WeakSet[_Reporting] = weakref.WeakSet()
        self._lock = threading.Lock()

    def track(self, elector: _Reporting) -> None:
        """Report ``elector`` until it is garbage collected. Never suspends."""
        with self._lock:
            self._electors.add(elector)

    def values(self) -> dict[str, int]:
        """The current gauge values by lease name (what a scrape would show)."""
        with self._lock:
            electors = list(self._electors)
        out: dict[str, int] = {}
        for elector in electors:
            out[elector.name] = max(out.get(elector.name, 0), 1 if elector.is_leader() else 0)
        return out

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "leader_election_master_status",
            "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, "
            "1 indicates master. 'name' is the string used to identify the lease. Please make sure "
            "to group by name.",
            labels=["name"],
        )
        for name, value in sorted(self.values().items()):
            family.add_metric([name], value)
        yield family


COLLECTOR = LeaderElectionCollector()


def register_metrics(registry: CollectorRegistry) -> None:
    """Also export the gauge on ``registry``. Raises ValueError if already registered there."""
    registry.register(COLLECTOR)


REGISTRY.register(COLLECTOR)
