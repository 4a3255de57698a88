"""Status conditions with apimachinery's ``meta`` semantics (``k8s.io/apimachinery/pkg/api/meta``).

Conditions are the ``status.conditions`` list of ``metav1.Condition`` dicts::

    {"type": "Ready", "status": "True", "reason": "Synced", "message": "...",
     "lastTransitionTime": "2024-05-01T12:00:00Z", "observedGeneration": 3}

Typical use in a reconcile, on your own copy of the object::

    changed = set_status_condition(
        conditions_of(foo), "Ready", "True", "DeploymentAvailable", "2/2 replicas", observed_generation=gen
    )
    if changed:
        await client.replace_status(foo)

Rules (apimachinery's ``SetStatusCondition``): a new type is appended with ``lastTransitionTime``
now; for an existing type, ``lastTransitionTime`` moves only when ``status`` changes, while reason,
message and observedGeneration are updated in place; the return value says whether anything
changed, so an unchanged condition costs no write. Inputs are validated like the API server
validates ``metav1.Condition``: type a qualified name (``Ready``, ``example.com/Synced``), status
True/False/Unknown, reason CamelCase (``^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$``, at most 1024
characters), message at most 32768 characters, observedGeneration >= 0. Bad input raises
:class:`~pycontroller.errors.InvalidObjectError` and changes nothing.

Time comes from a :class:`~pycontroller.clock.Clock` (``wall()``), so tests pass a FakeClock.
Every function works on plain lists of dicts, mutates only the list it is given, and never suspends.
"""

from __future__ import annotations

import re
import time
from collections.abc import MutableMapping, MutableSequence, Sequence
from typing import Any

from pycontroller.clock import Clock
from pycontroller.errors import InvalidObjectError

__all__ = [
    "CONDITION_FALSE",
    "CONDITION_TRUE",
    "CONDITION_UNKNOWN",
    "conditions_of",
    "find_status_condition",
    "is_status_condition_false",
    "is_status_condition_present_and_equal",
    "is_status_condition_true",
    "remove_status_condition",
    "set_status_condition",
]

CONDITION_TRUE = "True"
CONDITION_FALSE = "False"
CONDITION_UNKNOWN = "Unknown"
_STATUSES = (CONDITION_TRUE, CONDITION_FALSE, CONDITION_UNKNOWN)

_REASON = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
_TYPE = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
_MAX_TYPE, _MAX_REASON, _MAX_MESSAGE = 316, 1024, 32768

Condition = MutableMapping[str, Any]


def _rfc3339(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(seconds)))


def _validate(type: str, status: str, reason: str, message: str, observed_generation: int | None) -> None:
    if not isinstance(type, str) or not _TYPE.match(type) or len(type) > _MAX_TYPE:
        raise InvalidObjectError(
            f"condition type {type!r} is not a qualified name (like 'Ready' or 'example.com/Synced')"
        )
    if status not in _STATUSES:
        raise InvalidObjectError(f"condition {type} status must be True, False or Unknown, got {status!r}")
    if not isinstance(reason, str) or not _REASON.match(reason) or len(reason) > _MAX_REASON:
        raise InvalidObjectError(
            f"condition {type} reason {reason!r} must be CamelCase: a letter, then letters, digits, "
            "'_', ',' or ':', not ending in ',' or ':' (at most 1024 characters)"
        )
    if not isinstance(message, str) or len(message) > _MAX_MESSAGE:
        raise InvalidObjectError(f"condition {type} message must be a string of at most 32768 characters")
    if observed_generation is not None and (
        isinstance(observed_generation, bool)
        or not isinstance(observed_generation, int)
        or observed_generation < 0
    ):
        raise InvalidObjectError(
            f"condition {type} observed_generation must be an int >= 0, got {observed_generation!r}"
        )


def conditions_of(obj: MutableMapping[str, Any]) -> MutableSequence[Condition]:
    """``obj["status"]["conditions"]``, created empty when missing (your copy, never a cached object)."""
    status = obj.setdefault("status", {})
    if not isinstance(status, MutableMapping):
        raise InvalidObjectError("the object's status is not a mapping")
    conditions = status.setdefault("conditions", [])
    if not isinstance(conditions, MutableSequence):
        raise InvalidObjectError("the object's status.conditions is not a list")
    return conditions


def find_status_condition(conditions: Sequence[Condition] | None, type: str) -> Condition | None:
    """The condition of ``type``, or None."""
    for condition in conditions or ():
        if isinstance(condition, MutableMapping) and condition.get("type") == type:
            return condition
    return None


def set_status_condition(
    conditions: MutableSequence[Condition],
    type: str,
    status: str,
    reason: str,
    message: str = "",
    observed_generation: int | None = None,
    *,
    clock: Clock | None = None,
) -> bool:
    """Set the condition of ``type`` (module doc for the rules); returns whether anything changed.

    ``observed_generation`` None leaves the field out (apimachinery's zero value, omitted).
    ``clock`` gives ``lastTransitionTime`` (its ``wall()``; the system time by default).
    """
    if not isinstance(conditions, MutableSequence):
        raise TypeError(f"conditions must be a list, got {conditions.__class__.__name__}")
    _validate(type, status, reason, message, observed_generation)
    now = _rfc3339(clock.wall() if clock is not None else time.time())
    existing = find_status_condition(conditions, type)
    if existing is None:
        new: dict[str, Any] = {
            "type": type,
            "status": status,
            "reason": reason,
            "message": message,
            "lastTransitionTime": now,
        }
        if observed_generation:
            new["observedGeneration"] = observed_generation
        conditions.append(new)
        return True
    changed = False
    if existing.get("status") != status:
        existing["status"] = status
        existing["lastTransitionTime"] = now
        changed = True
    if existing.get("reason") != reason:
        existing["reason"] = reason
        changed = True
    if existing.get("message", "") != message:
        existing["message"] = message
        changed = True
    if (existing.get("observedGeneration") or 0) != (observed_generation or 0):
        if observed_generation:
            existing["observedGeneration"] = observed_generation
        else:
            existing.pop("observedGeneration", None)
        changed = True
    return changed


def remove_status_condition(conditions: MutableSequence[Condition], type: str) -> bool:
    """Remove the condition of ``type``; returns whether there was one."""
    for i, condition in enumerate(conditions):
        if isinstance(condition, MutableMapping) and condition.get("type") == type:
            del conditions[i]
            return True
    return False


def is_status_condition_present_and_equal(
    conditions: Sequence[Condition] | None, type: str, status: str
) -> bool:
    """True when the condition of ``type`` exists with ``status``."""
    condition = find_status_condition(conditions, type)
    return condition is not None and condition.get("status") == status


def is_status_condition_true(conditions: Sequence[Condition] | None, type: str) -> bool:
    """True when the condition of ``type`` is present with status True."""
    return is_status_condition_present_and_equal(conditions, type, CONDITION_TRUE)


def is_status_condition_false(conditions: Sequence[Condition] | None, type: str) -> bool:
    """True when the condition of ``type`` is present with status False (absent is neither)."""
    return is_status_condition_present_and_equal(conditions, type, CONDITION_FALSE)
