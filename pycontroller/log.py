"""Logging with the reconcile's context on every record, as text or JSON, with secrets scrubbed.

The controller sets three context variables around each reconcile: :data:`controller_var`,
:data:`key_var` and :data:`reconcile_id_var`. :class:`ContextFilter` copies them onto every record
(``record.controller``, ``record.key``, ``record.reconcile_id``), so a reconcile's own
``logging.getLogger(...).info(...)`` calls carry them too, including in plain-function reconcilers
run in the thread pool (the context is copied into the thread).

:func:`configure_logging` installs a handler with :class:`TextFormatter` (default) or
:class:`JSONFormatter`. Both formatters pass the message through :func:`scrub`, which masks bearer
tokens, ``Authorization`` headers, ``token``/``password`` fields, and the values of a Secret's
``data``/``stringData`` when a Secret object was formatted into the message. Use :func:`redact` to
log an object safely.
"""

from __future__ import annotations

import contextvars
import datetime
import logging
import re
import sys
from collections.abc import Mapping
from typing import Any

import orjson

__all__ = [
    "ContextFilter",
    "JSONFormatter",
    "TextFormatter",
    "configure_logging",
    "controller_var",
    "key_var",
    "reconcile_id_var",
    "redact",
    "scrub",
]

controller_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "pycontroller_controller", default=None
)
key_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("pycontroller_key", default=None)
reconcile_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "pycontroller_reconcile_id", default=None
)

_MASK = "<redacted>"
_PATTERNS = [
    # "Authorization: Bearer abc", "'authorization': 'Bearer abc'", "Bearer abc"
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/=]+"), r"\1" + _MASK),
    (re.compile(r"(?i)(basic\s+)[A-Za-z0-9+/=]{8,}"), r"\1" + _MASK),
    # token="..." / 'token': '...' / password: ...
    (
        re.compile(
            r"""(?i)(["']?(?:token|password|client-key-data|access-token)["']?\s*[:=]\s*["']?)[^"',\s}]+"""
        ),
        r"\1" + _MASK,
    ),
]
# The data of a Secret that found its way into a message: 'kind': 'Secret' ... 'data': {...}
_SECRET_DATA = re.compile(r"""(?is)(["'](?:data|stringData)["']\s*:\s*)\{[^{}]*\}""")
_SECRET_KIND = re.compile(r"""(?i)["']kind["']\s*:\s*["']Secret["']""")


def scrub(text: str) -> str:
    """Mask tokens, passwords and Secret data in ``text``. Never suspends; never raises."""
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    if _SECRET_KIND.search(text):
        text = _SECRET_DATA.sub(r"\1{" + repr(_MASK) + "}", text)
    return text


def redact(obj: Any) -> Any:
    """A copy of a Kubernetes object fit to log: a Secret's ``data``/``stringData`` values masked.

    Other objects are returned unchanged (not copied). Never mutates ``obj``.
    """
    if isinstance(obj, Mapping) and obj.get("kind") == "Secret":
        out = dict(obj)
        for field in ("data", "stringData"):
            values = out.get(field)
            if isinstance(values, Mapping):
                out[field] = dict.fromkeys(values, _MASK)
        return out
    return obj


class ContextFilter(logging.Filter):
    """Copy the reconcile context variables onto every record it sees (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "controller"):
            record.controller = controller_var.get()
        if not hasattr(record, "key"):
            record.key = key_var.get()
        if not hasattr(record, "reconcile_id"):
            record.reconcile_id = reconcile_id_var.get()
        return True


class TextFormatter(logging.Formatter):
    """``time level logger message controller=... key=... reconcileID=...``, scrubbed."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = [
            f"{label}={value}"
            for label, value in (
                ("controller", getattr(record, "controller", None) or controller_var.get()),
                ("key", getattr(record, "key", None) or key_var.get()),
                ("reconcileID", getattr(record, "reconcile_id", None) or reconcile_id_var.get()),
            )
            if value is not None
        ]
        if extras:
            head, sep, tail = line.partition("\n")
            line = head + " " + " ".join(extras) + sep + tail
        return scrub(line)


class JSONFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, msg, controller, key, reconcileID, error; scrubbed."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        controller = getattr(record, "controller", None) or controller_var.get()
        key = getattr(record, "key", None) or key_var.get()
        rid = getattr(record, "reconcile_id", None) or reconcile_id_var.get()
        if controller is not None:
            out["controller"] = controller
        if key is not None:
            out["key"] = key
        if rid is not None:
            out["reconcileID"] = rid
        if record.exc_info:
            out["error"] = scrub(self.formatException(record.exc_info))
        return orjson.dumps(out, default=str).decode()


def configure_logging(
    *, json: bool = False, level: int | str = logging.INFO, stream: Any = None, logger: str = ""
) -> logging.Handler:
    """Install one handler on ``logger`` (the root by default) emitting text or JSON with context.

    Returns the handler (remove it with ``logging.getLogger(logger).removeHandler(h)``). Calling it
    again replaces the handler it installed before, so it is safe to call once per process start.
    """
    target = logging.getLogger(logger)
    for existing in list(target.handlers):
        if getattr(existing, "_pycontroller", False):
            target.removeHandler(existing)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JSONFormatter() if json else TextFormatter())
    handler.addFilter(ContextFilter())
    handler._pycontroller = True  # type: ignore[attr-defined]
    target.addHandler(handler)
    target.setLevel(level)
    return handler
