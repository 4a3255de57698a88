"""Events about objects, written as client-go's event recorder writes them (``tools/record``).

Typical use (the Manager or an operator's main)::

    broadcaster = EventBroadcaster(rest_client)        # or a kubernetes_asyncio ApiClient
    broadcaster.start()                                 # inside the running loop (or `async with`)
    broadcaster.start_logging()                         # optional: mirror events to `logging`
    recorder = broadcaster.new_recorder("sample-controller")
    recorder.event(foo, "Normal", "Synced", "Foo synced successfully")
    recorder.eventf(foo, "Warning", "ErrResourceExists",
                    'Resource %q already exists and is not managed by Foo', name)
    ...
    await broadcaster.shutdown()

Recording never suspends or blocks (a bounded queue of 1000 drops and counts when full); Events go
through client-go's correlator (aggregation, counting, spam filter: see
:mod:`pycontroller.record.correlator`) and are retried while the API server is unreachable
(see :mod:`pycontroller.record.broadcaster`). :class:`EventLogHandler` turns log records about an
object into Events. :class:`EventsV1Broadcaster` writes events.k8s.io/v1 Events with series
instead (see :mod:`pycontroller.record.events_v1`). The limits (``MAX_QUEUED_EVENTS``,
``MAX_TRIES``, ``SLEEP_DURATION``) live in :mod:`pycontroller.record.broadcaster`, the
correlator's in :mod:`pycontroller.record.correlator`.
"""

from pycontroller.record.broadcaster import EventBroadcaster, EventSink, RestEventSink
from pycontroller.record.correlator import EventCorrelator
from pycontroller.record.events_v1 import EventsV1Broadcaster, EventsV1Recorder, RestEventsV1Sink
from pycontroller.record.gofmt import go_sprintf
from pycontroller.record.handler import EventLogHandler
from pycontroller.record.recorder import EVENT_TYPES, EventRecorder, object_reference

__all__ = [
    "EVENT_TYPES",
    "EventBroadcaster",
    "EventCorrelator",
    "EventLogHandler",
    "EventRecorder",
    "EventSink",
    "EventsV1Broadcaster",
    "EventsV1Recorder",
    "RestEventSink",
    "RestEventsV1Sink",
    "go_sprintf",
    "object_reference",
]
