"""Event handlers of shared informers, and the per-handler listener that feeds each one.

A handler is any object with three methods (plain or ``async``)::

    on_add(obj, is_in_initial_list)   # a new object; True while replaying the initial list
    on_update(old, new)               # a change, or a resync (then old and new carry the same resourceVersion)
    on_delete(obj)                    # obj, or a DeletedFinalStateUnknown tombstone for a missed delete

:class:`ResourceEventHandlerFuncs` builds one from functions (``on_add`` may take ``(obj)`` or
``(obj, is_in_initial_list)``), :class:`FilteringResourceEventHandler` puts a filter in front of one.

Delivery (client-go's ``processorListener``): every registered handler has its own unbounded buffer
(a deque) and its own task, so a slow handler delays only itself, never the cache or the other
handlers; ``registration.backlog`` says how far behind it is. A handler sees the notifications of one
informer in order. An exception from a handler is logged and counted (``registration.errors``) and
delivery continues. Handlers must not mutate the objects they receive: they are the cache's own.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from collections.abc import Callable
from typing import Any, Final, Protocol, runtime_checkable

__all__ = [
    "FilteringResourceEventHandler",
    "ResourceEventHandler",
    "ResourceEventHandlerFuncs",
    "ResourceEventHandlerRegistration",
]

log = logging.getLogger("pycontroller.cache.handlers")

#: Notification kinds, as the first item of a notification tuple ``(kind, a, b)``:
#: ``(ADD, obj, is_in_initial_list)``, ``(UPDATE, old, new)``, ``(DELETE, obj, None)``.
ADD: Final = 0
UPDATE: Final = 1
DELETE: Final = 2

#: How many notifications a listener delivers before yielding to the event loop.
_BATCH = 256


@runtime_checkable
class ResourceEventHandler(Protocol):
    """What ``SharedIndexInformer.add_event_handler`` accepts (methods may be ``async``)."""

    def on_add(self, obj: Any, is_in_initial_list: bool) -> Any: ...

    def on_update(self, old: Any, new: Any) -> Any: ...

    def on_delete(self, obj: Any) -> Any: ...


def _accepts_two_args(fn: Callable[..., Any]) -> bool:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without a signature: assume the full form
        return True
    positional = 0
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            return True
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            positional += 1
    return positional >= 2


class ResourceEventHandlerFuncs:
    """A handler from optional functions; a missing one ignores its events.

    ``on_add(obj)`` or ``on_add(obj, is_in_initial_list)``, ``on_update(old, new)``, ``on_delete(obj)``;
    each may be plain or ``async``.
    """

    __slots__ = ("_add", "_add_takes_flag", "_delete", "_update")

    def __init__(
        self,
        on_add: Callable[..., Any] | None = None,
        on_update: Callable[[Any, Any], Any] | None = None,
        on_delete: Callable[[Any], Any] | None = None,
    ) -> None:
        for name, fn in (("on_add", on_add), ("on_update", on_update), ("on_delete", on_delete)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be callable, got {type(fn).__name__}")
        self._add = on_add
        self._add_takes_flag = on_add is not None and _accepts_two_args(on_add)
        self._update = on_update
        self._delete = on_delete

    def on_add(self, obj: Any, is_in_initial_list: bool) -> Any:
        if self._add is None:
            return None
        if self._add_takes_flag:
            return self._add(obj, is_in_initial_list)
        return self._add(obj)

    def on_update(self, old: Any, new: Any) -> Any:
        return None if self._update is None else self._update(old, new)

    def on_delete(self, obj: Any) -> Any:
        return None if self._delete is None else self._delete(obj)

    def __repr__(self) -> str:
        parts = [
            f"{n}={getattr(f, '__qualname__', f)!s}"
            for n, f in (("on_add", self._add), ("on_update", self._update), ("on_delete", self._delete))
            if f is not None
        ]
        return f"ResourceEventHandlerFuncs({', '.join(parts)})"


class FilteringResourceEventHandler:
    """Passes to ``handler`` only objects for which ``filter_func(obj)`` is true.

    As in client-go, an update is turned into an add when the object starts passing the filter,
    into a delete (of the old object) when it stops, and dropped when neither passes. Deletes are
    filtered on the object given, which may be a ``DeletedFinalStateUnknown`` tombstone.
    """

    __slots__ = ("filter_func", "handler")

    def __init__(self, filter_func: Callable[[Any], bool], handler: ResourceEventHandler) -> None:
        if not callable(filter_func):
            raise TypeError("filter_func must be callable")
        self.filter_func = filter_func
        self.handler = handler

    def on_add(self, obj: Any, is_in_initial_list: bool) -> Any:
        if self.filter_func(obj):
            return self.handler.on_add(obj, is_in_initial_list)
        return None

    def on_update(self, old: Any, new: Any) -> Any:
        newer = self.filter_func(new)
        older = self.filter_func(old)
        if newer and older:
            return self.handler.on_update(old, new)
        if newer:
            return self.handler.on_add(new, False)
        if older:
            return self.handler.on_delete(old)
        return None

    def on_delete(self, obj: Any) -> Any:
        if self.filter_func(obj):
            return self.handler.on_delete(obj)
        return None


class ResourceEventHandlerRegistration:
    """One handler attached to one informer: its buffer, its task, its sync state.

    Returned by ``add_event_handler``; pass it to ``remove_event_handler``. ``has_synced()`` is true
    once the informer has synced and this handler has processed every notification of the initial
    list (or of the replay it got when added late). ``backlog`` is the number of notifications
    waiting for it; ``delivered`` and ``errors`` count what it processed and what raised.
    """

    def __init__(
        self,
        handler: ResourceEventHandler,
        resync_period: float,
        upstream_synced: Callable[[], bool],
        next_resync: float,
        name: str,
    ) -> None:
        for method in ("on_add", "on_update", "on_delete"):
            if not callable(getattr(handler, method, None)):
                raise TypeError(f"event handler {handler!r} has no {method}() method")
        self.handler = handler
        self.name = name
        self.resync_period = resync_period
        self.next_resync = next_resync
        self.delivered = 0
        self.errors = 0
        self._buffer: deque[tuple[int, Any, Any]] = deque()
        self._upstream_synced = upstream_synced
        self._pending_initial = 0
        self._wakeup: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._removed = False

    @property
    def backlog(self) -> int:
        """Notifications buffered for this handler and not yet delivered."""
        return len(self._buffer)

    @property
    def is_removed(self) -> bool:
        """True once the handler was removed (or its informer stopped)."""
        return self._removed

    def has_synced(self) -> bool:
        """Whether the informer synced and this handler processed its whole initial list."""
        return self._pending_initial == 0 and self._upstream_synced()

    # -- informer side -----------------------------------------------------------------------------

    def _add(self, notification: tuple[int, Any, Any]) -> None:
        if notification[0] == ADD and notification[2]:
            self._pending_initial += 1
        self._buffer.append(notification)
        wakeup = self._wakeup
        if wakeup is not None:
            self._wakeup = None
            if not wakeup.done():
                wakeup.set_result(None)

    def _should_resync(self, now: float) -> bool:
        """client-go's shouldResync + determineNextResync: due now? then schedule the next one."""
        if self.resync_period <= 0 or now < self.next_resync:
            return False
        self.next_resync = now + self.resync_period
        return True

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._task is None and not self._removed:
            self._task = loop.create_task(self._run(), name=f"handler {self.name}")

    def _stop(self, cancel: bool = True) -> asyncio.Task[None] | None:
        """Stop delivering (pending notifications are dropped); returns the task to await, if any.

        ``cancel`` cancels a handler call in progress (the informer stopping); without it the call
        in progress finishes and the task then ends (the handler being removed, as client-go).
        """
        self._removed = True
        self._buffer.clear()
        self._pending_initial = 0
        task, self._task = self._task, None
        if task is None or task.done():
            return None
        if cancel:
            task.cancel()
        else:
            wakeup = self._wakeup
            if wakeup is not None:
                self._wakeup = None
                if not wakeup.done():
                    wakeup.set_result(None)
        return task

    async def _run(self) -> None:
        buffer = self._buffer
        handler = self.handler
        on_add, on_update, on_delete = handler.on_add, handler.on_update, handler.on_delete
        loop = asyncio.get_running_loop()
        isawaitable = inspect.isawaitable
        while not self._removed:
            if not buffer:
                self._wakeup = loop.create_future()
                await self._wakeup
                continue
            for _ in range(_BATCH):
                if not buffer or self._removed:
                    break
                kind, a, b = buffer.popleft()
                try:
                    if kind == ADD:
                        result = on_add(a, b)
                    elif kind == UPDATE:
                        result = on_update(a, b)
                    else:
                        result = on_delete(a)
                    if result is not None and isawaitable(result):
                        await result
                except Exception:
                    self.errors += 1
                    log.exception("event handler %s failed", self.name)
                finally:
                    self.delivered += 1
                    if kind == ADD and b:
                        self._pending_initial -= 1
            await asyncio.sleep(0)

    def __repr__(self) -> str:
        return f"<ResourceEventHandlerRegistration {self.name} backlog={self.backlog}>"
