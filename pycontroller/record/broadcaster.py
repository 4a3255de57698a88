"""EventBroadcaster: a bounded queue of Events and one writer task that sends them to the API server.

The flow::

    recorder.event(...)  ──(never blocks; drops and counts when 1000 are queued)──▶  queue
    writer task: pop ─▶ EventCorrelator (aggregate, count, spam-filter) ─▶ sink: POST or PATCH
                                               retry 12 tries, 10 s apart
                                               (the first wait randomised) ─▶ give up, log

Which failures are retried is client-go's recordToSink: a repeat (``count`` > 1) is PATCHed
(a 404 then creates it again, without resourceVersion), others are POSTed; transport errors and
answers that are not the expected object (:class:`~pycontroller.errors.DecodeError`) are retried;
any answer of the API server with an error Status (:class:`~pycontroller.errors.ApiError`: 4xx,
429 and 5xx alike) is dropped at once ("will not retry"), after the
:class:`~pycontroller.client.RestClient` sent a 429 or 5xx that carried ``Retry-After`` again as
client-go's REST client does (``max_retries``), quietly for AlreadyExists and for a
terminating namespace; a request that cannot even be built (``TypeError``, ``ValueError``,
``KeyError`` from the sink: a malformed Event) is dropped at once too.

Like client-go, one writer handles events in order, so while the API server is down events wait
behind the one being retried and, once the queue is full, new ones are dropped: recording never
waits for the network. Differences from client-go, on purpose: Events are patched with a JSON
merge patch of the same three scalar fields client-go's strategic merge patch carries;
:meth:`start_logging` logs at record time instead of in a second watcher.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import logging
import random
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from pycontroller.client import RestClient
from pycontroller.clock import Clock, default_clock
from pycontroller.errors import (
    AlreadyExistsError,
    ApiError,
    NotFoundError,
    ShutDownError,
)
from pycontroller.record.correlator import EventCorrelator
from pycontroller.record.recorder import EventRecorder

__all__ = [
    "MAX_QUEUED_EVENTS",
    "MAX_TRIES",
    "SLEEP_DURATION",
    "EventBroadcaster",
    "EventSink",
    "RestEventSink",
]

log = logging.getLogger("pycontroller.record")

MAX_QUEUED_EVENTS = 1000
MAX_TRIES = 12
SLEEP_DURATION = 10.0

Event = dict[str, Any]


class EventSink(Protocol):
    """Where Events are written (client-go's EventSink). Both methods suspend."""

    async def create(self, event: Event) -> Event: ...

    async def patch(self, event: Event, patch: dict[str, Any]) -> Event: ...


class RestEventSink:
    """core/v1 Events through a RestClient (or kubernetes_asyncio ApiClient)."""

    #: the API group/version path the Events are written under
    api_path = "/api/v1"

    def __init__(self, client: Any, *, request_timeout: float = 10.0) -> None:
        self._client = RestClient.wrap(client)
        self._timeout = request_timeout

    async def create(self, event: Event) -> Event:
        ns = event["metadata"]["namespace"]
        result: Event = await self._client.request(
            "POST", f"{self.api_path}/namespaces/{ns}/events", body=event, timeout=self._timeout
        )
        return result

    async def patch(self, event: Event, patch: dict[str, Any]) -> Event:
        meta = event["metadata"]
        result: Event = await self._client.request(
            "PATCH",
            f"{self.api_path}/namespaces/{meta['namespace']}/events/{meta['name']}",
            body=patch,
            content_type="application/merge-patch+json",
            timeout=self._timeout,
        )
        return result


def _describe(event: Event) -> str:
    ref = event.get("involvedObject") or event.get("regarding") or {}
    where = f"{ref.get('namespace')}/{ref.get('name')}" if ref.get("namespace") else ref.get("name")
    return f"{ref.get('kind') or 'object'} {where}"


class EventBroadcaster:
    """Queues Events from its recorders and writes them with client-go's correlator.

    ``client`` is a RestClient, a kubernetes_asyncio ApiClient, an :class:`EventSink`, or None (no
    sink: only :meth:`start_logging`). The writer starts with :meth:`start` (or ``async with``, or
    at the first event recorded from a thread running an event loop); events recorded before that
    wait in the queue. ``dropped`` counts events lost to a full queue or after shutdown;
    ``written`` counts successful writes; ``failed`` counts events given up. The writer belongs
    to the event loop that started it; recorders may be called from any thread.
    """

    _sink_class: Callable[[Any], EventSink] = RestEventSink

    def __init__(
        self,
        client: Any = None,
        *,
        clock: Clock | None = None,
        max_queued: int = MAX_QUEUED_EVENTS,
        max_tries: int = MAX_TRIES,
        sleep_duration: float = SLEEP_DURATION,
        correlator: EventCorrelator | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if max_queued < 1 or max_tries < 1:
            raise ValueError(f"max_queued and max_tries must be at least 1, got {max_queued} and {max_tries}")
        if sleep_duration < 0:
            raise ValueError(f"sleep_duration must not be negative, got {sleep_duration}")
        if client is None:
            self._sink: EventSink | None = None
        elif hasattr(client, "create") and hasattr(client, "patch") and not isinstance(client, RestClient):
            self._sink = client
        else:
            self._sink = self._sink_class(client)
        self.clock = clock if clock is not None else default_clock()
        self._max_queued = max_queued
        self._max_tries = max_tries
        self._sleep_duration = sleep_duration
        self._rng = rng if rng is not None else random.Random()
        self.correlator = correlator or EventCorrelator(self.clock, self._aggregate_name)
        # Guarded by _lock (recorders may run in other threads): the queue, the name counter.
        self._lock = threading.Lock()
        self._queue: collections.deque[Event] = collections.deque()
        self._last_nanos = 0
        self.dropped = 0
        self.written = 0
        self.failed = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._wakeup: asyncio.Event | None = None
        self._closing: asyncio.Event | None = None
        self._writer: asyncio.Task[None] | None = None
        self._shut_down = False
        self._log_level: int | None = None
        self._logger = log
        # More sinks (start_recording_to_sink), each a broadcaster of its own: queue, writer,
        # correlator caches. Guarded by _lock.
        self._extra: list[EventBroadcaster] = []

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer task on the running loop. Idempotent; must be called from the loop."""
        if self._writer is not None or self._shut_down:
            return
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._wakeup = asyncio.Event()
        self._closing = asyncio.Event()
        if self._queue:
            self._wakeup.set()
        self._writer = loop.create_task(self._write_loop(), name="event-broadcaster")

    async def __aenter__(self) -> EventBroadcaster:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    async def shutdown(self, timeout: float = 5.0) -> None:
        """Stop taking events, write what is queued (no retries any more), then stop the writer.

        Suspends for at most ``timeout`` seconds of the clock; events still queued then are dropped.
        Idempotent. Events recorded afterwards are dropped and counted.
        """
        self._shut_down = True
        with self._lock:
            extras, self._extra = self._extra, []
        for extra in extras:
            await extra.shutdown(timeout)
        writer = self._writer
        if writer is None:
            with self._lock:
                self.dropped += len(self._queue)
                self._queue.clear()
            return
        assert self._closing is not None and self._wakeup is not None
        self._closing.set()
        self._wakeup.set()
        handle = self.clock.call_at(self.clock.now() + timeout, writer.cancel)
        try:
            await asyncio.wait([writer])
        finally:
            handle.cancel()
        with self._lock:
            self.dropped += len(self._queue)
            self._queue.clear()

    def start_recording_to_sink(
        self, sink: EventSink, *, correlator: EventCorrelator | None = None
    ) -> Callable[[], Awaitable[None]]:
        """Also write every event recorded from now on to ``sink``, with its OWN correlator
        (aggregation, counting and spam-filter caches), queue and writer: client-go's
        ``StartRecordingToSink``, which may be called once per sink. Returns an async stop function
        that detaches the sink and flushes it like :meth:`shutdown`. Must be called from a running
        event loop; :meth:`shutdown` stops these sinks too. ``sink`` has ``create``/``patch`` (an
        :class:`EventSink`; a RestClient or ApiClient is wrapped in a :class:`RestEventSink`).
        """
        if self._shut_down:
            raise ShutDownError("the event broadcaster is shut down")
        extra = type(self)(  # the same kind of broadcaster (core/v1 or events.k8s.io/v1 Events)
            sink,
            clock=self.clock,
            max_queued=self._max_queued,
            max_tries=self._max_tries,
            sleep_duration=self._sleep_duration,
            correlator=correlator,
            rng=self._rng,
        )
        extra.start()
        with self._lock:
            self._extra.append(extra)

        async def stop() -> None:
            with self._lock:
                if extra in self._extra:
                    self._extra.remove(extra)
            await extra.shutdown()

        return stop

    @property
    def sinks(self) -> list[EventBroadcaster]:
        """The writers of the sinks added by :meth:`start_recording_to_sink` (their counters)."""
        with self._lock:
            return list(self._extra)

    def start_logging(
        self, logger: logging.Logger | None = None, level: int = logging.INFO
    ) -> Callable[[], None]:
        """Also log every recorded event (before correlation) to ``logger``; returns a stop function."""
        self._logger = logger or log
        self._log_level = level

        def stop() -> None:
            self._log_level = None

        return stop

    def new_recorder(self, component: str, host: str | None = None) -> EventRecorder:
        """An :class:`EventRecorder` whose events name ``component`` (and ``host``) as their source."""
        return EventRecorder(self, component, host)

    # -- called by recorders ---------------------------------------------------------------------

    def new_event_name(self, object_name: str, wall: float) -> str:
        """``<object name>.<unix nanoseconds in hex>``, strictly increasing within this broadcaster."""
        nanos = int(wall * 1e9)
        with self._lock:
            nanos = max(nanos, self._last_nanos + 1)
            self._last_nanos = nanos
        return f"{object_name}.{nanos:x}"

    def _aggregate_name(self, object_name: str) -> str:
        return self.new_event_name(object_name, self.clock.wall())

    def action(self, event: Event) -> None:
        """Queue ``event`` for writing, or drop it when the queue is full. Never blocks; thread-safe.

        Every sink added with :meth:`start_recording_to_sink` gets its own copy.
        """
        if self._extra:
            with self._lock:
                extras = list(self._extra)
            for extra in extras:
                extra.action(copy.deepcopy(event))
        if self._log_level is not None:
            self._logger.log(
                self._log_level,
                "Event(%s): type: '%s' reason: '%s' %s",
                _describe(event),
                event.get("type"),
                event.get("reason"),
                event.get("message", event.get("note")),
            )
        if self._sink is None:
            return
        with self._lock:
            if self._shut_down or len(self._queue) >= self._max_queued:
                self.dropped += 1
                dropped = self.dropped
                event_ok = False
            else:
                self._queue.append(event)
                event_ok = True
        if not event_ok:
            if dropped == 1 or dropped % 100 == 0:
                log.error(
                    "unable to record event: %s (%d dropped so far): %s %s",
                    "broadcaster shut down" if self._shut_down else "too many queued events",
                    dropped,
                    event.get("reason"),
                    _describe(event),
                )
            return
        self._notify()

    def _notify(self) -> None:
        loop = self._loop
        if loop is None:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop here: the events wait for start()
            self.start()
            return
        assert self._wakeup is not None
        if threading.get_ident() == self._loop_thread:
            self._wakeup.set()
        else:
            try:
                loop.call_soon_threadsafe(self._wakeup.set)
            except RuntimeError:
                pass  # the loop is closed: the event stays queued (bounded) and is never written

    # -- the writer ------------------------------------------------------------------------------

    def queued(self) -> int:
        """How many events wait to be written. Never suspends."""
        with self._lock:
            return len(self._queue)

    async def _write_loop(self) -> None:
        assert self._wakeup is not None and self._closing is not None
        while True:
            with self._lock:
                event = self._queue.popleft() if self._queue else None
            if event is None:
                if self._closing.is_set():
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            try:
                await self._record_to_sink(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("unexpected error writing event %s", event.get("reason"))

    async def _record_to_sink(self, event: Event) -> None:
        """client-go's recordToSink: correlate, then write with retries."""
        result = self.correlator.correlate(event)
        if result.skip or result.event is None:
            return
        written = await self._attempt_recording(result.event, result.patch)
        if written is not None:
            self.correlator.update_state(written)

    async def _attempt_recording(self, event: Event, patch: dict[str, Any] | None) -> Event | None:
        """Write ``event`` (PATCH with ``patch`` when given, else or on 404 POST), retrying
        transport errors up to ``max_tries`` times. Returns the server's Event, or None."""
        tries = 0
        while True:
            done, written = await self._record_event(event, patch)
            if done:
                return written
            tries += 1
            assert self._closing is not None
            if tries >= self._max_tries or self._closing.is_set():
                self.failed += 1
                log.error(
                    "unable to write event %s %s about %s (gave up after %d tries)",
                    event.get("type"),
                    event.get("reason"),
                    _describe(event),
                    tries,
                )
                return None
            # The first wait is randomised so that recorders do not all retry in step.
            delay = self._sleep_duration * (self._rng.random() if tries == 1 else 1.0)
            await self._sleep_unless_closing(delay)

    async def _sleep_unless_closing(self, seconds: float) -> None:
        assert self._closing is not None
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait([sleeper, closing], return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            closing.cancel()

    async def _record_event(self, event: Event, patch: dict[str, Any] | None) -> tuple[bool, Event | None]:
        """One write (client-go's recordEvent): (done, the server's Event). Not done means retry;
        done with None means dropped for good (or it already existed)."""
        assert self._sink is not None
        try:
            written: Event | None = None
            if patch is not None:  # the correlator patches exactly the repeats (count > 1)
                try:
                    written = await self._sink.patch(event, patch)
                except NotFoundError:
                    written = None  # the Event was deleted (or expired): create it again
            if written is None:
                fresh = dict(event)
                fresh["metadata"] = {
                    k: v for k, v in (event.get("metadata") or {}).items() if k != "resourceVersion"
                }
                written = await self._sink.create(fresh)
        except ApiError as exc:
            # The server answered and refused: the same request would be refused again.
            exists = isinstance(exc, AlreadyExistsError)
            if not exists:
                self.failed += 1
            quiet = exists or _namespace_terminating(exc)
            (log.debug if quiet else log.error)(
                "server rejected event %s about %s (will not retry!): %s",
                event.get("reason"),
                _describe(event),
                exc,
            )
            return True, None
        except (TypeError, ValueError, KeyError) as exc:
            # client-go's RequestConstructionError: the request would be built the same next time.
            self.failed += 1
            log.error("unable to construct event %s (will not retry!): %r", event.get("reason"), exc)
            return True, None
        except Exception as exc:
            # Transport errors, timeouts, an answer that is not an Event: retry after sleeping.
            log.warning("unable to write event %s (may retry after sleeping): %s", event.get("reason"), exc)
            return False, None
        self.written += 1
        return True, written


def _namespace_terminating(exc: ApiError) -> bool:
    causes = exc.details.get("causes") or []
    return any(
        isinstance(c, dict) and c.get("type") == "NamespaceTerminating"
        for c in (causes if isinstance(causes, list) else [])
    )
