"""Server-side printing: ``meta.k8s.io`` Tables for clients that ask for them (``kubectl get``).

A request whose Accept header names ``as=Table`` gets, instead of the object or list, a Table
with the real server's columns for the built-ins served here (ConfigMaps show Data, Pods show
Ready/Status/Restarts, ...) and, for custom resources, Name plus the CRD's
additionalPrinterColumns (simple ``.a.b`` JSON paths) or Name and Age. Each row carries the
object's metadata as a PartialObjectMetadata (``includeObject=Object`` carries the whole object,
``None`` nothing). In a watch, each event's object is a one-row Table; only the first carries the
column definitions, as with the real server.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Printer", "human_duration", "wants_table"]

Cell = Callable[[dict[str, Any]], Any]
_NAME_DOC = "Name must be unique within a namespace."
_AGE_DOC = "CreationTimestamp is a timestamp representing the server time when this object was created."


def wants_table(accept: str) -> str | None:
    """The Table apiVersion an Accept header asks for (meta.k8s.io/v1 or v1beta1), else None."""
    for part in accept.split(","):
        params = {
            p.split("=", 1)[0].strip(): p.split("=", 1)[1].strip() for p in part.split(";")[1:] if "=" in p
        }
        if params.get("as") == "Table" and params.get("g", "meta.k8s.io") == "meta.k8s.io":
            version = params.get("v", "v1")
            if version in ("v1", "v1beta1"):
                return f"meta.k8s.io/{version}"
    return None


def human_duration(seconds: float) -> str:
    """apimachinery's HumanDuration: 45s, 5m30s, 3h, 2d4h, 1y30d."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        return f"{hours // 24 // 365}y{(hours // 24) % 365}d"
    return f"{hours // 24 // 365}y"


def _age(obj: dict[str, Any]) -> str:
    stamp = (obj.get("metadata") or {}).get("creationTimestamp")
    if not isinstance(stamp, str):
        return "<unknown>"
    try:
        created = calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return "<unknown>"
    return human_duration(time.time() - created)


def _path(obj: Any, path: str) -> Any:
    node = obj
    for part in path.strip(".").split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _pod_status(obj: dict[str, Any]) -> str:
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    status = obj.get("status") or {}
    return str(status.get("reason") or status.get("phase") or "")


def _pod_ready(obj: dict[str, Any]) -> str:
    containers = (obj.get("spec") or {}).get("containers") or []
    statuses = (obj.get("status") or {}).get("containerStatuses") or []
    return f"{sum(1 for s in statuses if s.get('ready'))}/{len(containers)}"


def _ports(obj: dict[str, Any]) -> str:
    ports = (obj.get("spec") or {}).get("ports") or []
    return ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in ports) or "<none>"


def _involved(obj: dict[str, Any]) -> str:
    involved = obj.get("involvedObject") or {}
    return f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}"


def _col(
    name: str, cell: Cell, kind: str = "string", fmt: str = "", doc: str = "", priority: int = 0
) -> tuple[dict[str, Any], Cell]:
    return {"name": name, "type": kind, "format": fmt, "description": doc, "priority": priority}, cell


NAME = _col("Name", _name, fmt="name", doc=_NAME_DOC)
AGE = _col("Age", _age, doc=_AGE_DOC)
_COLUMNS: dict[tuple[str, str], list[tuple[dict[str, Any], Cell]]] = {
    ("", "configmaps"): [
        NAME,
        _col(
            "Data",
            lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {}),
            doc="Data contains the configuration data.",
        ),
        AGE,
    ],
    ("", "secrets"): [
        NAME,
        _col(
            "Type",
            lambda o: o.get("type", ""),
            doc="Used to facilitate programmatic handling of secret data.",
        ),
        _col("Data", lambda o: len(o.get("data") or {}), doc="Data contains the secret data."),
        AGE,
    ],
    ("", "namespaces"): [
        NAME,
        _col("Status", lambda o: _path(o, "status.phase") or "", doc="The status of the namespace"),
        AGE,
    ],
    ("", "serviceaccounts"): [
        NAME,
        _col("Secrets", lambda o: len(o.get("secrets") or []), doc="Secrets"),
        AGE,
    ],
    ("coordination.k8s.io", "leases"): [
        NAME,
        _col(
            "Holder",
            lambda o: _path(o, "spec.holderIdentity") or "",
            doc="holderIdentity contains the identity of the holder of a current lease.",
        ),
        AGE,
    ],
    ("", "pods"): [
        NAME,
        _col("Ready", _pod_ready, doc="The aggregate readiness state of this pod for accepting traffic."),
        _col("Status", _pod_status, doc="The aggregate status of the containers in this pod."),
        _col(
            "Restarts",
            lambda o: sum(
                int(s.get("restartCount") or 0) for s in _path(o, "status.containerStatuses") or []
            ),
            kind="integer",
            doc="The number of times the containers in this pod have been restarted.",
        ),
        AGE,
        _col(
            "IP",
            lambda o: _path(o, "status.podIP") or "<none>",
            doc="IP address allocated to the pod.",
            priority=1,
        ),
        _col(
            "Node",
            lambda o: _path(o, "spec.nodeName") or "<none>",
            doc="Name of the Node the Pod is bound to.",
            priority=1,
        ),
    ],
    ("", "services"): [
        NAME,
        _col("Type", lambda o: _path(o, "spec.type") or "", doc="The type of the service."),
        _col(
            "Cluster-IP",
            lambda o: _path(o, "spec.clusterIP") or "<none>",
            doc="The IP address of the service.",
        ),
        _col("External-IP", lambda o: "<none>", doc="The external IP address of the service."),
        _col("Port(s)", _ports, doc="The ports of the service."),
        AGE,
    ],
    ("apps", "deployments"): [
        NAME,
        _col(
            "Ready",
            lambda o: f"{_path(o, 'status.readyReplicas') or 0}/{_path(o, 'spec.replicas') or 0}",
            doc="Number of the pod with ready state",
        ),
        _col(
            "Up-to-date",
            lambda o: _path(o, "status.updatedReplicas") or 0,
            kind="integer",
            doc="Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
        ),
        _col(
            "Available",
            lambda o: _path(o, "status.availableReplicas") or 0,
            kind="integer",
            doc="Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
        ),
        AGE,
    ],
    ("", "events"): [
        _col(
            "Last Seen",
            lambda o: _age(
                {
                    "metadata": {
                        "creationTimestamp": o.get("lastTimestamp")
                        or (o.get("metadata") or {}).get("creationTimestamp")
                    }
                }
            ),
            doc="Time when last event was observed.",
        ),
        _col("Type", lambda o: o.get("type", ""), doc="Type of this event."),
        _col("Reason", lambda o: o.get("reason", ""), doc="Short, machine understandable string."),
        _col("Object", _involved, doc="The object this Event is about."),
        _col(
            "Message",
            lambda o: o.get("message", ""),
            doc="A human-readable description of the status of this operation.",
        ),
    ],
    ("apiextensions.k8s.io", "customresourcedefinitions"): [
        NAME,
        _col(
            "Created At",
            lambda o: (o.get("metadata") or {}).get("creationTimestamp"),
            kind="date",
            doc=_AGE_DOC,
        ),
    ],
}


def _custom_columns(crd: dict[str, Any] | None, version: str) -> list[tuple[dict[str, Any], Cell]]:
    columns = None
    for v in (crd or {}).get("spec", {}).get("versions") or []:
        if v.get("name") == version:
            columns = v.get("additionalPrinterColumns")
    if not columns:
        return [NAME, _col("Age", _age, kind="date", doc=_AGE_DOC)]
    out = [NAME]
    for column in columns:
        path = str(column.get("jsonPath", ""))
        kind = str(column.get("type", "string"))
        if path == ".metadata.creationTimestamp" and kind == "date":
            cell: Cell = _age
        else:

            def cell(o: dict[str, Any], path: str = path) -> Any:
                value = _path(o, path)
                return "<none>" if value is None else value

        out.append(
            _col(
                str(column.get("name", "")),
                cell,
                kind=kind,
                fmt=str(column.get("format", "")),
                doc=str(column.get("description", "")),
                priority=int(column.get("priority", 0)),
            )
        )
    return out


class Printer:
    """Turns objects of one resource into Table dicts (``api_version``: meta.k8s.io/v1 or v1beta1)."""

    def __init__(
        self,
        key: tuple[str, str],
        api_version: str,
        include: str = "Metadata",
        crd: dict[str, Any] | None = None,
        version: str = "",
    ) -> None:
        self.api_version = api_version
        self.include = include
        self.columns = _COLUMNS.get(key) or _custom_columns(crd, version)

    def _row(self, obj: dict[str, Any]) -> dict[str, Any]:
        row: dict[str, Any] = {"cells": [cell(obj) for _, cell in self.columns]}
        if self.include == "Object":
            row["object"] = obj
        elif self.include != "None":
            meta = {k: v for k, v in (obj.get("metadata") or {}).items()}
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": self.api_version,
                "metadata": meta,
            }
        return row

    def table(
        self, objects: list[dict[str, Any]], metadata: dict[str, Any], *, columns: bool = True
    ) -> dict[str, Any]:
        """A Table of ``objects``; ``columns=False`` leaves the definitions out (later watch events)."""
        out: dict[str, Any] = {"kind": "Table", "apiVersion": self.api_version, "metadata": metadata}
        if columns:
            out["columnDefinitions"] = [definition for definition, _ in self.columns]
        out["rows"] = [self._row(o) for o in objects]
        return out
