"""The leader-election record stored in a lock, and the Kubernetes time formats it is written in.

:class:`LeaderElectionRecord` mirrors client-go's ``resourcelock.LeaderElectionRecord``: who holds the
lock, for how long a holder's claim lasts, when it was acquired and last renewed, and how many times
the holder changed. Times are wall-clock seconds since the Unix epoch (floats) or None when unset;
they are only written for humans and other tools: electors judge validity with their own local
clocks (see :mod:`pycontroller.leaderelection.elector`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import attrs

__all__ = ["LeaderElectionRecord", "format_micro_time", "format_time", "parse_time"]

_TIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)


def format_micro_time(seconds: float) -> str:
    """A ``metav1.MicroTime`` string: ``2006-01-02T15:04:05.000000Z`` (UTC, microseconds)."""
    micros = round(seconds * 1_000_000)
    whole, frac = divmod(micros, 1_000_000)
    stamp = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{frac:06d}Z"


def format_time(seconds: float) -> str:
    """A ``metav1.Time`` string: ``2006-01-02T15:04:05Z`` (UTC, whole seconds, truncated like Go)."""
    return datetime.fromtimestamp(int(seconds // 1), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any) -> float | None:
    """Epoch seconds from an RFC 3339 string (``Time`` or ``MicroTime``); None for null/empty.

    Raises ValueError for a string that is not RFC 3339.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected an RFC 3339 time string, got {type(value).__name__}")
    m = _TIME_RE.match(value)
    if m is None:
        raise ValueError(f"not an RFC 3339 time: {value!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    frac = m.group(7) or ""
    dt = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    result = dt.timestamp() + (int(frac) / 10 ** len(frac) if frac else 0.0)
    if m.group(9):
        offset = int(m.group(10)) * 3600 + int(m.group(11)) * 60
        result -= offset if m.group(9) == "+" else -offset
    return result


@attrs.frozen
class LeaderElectionRecord:
    """What a lock holds (client-go's LeaderElectionRecord).

    ``holder_identity`` is "" when nobody holds the lock (after a release). ``acquire_time`` and
    ``renew_time`` are epoch seconds or None.
    """

    holder_identity: str = ""
    lease_duration_seconds: int = 0
    acquire_time: float | None = None
    renew_time: float | None = None
    leader_transitions: int = 0

    def to_lease_spec(self) -> dict[str, Any]:
        """The coordination.k8s.io/v1 LeaseSpec for this record (MicroTime timestamps)."""
        return {
            "holderIdentity": self.holder_identity,
            "leaseDurationSeconds": self.lease_duration_seconds,
            "acquireTime": None if self.acquire_time is None else format_micro_time(self.acquire_time),
            "renewTime": None if self.renew_time is None else format_micro_time(self.renew_time),
            "leaseTransitions": self.leader_transitions,
        }

    @classmethod
    def from_lease_spec(cls, spec: Any) -> LeaderElectionRecord:
        """Read a LeaseSpec dict (missing fields become their zero values).

        Raises ValueError when a field has the wrong type or a time is not RFC 3339.
        """
        if spec is None:
            spec = {}
        if not isinstance(spec, dict):
            raise ValueError(f"lease spec must be an object, got {type(spec).__name__}")
        holder = spec.get("holderIdentity") or ""
        duration = spec.get("leaseDurationSeconds") or 0
        transitions = spec.get("leaseTransitions") or 0
        if not isinstance(holder, str):
            raise ValueError("lease spec.holderIdentity must be a string")
        if not isinstance(duration, int) or not isinstance(transitions, int):
            raise ValueError("lease spec.leaseDurationSeconds and leaseTransitions must be integers")
        return cls(
            holder_identity=holder,
            lease_duration_seconds=duration,
            acquire_time=parse_time(spec.get("acquireTime")),
            renew_time=parse_time(spec.get("renewTime")),
            leader_transitions=transitions,
        )
