"""EventRecorder: turn ``recorder.event(obj, "Normal", "Synced", "...")`` into a core/v1 Event.

A recorder is made by :meth:`EventBroadcaster.new_recorder` for one component (the Event's
``source.component``, e.g. "sample-controller") and optional host. Recording never suspends and
never blocks: the event is built at once (its timestamps are taken now) and handed to the
broadcaster's bounded queue, which drops (and counts) events when full. Recorders are safe to use
from other threads (plain-function reconcilers in a thread pool).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pycontroller.errors import InvalidObjectError
from pycontroller.leaderelection.record import format_time
from pycontroller.record.gofmt import go_sprintf

if TYPE_CHECKING:
    from pycontroller.record.broadcaster import EventBroadcaster

__all__ = ["EVENT_TYPES", "NORMAL", "WARNING", "EventRecorder", "object_reference"]

NORMAL = "Normal"
WARNING = "Warning"
EVENT_TYPES = (NORMAL, WARNING)


def object_reference(obj: Any) -> dict[str, str]:
    """An ObjectReference (kind, apiVersion, name, namespace, uid, resourceVersion) for ``obj``.

    ``obj`` is a raw object dict, an ObjectReference dict (top-level ``kind`` and ``name``), or a
    kubernetes_asyncio model. Raises :class:`InvalidObjectError` when it has no name. Objects read
    from a list lack ``kind``/``apiVersion``: set them, or ``kubectl describe`` will not find the
    Event (it selects by involvedObject kind and uid).
    """
    ref: dict[str, str]
    if isinstance(obj, Mapping):
        meta = obj.get("metadata")
        if meta is None and "name" in obj:
            ref = {k: str(v) for k, v in obj.items() if v is not None and isinstance(v, str | int)}
        else:
            if not isinstance(meta, Mapping):
                raise InvalidObjectError("cannot record an event: the object has no metadata")
            ref = {
                "kind": str(obj.get("kind") or ""),
                "apiVersion": str(obj.get("apiVersion") or ""),
                "name": str(meta.get("name") or ""),
                "namespace": str(meta.get("namespace") or ""),
                "uid": str(meta.get("uid") or ""),
                "resourceVersion": str(meta.get("resourceVersion") or ""),
            }
    else:
        meta = getattr(obj, "metadata", None)
        if meta is None:
            raise InvalidObjectError(
                f"cannot record an event about a {type(obj).__name__}: expected a Kubernetes object"
            )
        ref = {
            "kind": str(getattr(obj, "kind", "") or ""),
            "apiVersion": str(getattr(obj, "api_version", "") or ""),
            "name": str(getattr(meta, "name", "") or ""),
            "namespace": str(getattr(meta, "namespace", "") or ""),
            "uid": str(getattr(meta, "uid", "") or ""),
            "resourceVersion": str(getattr(meta, "resource_version", "") or ""),
        }
    if not ref.get("name"):
        raise InvalidObjectError("cannot record an event about an object without metadata.name")
    return {k: v for k, v in ref.items() if v}


class EventRecorder:
    """Records Events about objects for one component. Never suspends; thread-safe.

    After the broadcaster was shut down, events are dropped (and counted in its ``dropped``).
    """

    def __init__(self, broadcaster: EventBroadcaster, component: str, host: str | None = None) -> None:
        if not isinstance(component, str) or not component:
            raise ValueError("an event recorder needs a non-empty component name")
        self._broadcaster = broadcaster
        self.source: dict[str, str] = {"component": component}
        if host:
            self.source["host"] = host

    def event(self, obj: Any, type: str, reason: str, message: str) -> None:
        """Record an event of ``type`` ("Normal" or "Warning", else ValueError) about ``obj``."""
        self._generate(obj, None, type, reason, message)

    def eventf(self, obj: Any, type: str, reason: str, fmt: str, *args: Any) -> None:
        """Like :meth:`event` with a Go-style format (``%s``, ``%d``, ``%v``, ``%q``...; see gofmt)."""
        self._generate(obj, None, type, reason, go_sprintf(fmt, *args))

    def annotated_eventf(
        self, obj: Any, annotations: Mapping[str, str] | None, type: str, reason: str, fmt: str, *args: Any
    ) -> None:
        """Like :meth:`eventf`, with ``annotations`` set on the Event object."""
        self._generate(obj, annotations, type, reason, go_sprintf(fmt, *args))

    def _generate(
        self, obj: Any, annotations: Mapping[str, str] | None, type: str, reason: str, message: str
    ) -> None:
        if type not in EVENT_TYPES:
            raise ValueError(f"unsupported event type {type!r}: must be 'Normal' or 'Warning'")
        if not isinstance(reason, str) or not isinstance(message, str):
            raise TypeError("an event's reason and message must be strings")
        ref = object_reference(obj)
        b = self._broadcaster
        wall = b.clock.wall()
        stamp = format_time(wall)
        metadata: dict[str, Any] = {
            "name": b.new_event_name(ref["name"], wall),
            # client-go: an object without a namespace (cluster-scoped) gets its Events in "default".
            "namespace": ref.get("namespace") or "default",
        }
        if annotations:
            metadata["annotations"] = dict(annotations)
        event: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": metadata,
            "involvedObject": ref,
            "reason": reason,
            "message": message,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "type": type,
            "source": dict(self.source),
            "reportingComponent": self.source["component"],
            "reportingInstance": self.source.get("host", ""),
        }
        b.action(event)
