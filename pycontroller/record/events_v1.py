"""events.k8s.io/v1 Events with series: client-go's ``tools/events`` broadcaster and recorder.

The newer Events API replaces core/v1's counting with *series*. An event is isomorphic to an
earlier one when action, reason, reporting controller, regarding and related objects match (the
note may differ). The flow::

    first occurrence        POST the Event, remember it
    second occurrence       PATCH series {count: 2, lastObservedTime}
    later occurrences       only counted in memory (series.count + 1, lastObservedTime)
    every 30 minutes        PATCH every remembered series with its current count (heartbeat)
    every 6 minutes         a series quiet for 6 minutes is written a last time and forgotten;
                            a lone event older than 6 minutes is forgotten

Queueing, retries and shutdown are the core broadcaster's (:mod:`pycontroller.record.broadcaster`).
A note longer than the API's 1024-byte limit is cut (ending in "...") instead of being refused.
"""

from __future__ import annotations

import asyncio
import copy
import socket
from typing import Any

import orjson

from pycontroller.leaderelection.record import format_micro_time
from pycontroller.record.broadcaster import EventBroadcaster, RestEventSink, log
from pycontroller.record.gofmt import go_sprintf
from pycontroller.record.recorder import EVENT_TYPES, object_reference

__all__ = [
    "FINISH_TIME",
    "NOTE_LIMIT",
    "REFRESH_TIME",
    "EventsV1Broadcaster",
    "EventsV1Recorder",
    "RestEventsV1Sink",
]

FINISH_TIME = 360.0
"""A series not observed for this long is finished (client-go's finishTime, 6 minutes)."""
REFRESH_TIME = 1800.0
"""Every series is re-written this often (client-go's refreshTime, 30 minutes)."""
NOTE_LIMIT = 1024
"""The API server's limit on an Event's note, in bytes."""

Event = dict[str, Any]


class RestEventsV1Sink(RestEventSink):
    """events.k8s.io/v1 Events through a RestClient (or kubernetes_asyncio ApiClient)."""

    api_path = "/apis/events.k8s.io/v1"


def _frozen(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _series_key(event: Event) -> tuple[Any, ...]:
    return (
        event.get("action"),
        event.get("reason"),
        event.get("reportingController"),
        _frozen(event.get("regarding")),
        _frozen(event.get("related")),
    )


def _cut_note(note: str) -> str:
    raw = note.encode()
    if len(raw) <= NOTE_LIMIT:
        return note
    return raw[: NOTE_LIMIT - 3].decode("utf-8", "ignore") + "..."


class EventsV1Recorder:
    """Records events.k8s.io/v1 Events for one reporting controller. Never suspends; thread-safe."""

    def __init__(
        self,
        broadcaster: EventsV1Broadcaster,
        reporting_controller: str,
        reporting_instance: str | None = None,
    ) -> None:
        if not isinstance(reporting_controller, str) or not reporting_controller:
            raise ValueError("an events.k8s.io recorder needs a non-empty reporting controller")
        self._broadcaster = broadcaster
        self.reporting_controller = reporting_controller
        # client-go: "<controller>-<hostname>" unless given.
        self.reporting_instance = reporting_instance or f"{reporting_controller}-{socket.gethostname()}"

    def eventf(
        self, regarding: Any, related: Any, type: str, reason: str, action: str, note: str, *args: Any
    ) -> None:
        """Record that ``action`` happened to ``regarding`` (and ``related``, or None) because of
        ``reason``; ``note`` is a Go-style format. ``type`` must be "Normal" or "Warning"."""
        if type not in EVENT_TYPES:
            raise ValueError(f"unsupported event type {type!r}: must be 'Normal' or 'Warning'")
        if not reason or not action:
            raise ValueError("an events.k8s.io Event needs a reason and an action")
        ref = object_reference(regarding)
        b = self._broadcaster
        wall = b.clock.wall()
        event: Event = {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {
                "name": b.new_event_name(ref["name"], wall),
                "namespace": ref.get("namespace") or "default",
            },
            "eventTime": format_micro_time(wall),
            "reportingController": self.reporting_controller,
            "reportingInstance": self.reporting_instance,
            "action": action,
            "reason": reason,
            "regarding": ref,
            "note": _cut_note(go_sprintf(note, *args)),
            "type": type,
        }
        if related is not None:
            event["related"] = object_reference(related)
        b.action(event)


class EventsV1Broadcaster(EventBroadcaster):
    """An :class:`EventBroadcaster` writing events.k8s.io/v1 Events with series.

    ``client`` is a RestClient, an ApiClient, or a sink with ``create``/``patch``. Also runs the
    6-minute finish and 30-minute heartbeat housekeeping while started.
    """

    _sink_class = RestEventsV1Sink

    def __init__(self, client: Any = None, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        # Isomorphic-event key -> (the Event as last recorded, monotonic time last observed).
        self._series: dict[tuple[Any, ...], tuple[Event, float]] = {}
        self._housekeeper: asyncio.Task[None] | None = None

    def new_recorder(self, component: str, host: str | None = None) -> EventsV1Recorder:  # type: ignore[override]
        """An :class:`EventsV1Recorder`: ``component`` is the reporting controller, ``host`` the
        reporting instance (default "<component>-<hostname>")."""
        return EventsV1Recorder(self, component, host)

    def start(self) -> None:
        super().start()
        if self._housekeeper is None and self._writer is not None:
            self._housekeeper = asyncio.get_running_loop().create_task(
                self._housekeep(), name="events-v1-housekeeping"
            )

    async def shutdown(self, timeout: float = 5.0) -> None:
        if self._housekeeper is not None:
            self._housekeeper.cancel()
            await asyncio.gather(self._housekeeper, return_exceptions=True)
        await super().shutdown(timeout)

    async def _record_to_sink(self, event: Event) -> None:
        key = _series_key(event)
        now = self.clock.now()
        seen = self._series.get(key)
        if seen is None:
            self._series[key] = (event, now)
            await self._attempt_recording(copy.deepcopy(event), None)
            return
        cached = seen[0]
        stamp = format_micro_time(self.clock.wall())
        series = cached.get("series")
        self._series[key] = (cached, now)
        if series is not None:
            series["count"] += 1
            series["lastObservedTime"] = stamp
            return  # written by the heartbeat or when the series finishes
        cached["series"] = {"count": 2, "lastObservedTime": stamp}
        record = copy.deepcopy(cached)
        await self._attempt_recording(record, {"series": record["series"]})

    async def _housekeep(self) -> None:
        next_finish = self.clock.now() + FINISH_TIME
        next_refresh = self.clock.now() + REFRESH_TIME
        while True:
            await self.clock.sleep(min(next_finish, next_refresh) - self.clock.now())
            now = self.clock.now()
            try:
                if now >= next_finish:
                    next_finish = now + FINISH_TIME
                    await self._finish_series(now)
                if now >= next_refresh:
                    next_refresh = now + REFRESH_TIME
                    await self._refresh_series()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("events.k8s.io housekeeping failed")

    async def _finish_series(self, now: float) -> None:
        for key, (event, observed) in list(self._series.items()):
            if now - observed <= FINISH_TIME:
                continue
            series = event.get("series")
            if series is not None:
                done, _ = await self._record_event(copy.deepcopy(event), {"series": dict(series)})
                if not done:
                    continue  # try again at the next round
            self._series.pop(key, None)

    async def _refresh_series(self) -> None:
        for key, (event, observed) in list(self._series.items()):
            series = event.get("series")
            if series is None:
                continue
            done, written = await self._record_event(copy.deepcopy(event), {"series": dict(series)})
            if done and written is not None and key in self._series:
                self._series[key] = (written, observed)
