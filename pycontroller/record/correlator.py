"""client-go's event correlator (``tools/record/events_cache.go``) on core/v1 Event dicts.

Every event passes, in order:

1. **Aggregation** (:class:`EventAggregator`): events that differ only by message are grouped by
   (source, involved object, type, reason, reporting controller/instance). Once 10 distinct
   messages were seen in a group, each within 600 s of the previous, the event is replaced by one
   "(combined from similar events): <message>" event, keyed by the group, so later ones count on it.
2. **Counting** (:class:`EventLogger`): an event seen before under the same key becomes a PATCH of
   the existing Event (``count`` + 1, ``lastTimestamp``, ``message``) instead of a new object.
3. **Spam filter** (:class:`SpamFilter`): a token bucket per (source, involved object), burst 25,
   refilled at one token per 300 s; an event with no token is dropped.

All caches are LRUs of 4096 entries. Times come from the injected clock (monotonic for intervals
and buckets, wall for timestamps and names). Single-threaded: used by the broadcaster's one writer.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import attrs
from cachetools import LRUCache

from pycontroller.clock import Clock
from pycontroller.leaderelection.record import format_time

__all__ = [
    "AGGREGATE_INTERVAL",
    "AGGREGATE_MAX_EVENTS",
    "LRU_SIZE",
    "SPAM_BURST",
    "SPAM_QPS",
    "CorrelateResult",
    "EventAggregator",
    "EventCorrelator",
    "EventLogger",
    "SpamFilter",
    "aggregate_key",
    "event_key",
    "spam_key",
]

LRU_SIZE = 4096
AGGREGATE_MAX_EVENTS = 10
AGGREGATE_INTERVAL = 600.0
SPAM_BURST = 25
SPAM_QPS = 1.0 / 300.0
COMBINED_PREFIX = "(combined from similar events): "

Event = dict[str, Any]


def _ref_parts(event: Event) -> list[str]:
    source = event.get("source") or {}
    ref = event.get("involvedObject") or {}
    return [
        str(source.get("component") or ""),
        str(source.get("host") or ""),
        str(ref.get("kind") or ""),
        str(ref.get("namespace") or ""),
        str(ref.get("name") or ""),
    ]


def event_key(event: Event) -> str:
    """The full identity of an event: source, involved object, type, reason and message."""
    ref = event.get("involvedObject") or {}
    return "".join(
        [
            *_ref_parts(event),
            str(ref.get("fieldPath") or ""),
            str(ref.get("uid") or ""),
            str(ref.get("apiVersion") or ""),
            str(event.get("type") or ""),
            str(event.get("reason") or ""),
            str(event.get("message") or ""),
        ]
    )


def spam_key(event: Event) -> str:
    """What the spam filter buckets by: source and involved object."""
    ref = event.get("involvedObject") or {}
    return "".join([*_ref_parts(event), str(ref.get("uid") or ""), str(ref.get("apiVersion") or "")])


def aggregate_key(event: Event) -> tuple[str, str]:
    """(group key, local key): the group ignores the message, the local key is the message."""
    ref = event.get("involvedObject") or {}
    group = "".join(
        [
            *_ref_parts(event),
            str(ref.get("uid") or ""),
            str(ref.get("apiVersion") or ""),
            str(event.get("type") or ""),
            str(event.get("reason") or ""),
            str(event.get("reportingComponent") or ""),
            str(event.get("reportingInstance") or ""),
        ]
    )
    return group, str(event.get("message") or "")


class _TokenBucket:
    """golang.org/x/time/rate's limiter as used by TryAccept: starts full, refills continuously."""

    __slots__ = ("burst", "last", "qps", "tokens")

    def __init__(self, qps: float, burst: int, now: float) -> None:
        self.qps = qps
        self.burst = burst
        self.tokens = float(burst)
        self.last = now

    def try_accept(self, now: float) -> bool:
        if now > self.last:
            self.tokens = min(float(self.burst), self.tokens + (now - self.last) * self.qps)
            self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class SpamFilter:
    """Per source+object token buckets (client-go's EventSourceObjectSpamFilter).

    ``spam_key_func(event) -> str`` (client-go's ``SpamKeyFunc``) chooses what shares a bucket;
    the default :func:`spam_key` is the source and the involved object.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        size: int = LRU_SIZE,
        burst: int = SPAM_BURST,
        qps: float = SPAM_QPS,
        spam_key_func: Callable[[Event], str] | None = None,
    ):
        if spam_key_func is not None and not callable(spam_key_func):
            raise TypeError("spam_key_func must be callable")
        self._clock = clock
        self._burst = burst
        self._qps = qps
        self._key = spam_key_func if spam_key_func is not None else spam_key
        self._cache: LRUCache[str, _TokenBucket] = LRUCache(maxsize=size)

    def filter(self, event: Event) -> bool:
        """True when the event must be dropped (no token left for its source and object)."""
        key = self._key(event)
        now = self._clock.now()
        bucket = self._cache.get(key)
        if bucket is None:
            bucket = _TokenBucket(self._qps, self._burst, now)
        self._cache[key] = bucket
        return not bucket.try_accept(now)


@attrs.define
class _AggregateRecord:
    local_keys: set[str]
    last_timestamp: float


class EventAggregator:
    """Replaces the Nth distinct message of a group (N=10 within 600 s) by a combined event."""

    def __init__(
        self,
        clock: Clock,
        new_name: Callable[[str], str],
        *,
        size: int = LRU_SIZE,
        max_events: int = AGGREGATE_MAX_EVENTS,
        max_interval: float = AGGREGATE_INTERVAL,
    ) -> None:
        self._clock = clock
        self._new_name = new_name
        self._max_events = max_events
        self._max_interval = max_interval
        self._cache: LRUCache[str, _AggregateRecord] = LRUCache(maxsize=size)

    def aggregate(self, event: Event) -> tuple[Event, str]:
        """The event to record (maybe a combined one) and the key to count it under."""
        now = self._clock.now()
        group, local = aggregate_key(event)
        record = self._cache.get(group)
        if record is None or now - record.last_timestamp > self._max_interval:
            record = _AggregateRecord(set(), now)
        record.local_keys.add(local)
        record.last_timestamp = now
        self._cache[group] = record
        if len(record.local_keys) < self._max_events:
            return event, event_key(event)
        record.local_keys.pop()  # keep the set from growing past the threshold
        stamp = format_time(self._clock.wall())
        ref = event.get("involvedObject") or {}
        combined: Event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": self._new_name(str(ref.get("name") or "")),
                "namespace": (event.get("metadata") or {}).get("namespace"),
            },
            "involvedObject": copy.deepcopy(ref),
            "reason": event.get("reason"),
            "message": COMBINED_PREFIX + str(event.get("message") or ""),
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "type": event.get("type"),
            "source": copy.deepcopy(event.get("source") or {}),
        }
        return combined, group


@attrs.define
class _EventLog:
    count: int
    first_timestamp: Any
    name: str
    resource_version: str


class EventLogger:
    """Counts repeats of one event key; a repeat becomes a patch of the first Event's object."""

    def __init__(self, *, size: int = LRU_SIZE) -> None:
        self._cache: LRUCache[str, _EventLog] = LRUCache(maxsize=size)

    def observe(self, event: Event, key: str) -> tuple[Event, dict[str, Any] | None]:
        """The event to write and, for a repeat, the patch (count, lastTimestamp, message)."""
        event = dict(event)
        event["metadata"] = dict(event.get("metadata") or {})
        patch: dict[str, Any] | None = None
        last = self._cache.get(key)
        if last is not None and last.count > 0:
            event["metadata"]["name"] = last.name
            event["metadata"]["resourceVersion"] = last.resource_version
            event["firstTimestamp"] = last.first_timestamp
            event["count"] = last.count + 1
            patch = {
                "count": event["count"],
                "lastTimestamp": event.get("lastTimestamp"),
                "message": event.get("message"),
            }
        self._cache[key] = _EventLog(
            int(event.get("count") or 0),
            event.get("firstTimestamp"),
            str(event["metadata"].get("name") or ""),
            str(event["metadata"].get("resourceVersion") or ""),
        )
        return event, patch

    def update_state(self, event: Event) -> None:
        """Remember what the server answered (its name, count, resourceVersion) for the next repeat."""
        meta = event.get("metadata") or {}
        self._cache[event_key(event)] = _EventLog(
            int(event.get("count") or 0),
            event.get("firstTimestamp"),
            str(meta.get("name") or ""),
            str(meta.get("resourceVersion") or ""),
        )


@attrs.frozen
class CorrelateResult:
    """``event`` to write; ``patch`` when it updates an existing Event; ``skip`` when spam-filtered."""

    event: Event | None
    patch: dict[str, Any] | None = None
    skip: bool = False


class EventCorrelator:
    """Aggregation, then counting, then the spam filter, with client-go's defaults.

    The options are client-go's ``CorrelatorOptions``: ``size`` (LRU entries per cache), ``burst``
    and ``qps`` (the spam filter's bucket), ``max_events`` and ``max_interval`` (aggregation),
    ``spam_key_func`` (what shares a spam bucket; default source + involved object).
    """

    def __init__(
        self,
        clock: Clock,
        new_name: Callable[[str], str],
        *,
        size: int = LRU_SIZE,
        burst: int = SPAM_BURST,
        qps: float = SPAM_QPS,
        max_events: int = AGGREGATE_MAX_EVENTS,
        max_interval: float = AGGREGATE_INTERVAL,
        spam_key_func: Callable[[Event], str] | None = None,
    ) -> None:
        self.aggregator = EventAggregator(
            clock, new_name, size=size, max_events=max_events, max_interval=max_interval
        )
        self.logger = EventLogger(size=size)
        self.spam_filter = SpamFilter(clock, size=size, burst=burst, qps=qps, spam_key_func=spam_key_func)

    def correlate(self, event: Event) -> CorrelateResult:
        """Never suspends. The returned event is a new dict; ``event`` is not modified."""
        aggregated, key = self.aggregator.aggregate(event)
        observed, patch = self.logger.observe(aggregated, key)
        if self.spam_filter.filter(observed):
            return CorrelateResult(None, skip=True)
        return CorrelateResult(observed, patch)

    def update_state(self, event: Event) -> None:
        self.logger.update_state(event)
