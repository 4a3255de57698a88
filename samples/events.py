"""Event recorders for the samples: pycontroller.record's when available, else a minimal stand-in.

:func:`new_recorder` returns an object with ``event(obj, type, reason, message)``. It prefers
``pycontroller.record.EventBroadcaster`` (client-go's correlator: counts, aggregation, spam filter).
Without it, :class:`SimpleEventRecorder` writes one core/v1 Event per call, or bumps the
count of an identical recent one, from a background task, so ``event()`` never blocks a reconcile;
a write that fails is logged and dropped (events are best effort).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.errors import ApiError

__all__ = ["SimpleEventRecorder", "new_recorder"]

EVENTS = GroupVersionResource("", "v1", "events")
log = logging.getLogger("samples.events")


def new_recorder(mgr: Any, client: Any, component: str) -> Any:
    """An EventRecorder for ``component`` writing through ``client``, its writer run by ``mgr``.

    With pycontroller.record, an ``EventBroadcaster`` is added to the Manager as a runnable that
    needs no leader: it starts after the caches and before the controllers, and stops after them,
    flushing what they recorded (client-go's recorder, as Kubernetes' sample-controller uses).
    """
    try:
        from pycontroller.record import EventBroadcaster
    except ImportError:
        return SimpleEventRecorder(RestClient.wrap(client), component)
    broadcaster = EventBroadcaster(RestClient.wrap(client))
    mgr.add(_BroadcasterRunnable(broadcaster, component), need_leader_election=False)
    return broadcaster.new_recorder(component)


class _BroadcasterRunnable:
    """Runs an EventBroadcaster's writer for as long as the Manager runs."""

    def __init__(self, broadcaster: Any, component: str) -> None:
        self.broadcaster = broadcaster
        self.name = f"{component}-events"
        self._stop = asyncio.Event()

    async def run(self) -> None:
        self.broadcaster.start()
        try:
            await self._stop.wait()
        finally:
            await self.broadcaster.shutdown()

    def stop(self) -> None:
        self._stop.set()


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SimpleEventRecorder:
    """A stand-in for pycontroller.record's EventRecorder: ``event()`` never blocks or raises."""

    def __init__(self, client: RestClient, component: str) -> None:
        self.client = client
        self.component = component
        self._written: dict[tuple[str, ...], dict[str, Any]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def event(self, obj: Mapping[str, Any], type: str, reason: str, message: str) -> None:
        if type not in ("Normal", "Warning"):
            raise ValueError(f"event type must be Normal or Warning, got {type!r}")
        task = asyncio.get_running_loop().create_task(self._write(obj, type, reason, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, obj: Mapping[str, Any], type: str, reason: str, message: str) -> None:
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace") or "default"
        involved = {
            "apiVersion": obj.get("apiVersion"),
            "kind": obj.get("kind"),
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        }
        identity = (namespace, str(meta.get("uid")), type, reason, message)
        now = _now()
        try:
            previous = self._written.get(identity)
            if previous is not None:
                patch = {"count": previous.get("count", 1) + 1, "lastTimestamp": now}
                self._written[identity] = await self.client.patch(
                    EVENTS, previous["metadata"]["name"], patch, namespace
                )
                return
            event = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": f"{meta.get('name')}.{uuid.uuid4().hex[:16]}", "namespace": namespace},
                "involvedObject": involved,
                "type": type,
                "reason": reason,
                "message": message,
                "source": {"component": self.component},
                "count": 1,
                "firstTimestamp": now,
                "lastTimestamp": now,
                "reportingComponent": self.component,
            }
            self._written[identity] = await self.client.create(EVENTS, event, namespace)
        except (ApiError, OSError) as exc:
            log.warning(
                "could not write event %s %s on %s/%s: %s", type, reason, namespace, meta.get("name"), exc
            )
