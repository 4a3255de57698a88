"""Deletion semantics of the registry: preconditions, propagation policies, finalizers, collections.

An object with finalizers (or a propagation policy that adds one: Foreground adds
``foregroundDeletion``, Orphan adds ``orphan``, as the real server does even without a garbage
collector) gets a ``deletionTimestamp`` and stays until an update removes its last finalizer.
Namespaces go Terminating and stay until finalized; CRDs are handed to :mod:`.crds`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .objects import CRD_KEY, NS_KEY, now_rfc3339, ordered
from .resources import ResourceDef
from .selectors import Filter
from .status import ApiFailure, invalid
from .storage import RegistryCore, Stored, Table

if TYPE_CHECKING:
    pass

__all__ = ["DeleteSupport"]


class DeleteSupport(RegistryCore):
    """Mixin of :class:`Registry`: delete and deletecollection."""

    if TYPE_CHECKING:  # provided by CrdSupport

        def _delete_crd(self, table: Table, old: Stored) -> tuple[Stored, bool]: ...

    def delete(
        self,
        table: Table,
        namespace: str | None,
        name: str,
        options: dict[str, Any] | None = None,
    ) -> tuple[Stored, bool]:
        """Delete or start deleting; returns (the object's last state, whether it is gone)."""
        rdef = table.rdef
        old = self.get(table, namespace, name)
        options = options or {}
        pre = options.get("preconditions") or {}
        old_meta = old.obj["metadata"]
        if pre.get("uid") and pre["uid"] != old_meta.get("uid"):
            raise _precondition(
                rdef,
                name,
                f"the UID in the precondition ({pre['uid']}) does not match the UID in record "
                f"({old_meta.get('uid')}). The object might have been deleted and then recreated",
            )
        if pre.get("resourceVersion") and pre["resourceVersion"] != old_meta.get("resourceVersion"):
            raise _precondition(
                rdef,
                name,
                f"the ResourceVersion in the precondition ({pre['resourceVersion']}) does not match the "
                f"ResourceVersion in record ({old_meta.get('resourceVersion')}). The object might have been modified",
            )
        policy = options.get("propagationPolicy")
        orphan_dependents = options.get("orphanDependents")
        if policy is not None and orphan_dependents is not None:
            raise invalid(
                "meta.k8s.io",
                "DeleteOptions",
                "",
                [
                    (
                        "FieldValueInvalid",
                        "propagationPolicy",
                        f'Invalid value: "{policy}": orphanDependents and deletionPropagation cannot be both set',
                    )
                ],
            )
        if policy is None and orphan_dependents is not None:
            policy = "Orphan" if orphan_dependents else "Background"
        if policy is None and rdef.delete_orphans:
            policy = "Orphan"  # the resource's default GC policy (Jobs, CronJobs, ReplicationControllers)
        if policy not in (None, "Foreground", "Background", "Orphan"):
            raise invalid(
                "meta.k8s.io",
                "DeleteOptions",
                "",
                [
                    (
                        "FieldValueNotSupported",
                        "propagationPolicy",
                        f'Unsupported value: "{policy}": supported values: "Foreground", "Background", "Orphan"',
                    )
                ],
            )
        finalizers = list(old_meta.get("finalizers") or [])
        if policy == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        elif policy == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        if rdef.key == CRD_KEY:
            return self._delete_crd(table, old)
        if rdef.key == NS_KEY or finalizers:
            if old_meta.get("deletionTimestamp") and finalizers == list(old_meta.get("finalizers") or []):
                return old, False
            obj = dict(old.obj)
            meta = dict(old_meta)
            meta["finalizers"] = finalizers
            if not finalizers:
                del meta["finalizers"]
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = now_rfc3339()
                if rdef.key != NS_KEY:
                    meta["deletionGracePeriodSeconds"] = 0
                if meta.get("generation"):
                    meta["generation"] += 1
            obj["metadata"] = meta
            if rdef.key == NS_KEY:
                obj["status"] = {**(obj.get("status") or {}), "phase": "Terminating"}
            return self._commit(table, "MODIFIED", ordered(obj), old), False
        obj = dict(old.obj)
        obj["metadata"] = dict(old_meta)
        if rdef.key == ("", "pods"):  # graceful deletion with a zero grace period (not scheduled)
            obj["metadata"].setdefault("deletionTimestamp", now_rfc3339())
            obj["metadata"].setdefault("deletionGracePeriodSeconds", 0)
            obj = ordered(obj)
        return self._commit(table, "DELETED", obj, old), True

    def delete_collection(
        self, table: Table, namespace: str | None, filt: Filter, options: dict[str, Any] | None
    ) -> list[Stored]:
        out = []
        for stored in table.sorted_now():
            if namespace and stored.key[0] != namespace:
                continue
            if not filt.matches(stored.obj):
                continue
            result, _ = self.delete(table, stored.key[0] or None, stored.key[1], options)
            out.append(result)
        return out


def _precondition(rdef: ResourceDef, name: str, why: str) -> ApiFailure:
    details: dict[str, Any] = {"name": name}
    if rdef.group:
        details["group"] = rdef.group
    details["kind"] = rdef.kind
    return ApiFailure(
        409, "Conflict", f'Operation cannot be fulfilled on {rdef.kind} "{name}": {why}', details
    )
