"""Helpers for informer tests: a scripted reflector and a recording handler."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pycontroller.cache.delta_fifo import DeltaFIFO


class ScriptedReflector:
    """Stands in for the Reflector: the test writes to ``store`` (the informer's DeltaFIFO)."""

    instances: list[ScriptedReflector]

    def __init__(self, store: DeltaFIFO) -> None:
        self.store = store
        self.running = False
        self.cancelled = False

    async def run(self) -> None:
        self.running = True
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise

    def last_sync_resource_version(self) -> str:
        return self.store.resource_version


class ReflectorSlot:
    """A reflector_factory that remembers the reflector it made."""

    def __init__(self) -> None:
        self.reflector: ScriptedReflector | None = None

    def __call__(self, store: DeltaFIFO) -> ScriptedReflector:
        self.reflector = ScriptedReflector(store)
        return self.reflector

    @property
    def store(self) -> DeltaFIFO:
        assert self.reflector is not None, "the informer has not started its reflector yet"
        return self.reflector.store


class Recorder:
    """A handler recording ("add", name, rv, initial) / ("update", name, old_rv, new_rv) / ("delete", name)."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    @staticmethod
    def _name(obj: Any) -> str:
        if isinstance(obj, tuple):  # a tombstone
            return f"tombstone:{obj[0]}"
        return str(obj["metadata"]["name"])

    def on_add(self, obj: Any, is_in_initial_list: bool) -> None:
        self.events.append(("add", self._name(obj), obj["metadata"]["resourceVersion"], is_in_initial_list))

    def on_update(self, old: Any, new: Any) -> None:
        self.events.append(
            (
                "update",
                self._name(new),
                old["metadata"]["resourceVersion"],
                new["metadata"]["resourceVersion"],
            )
        )

    def on_delete(self, obj: Any) -> None:
        self.events.append(("delete", self._name(obj)))


def cm(name: str, rv: str = "1", ns: str = "ns", **extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns, "resourceVersion": rv}, **extra}


async def eventually(condition: Callable[[], bool], *, timeout: float = 5.0) -> None:
    """Yield to the loop until ``condition()`` holds; fail after ``timeout`` seconds of loop time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached before the deadline")
        await asyncio.sleep(0)
