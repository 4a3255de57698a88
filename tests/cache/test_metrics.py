"""Informer metrics, exported at scrape time."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from pycontroller.cache.handlers import ResourceEventHandlerFuncs
from pycontroller.cache.informer import SharedIndexInformer
from pycontroller.cache.metrics import InformerCollector
from pycontroller.client import GroupVersionResource
from tests.cache.informer_support import ReflectorSlot, cm, eventually


async def test_the_collector_reports_cache_size_sync_and_each_handlers_backlog() -> None:
    slot = ReflectorSlot()
    informer = SharedIndexInformer(None, GroupVersionResource("", "v1", "configmaps"), reflector_factory=slot)
    gate = asyncio.Event()

    async def stuck(obj: Any) -> None:
        await gate.wait()

    informer.add_event_handler(ResourceEventHandlerFuncs(on_add=stuck), name="stuck")
    registry = CollectorRegistry()
    registry.register(InformerCollector(lambda: [informer]))
    try:
        informer.start()
        await eventually(lambda: slot.reflector is not None)
        slot.store.replace([cm("a"), cm("b"), cm("c")], "1")
        assert await informer.wait_for_sync(timeout=5)
        text = generate_latest(registry).decode()
        assert 'pycontroller_informer_cached_objects{resource="configmaps.v1"} 3.0' in text
        assert 'pycontroller_informer_synced{resource="configmaps.v1"} 1.0' in text
        assert 'pycontroller_informer_handler_backlog{handler="stuck",resource="configmaps.v1"} 2.0' in text
        gate.set()
        await eventually(lambda: informer.backlog() == 0)
        text = generate_latest(registry).decode()
        assert (
            'pycontroller_informer_handler_notifications_total{handler="stuck",resource="configmaps.v1"} 3.0'
            in text
        )
        assert (
            'pycontroller_informer_handler_errors_total{handler="stuck",resource="configmaps.v1"} 0.0' in text
        )
    finally:
        await informer.stop()
