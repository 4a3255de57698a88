"""An in-memory EventSink behaving like the API server for Events (create, merge-patch, 404, 409)."""

from __future__ import annotations

import copy
from typing import Any

from pycontroller.errors import AlreadyExistsError, NotFoundError


class MemSink:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.rv = 0
        self.errors: list[BaseException] = []  # raised by the next calls, in order

    def _maybe_fail(self) -> None:
        if self.errors:
            raise self.errors.pop(0)

    async def create(self, event: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("create", event["metadata"]["name"]))
        self._maybe_fail()
        key = (event["metadata"]["namespace"], event["metadata"]["name"])
        if key in self.objects:
            raise AlreadyExistsError(409, "AlreadyExists", f"events {key[1]!r} already exists")
        self.rv += 1
        stored = copy.deepcopy(event)
        stored["metadata"]["resourceVersion"] = str(self.rv)
        self.objects[key] = stored
        return copy.deepcopy(stored)

    async def patch(self, event: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("patch", event["metadata"]["name"]))
        self._maybe_fail()
        key = (event["metadata"]["namespace"], event["metadata"]["name"])
        if key not in self.objects:
            raise NotFoundError(404, "NotFound", f"events {key[1]!r} not found")
        self.rv += 1
        stored = self.objects[key]
        stored.update(copy.deepcopy(patch))
        stored["metadata"]["resourceVersion"] = str(self.rv)
        return copy.deepcopy(stored)

    def events(self) -> list[dict[str, Any]]:
        return list(self.objects.values())

    def by_message(self, message: str) -> dict[str, Any]:
        (found,) = [e for e in self.objects.values() if e["message"] == message]
        return found
