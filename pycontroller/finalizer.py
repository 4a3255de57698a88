"""Finalizers: run clean-up code before an object goes, the way controller-runtime's finalizer helper does.

A finalizer is a name in ``metadata.finalizers``; while any is listed, the API server keeps a
deleted object (with ``metadata.deletionTimestamp`` set) so its controllers can clean up what it
stood for (an external resource, copies elsewhere). The life of one::

    live object, our name missing      -> add every registered name, in ONE write
    live object, names present         -> nothing to do here (the reconcile runs as usual)
    being deleted, one of ours present -> cleanup(obj) for each of ours present; a name is removed
                                          (one write) once all cleanups succeeded
    cleanup raises                     -> the error propagates: the controller retries the key with
                                          its per-key backoff; a Warning Event (reason
                                          ``FinalizerError``) says which finalizer failed and why

:class:`Finalizers` holds the registrations; :meth:`Finalizers.finalize` is the in-memory step
(controller-runtime's ``Finalizers.Finalize``): it changes the object you pass (your copy) and says
whether it must be written. :meth:`Finalizers.reconcile` does the whole step against the API server
(reads nothing, writes at most once) and is what ``Builder.with_finalizer`` runs before your
reconcile.

Idempotent across restarts: the state lives in the object, so a controller restarted between a
cleanup and the removal runs the cleanup again. Cleanups must therefore be idempotent (succeed when
there is nothing left to clean), as in controller-runtime.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

import attrs

from pycontroller.client import GroupVersionResource
from pycontroller.controllerutil import add_finalizer, contains_finalizer, remove_finalizer
from pycontroller.errors import NotFoundError

__all__ = ["Cleanup", "FinalizeResult", "FinalizerError", "Finalizers"]

Cleanup = Callable[[Any], "Awaitable[None] | None"]
"""A clean-up function: receives the object being deleted (a copy); async or plain."""

_QUALIFIED = "/"


class FinalizerError(Exception):
    """One or more cleanups failed; ``errors`` maps each finalizer name to its exception;
    ``updated`` says whether names of cleanups that succeeded were removed from the object."""

    def __init__(self, errors: Mapping[str, BaseException], *, updated: bool = False) -> None:
        self.errors = dict(errors)
        self.updated = updated
        detail = "; ".join(f"{name}: {type(exc).__name__}: {exc}" for name, exc in self.errors.items())
        super().__init__(f"finalizer cleanup failed: {detail}")


@attrs.frozen
class FinalizeResult:
    """What :meth:`Finalizers.finalize` did to the object: ``updated`` (finalizers added or removed,
    so the object must be written), ``deleting`` (it has a deletionTimestamp)."""

    updated: bool
    deleting: bool


class Finalizers:
    """A registry of finalizer names and their cleanups (see the module doc)."""

    def __init__(self) -> None:
        self._cleanups: dict[str, Cleanup] = {}

    def register(self, name: str, cleanup: Cleanup) -> None:
        """Register ``cleanup`` under the finalizer ``name`` (a qualified name: ``example.com/x``).

        Raises ``ValueError`` for a name registered twice or not qualified (the API server warns on
        unqualified finalizer names), ``TypeError`` for a non-callable. Never suspends.
        """
        if not isinstance(name, str) or _QUALIFIED not in name or name.startswith("/") or name.endswith("/"):
            raise ValueError(f"finalizer name {name!r} must be qualified, like 'example.com/cleanup'")
        if not callable(cleanup):
            raise TypeError(f"finalizer {name!r}: cleanup must be callable, got {type(cleanup).__name__}")
        if name in self._cleanups:
            raise ValueError(f"finalizer {name!r} is already registered")
        self._cleanups[name] = cleanup

    @property
    def names(self) -> list[str]:
        """The registered names, in registration order."""
        return list(self._cleanups)

    def __bool__(self) -> bool:
        return bool(self._cleanups)

    async def finalize(self, obj: MutableMapping[str, Any]) -> FinalizeResult:
        """Add missing names to a live ``obj``, or run the cleanups of a deleting one and remove
        the names whose cleanup succeeded. Changes ``obj`` in place (pass a copy, never a cached
        object). Raises :class:`FinalizerError` after trying every cleanup when some failed (the
        names of those that succeeded are removed from ``obj`` all the same). Suspends in async
        cleanups.
        """
        meta = obj.get("metadata") or {}
        if not meta.get("deletionTimestamp"):
            updated = False
            for name in self._cleanups:
                updated |= add_finalizer(obj, name)
            return FinalizeResult(updated=updated, deleting=False)
        updated = False
        errors: dict[str, BaseException] = {}
        for name, cleanup in self._cleanups.items():
            if not contains_finalizer(obj, name):
                continue
            try:
                result = cleanup(copy.deepcopy(obj))
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                errors[name] = exc
                continue
            updated |= remove_finalizer(obj, name)
        if errors:
            raise FinalizerError(errors, updated=updated)
        return FinalizeResult(updated=updated, deleting=True)

    async def reconcile(
        self, client: Any, gvr: GroupVersionResource, obj: Mapping[str, Any], *, recorder: Any = None
    ) -> tuple[FinalizeResult, dict[str, Any] | None]:
        """:meth:`finalize` a copy of ``obj`` (e.g. from a cache) and write its finalizers when they
        changed: one merge patch of ``metadata.finalizers`` guarded by the object's
        resourceVersion (a stale copy gets ``ConflictError``, to be retried). Returns the result and
        the object as written (None when nothing was written or the object is gone).

        A failing cleanup is reported as a Warning Event ``FinalizerError`` through ``recorder``
        (when given), the finalizers that did succeed are still removed, and the
        :class:`FinalizerError` is raised so the caller retries with backoff. Suspends.
        """
        mine = copy.deepcopy(dict(obj))
        failure: FinalizerError | None = None
        try:
            result = await self.finalize(mine)
        except FinalizerError as exc:
            failure = exc
            result = FinalizeResult(updated=exc.updated, deleting=True)
            if recorder is not None:
                for name, error in exc.errors.items():
                    recorder.event(obj, "Warning", "FinalizerError", f"finalizer {name} failed: {error}")
        written: dict[str, Any] | None = None
        if result.updated:
            meta = mine["metadata"]
            patch = {
                "metadata": {
                    "finalizers": list(meta.get("finalizers") or []) or None,
                    "resourceVersion": meta.get("resourceVersion"),
                }
            }
            try:
                written = await client.patch(gvr, meta["name"], patch, meta.get("namespace"))
            except NotFoundError:
                written = None  # the last finalizer went elsewhere and the object is gone: done
        if failure is not None:
            raise failure
        return result, written
