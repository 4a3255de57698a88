from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.controller.helpers import FakeInformer

_seq = itertools.count()


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    return f"mgr-{request.node.name[:40]}-{next(_seq)}"


class StandInFactory:
    """A shared informer factory whose sync the test controls (until the real factory lands)."""

    def __init__(self) -> None:
        self.informers: dict[tuple[str, str, str], FakeInformer] = {}
        self.synced = asyncio.Event()
        self.started = 0
        self.shut_down = False
        self.log: list[str] | None = None

    def informer_for(self, group: str, version: str, resource: str) -> FakeInformer:
        key = (group, version, resource)
        if key not in self.informers:
            self.informers[key] = FakeInformer(synced=False)
        return self.informers[key]

    def start(self) -> None:
        self.started += 1
        if self.log is not None:
            self.log.append("caches started")

    async def wait_for_cache_sync(self, timeout: float | None = None) -> dict[Any, bool]:
        await self.synced.wait()
        for informer in self.informers.values():
            informer.synced = True
        if self.log is not None:
            self.log.append("caches synced")
        return dict.fromkeys(self.informers, True)

    async def shutdown(self) -> None:
        self.shut_down = True
        if self.log is not None:
            self.log.append("caches stopped")


@pytest.fixture
def factory() -> StandInFactory:
    return StandInFactory()


@pytest.fixture
async def dummy_client() -> AsyncIterator[Any]:
    """An ApiClient pointing nowhere; the stand-in factory never uses it."""
    from kubernetes_asyncio.client import ApiClient, Configuration

    client = ApiClient(Configuration(host="http://127.0.0.1:9"))
    try:
        yield client
    finally:
        await client.close()
