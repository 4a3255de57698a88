"""EventLogHandler: Python logging records about an object, shown in ``kubectl describe``.

Attach it to an operator's logger. A record becomes an Event when it concerns an object: the
handler's fixed ``obj``, or the object passed per record as ``extra={"k8s_object": obj}``; records
about no object are ignored. WARNING and above become ``Warning`` events, the rest ``Normal``; the
reason is ``extra={"reason": "..."}`` or ``default_reason``; the message is the formatted record.
Records from pycontroller.record itself are ignored, so event logging cannot loop.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from pycontroller.record.recorder import NORMAL, WARNING, EventRecorder

__all__ = ["EventLogHandler"]

_guard = threading.local()


class EventLogHandler(logging.Handler):
    """A logging handler that records Events through ``recorder`` (never blocks)."""

    def __init__(
        self,
        recorder: EventRecorder,
        obj: Any = None,
        *,
        level: int = logging.INFO,
        object_attr: str = "k8s_object",
        reason_attr: str = "reason",
        default_reason: str = "Logged",
    ) -> None:
        super().__init__(level)
        self.recorder = recorder
        self.obj = obj
        self.object_attr = object_attr
        self.reason_attr = reason_attr
        self.default_reason = default_reason

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "pycontroller.record" or record.name.startswith("pycontroller.record."):
            return
        if getattr(_guard, "active", False):
            return
        obj = getattr(record, self.object_attr, None)
        if obj is None:
            obj = self.obj
        if obj is None:
            return
        reason = getattr(record, self.reason_attr, None)
        if not isinstance(reason, str) or not reason:
            reason = self.default_reason
        _guard.active = True
        try:
            message = self.format(record)
            self.recorder.event(
                obj, WARNING if record.levelno >= logging.WARNING else NORMAL, reason, message
            )
        except Exception:
            self.handleError(record)
        finally:
            _guard.active = False
