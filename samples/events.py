"""Event recording for the samples: pycontroller.record's broadcaster, run by the Manager.

:func:`new_recorder` returns an :class:`pycontroller.record.EventRecorder` (client-go's correlator:
counts, aggregation, spam filter; ``event()`` never blocks a reconcile) and adds the broadcaster's
writer to the Manager as a runnable that needs no leader: it starts after the caches and before the
controllers, and stops after them, flushing what they recorded.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pycontroller.client import RestClient
from pycontroller.record import EventBroadcaster, EventRecorder

__all__ = ["new_recorder"]


def new_recorder(mgr: Any, client: Any, component: str) -> EventRecorder:
    """An EventRecorder for ``component`` writing through ``client``, its writer run by ``mgr``."""
    broadcaster = EventBroadcaster(RestClient.wrap(client))
    mgr.add(_BroadcasterRunnable(broadcaster, component), need_leader_election=False)
    return broadcaster.new_recorder(component)


class _BroadcasterRunnable:
    """Runs an EventBroadcaster's writer for as long as the Manager runs."""

    def __init__(self, broadcaster: EventBroadcaster, component: str) -> None:
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
