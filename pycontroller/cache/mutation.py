"""A debug detector for code that mutates cached objects (client-go's cacheMutationDetector).

Informers share their cached objects with every handler and lister reader: mutating one corrupts
the cache for everybody, silently. With the detector on, the informer keeps a deep copy of every
object it caches and periodically compares; a difference is reported with the object's key.

Turn it on per informer (``SharedIndexInformer(..., detect_mutations=True)``) or for the whole
process with the environment variable ``PYCONTROLLER_CACHE_MUTATION_DETECTOR=true``. It costs a
copy per cached object and a full comparison per check: for tests and debugging, not production.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import orjson

__all__ = [
    "ENV_VAR",
    "CacheMutationDetector",
    "MutationError",
    "mutation_detection_enabled",
]

log = logging.getLogger("pycontroller.cache.mutation")

ENV_VAR = "PYCONTROLLER_CACHE_MUTATION_DETECTOR"


def mutation_detection_enabled() -> bool:
    """Whether ``PYCONTROLLER_CACHE_MUTATION_DETECTOR`` asks for the detector (true/1/yes)."""
    return os.environ.get(ENV_VAR, "").strip().lower() in ("1", "true", "yes", "on")


class MutationError(AssertionError):
    """A cached object was changed in place (raised by :meth:`CacheMutationDetector.check` when asked)."""


def _copy(obj: Any) -> Any:
    return orjson.loads(orjson.dumps(obj))


class CacheMutationDetector:
    """Keeps copies of cached objects and reports those that changed in place.

    ``on_mutation(key, cached_now, original)`` is called for each mutated object (default: log an
    error). Objects are kept ``retain`` seconds of the caller's clock (at least until the next check
    after that), as client-go does. Not thread-safe: used from the informer's loop.
    """

    def __init__(
        self,
        name: str,
        *,
        on_mutation: Callable[[str, Any, Any], object] | None = None,
        retain: float = 120.0,
    ) -> None:
        self.name = name
        self.retain = retain
        self.mutations = 0
        self._on_mutation = on_mutation
        self._kept: list[tuple[float, str, Any, Any]] = []

    def add_object(self, key: str, obj: Any, now: float) -> None:
        """Remember ``obj`` (as stored under ``key``) and a deep copy of it."""
        if isinstance(obj, dict):
            self._kept.append((now, key, obj, _copy(obj)))

    def check(self, now: float, *, raise_on_mutation: bool = False) -> int:
        """Compare every kept object with its copy; returns how many had changed.

        Forgets objects older than ``retain``. With ``raise_on_mutation`` a change raises
        :class:`MutationError` (after all were checked) instead of only being reported.
        """
        found: list[str] = []
        kept = []
        for entry in self._kept:
            added, key, obj, original = entry
            if obj != original:
                found.append(key)
                self.mutations += 1
                if self._on_mutation is not None:
                    self._on_mutation(key, obj, original)
                else:
                    log.error(
                        "%s: cached object %s was mutated in place; handlers and listers must copy "
                        "objects before changing them",
                        self.name,
                        key,
                    )
                continue  # report each mutation once
            if now - added < self.retain:
                kept.append(entry)
        self._kept = kept
        if found and raise_on_mutation:
            raise MutationError(f"{self.name}: cached objects mutated in place: {', '.join(found)}")
        return len(found)

    def __len__(self) -> int:
        return len(self._kept)
