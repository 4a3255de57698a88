"""CustomResourceDefinitions: validating them, serving their resources, and deleting them.

Creating a CRD serves its resource at once (the fake is "Established" immediately); deleting it
answers with the CRD marked for deletion, deletes every custom resource (DELETED events), stops
serving the resource (its watches end) and removes the CRD, like the real apiextensions
controllers do a moment later.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .objects import CRD_FINALIZER, CRD_KEY, now_rfc3339, ordered
from .resources import resource_from_crd
from .status import invalid
from .storage import RegistryCore, Stored, Table

if TYPE_CHECKING:
    pass

__all__ = ["CrdSupport", "crd_established"]


def crd_established(crd: dict[str, Any]) -> bool:
    """Whether a stored CRD's Established condition is True (only those are served)."""
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


class CrdSupport(RegistryCore):
    """Mixin of :class:`Registry`: the CRD lifecycle."""

    def _prepare_crd(self, obj: dict[str, Any]) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            raise invalid(
                "apiextensions.k8s.io",
                "CustomResourceDefinition",
                obj["metadata"]["name"],
                [("FieldValueRequired", "spec", "Required value")],
            )
        name = obj["metadata"]["name"]
        names = spec.get("names") or {}
        group = spec.get("group") or ""
        causes = []
        if name != f"{names.get('plural')}.{group}":
            causes.append(
                (
                    "FieldValueInvalid",
                    "metadata.name",
                    f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
                )
            )
        versions = spec.get("versions") or []
        if sum(1 for v in versions if v.get("storage")) != 1:
            causes.append(
                (
                    "FieldValueInvalid",
                    "spec.versions",
                    "Invalid value: must have exactly one version marked as storage version",
                )
            )
        protected = (
            group.endswith(".k8s.io")
            or group.endswith(".kubernetes.io")
            or group in ("k8s.io", "kubernetes.io")
        )
        annotations = obj["metadata"].get("annotations") or {}
        if protected and "api-approved.kubernetes.io" not in annotations:
            causes.append(
                (
                    "FieldValueRequired",
                    "metadata.annotations[api-approved.kubernetes.io]",
                    'Required value: protected groups must have approval annotation "api-approved.kubernetes.io", '
                    "see https://github.com/kubernetes/enhancements/pull/1111",
                )
            )
        if causes:
            raise invalid("apiextensions.k8s.io", "CustomResourceDefinition", name, causes)
        spec = dict(spec)
        spec.setdefault("conversion", {"strategy": "None"})
        if isinstance(names, dict) and names.get("kind") and "listKind" not in names:
            spec["names"] = {**names, "listKind": f"{names['kind']}List"}
        obj["spec"] = spec
        meta = obj["metadata"]
        if not meta.get("deletionTimestamp"):
            finalizers = list(meta.get("finalizers") or [])
            if CRD_FINALIZER not in finalizers:
                finalizers.append(CRD_FINALIZER)
            meta["finalizers"] = finalizers
        full_names = dict(names)
        full_names.setdefault("singular", str(names.get("kind", "")).lower())
        full_names.setdefault("listKind", f"{names.get('kind', '')}List")
        accepted, conflict = self._accepted_names(name, group, full_names)
        if conflict is None:
            conditions = [
                {
                    "type": "NamesAccepted",
                    "status": "True",
                    "lastTransitionTime": now_rfc3339(),
                    "reason": "NoConflicts",
                    "message": "no conflicts found",
                },
                {
                    "type": "Established",
                    "status": "True",
                    "lastTransitionTime": now_rfc3339(),
                    "reason": "InitialNamesAccepted",
                    "message": "the initial names have been accepted",
                },
            ]
        else:
            # like the real naming controller: never Established, not served, no cleanup finalizer
            meta["finalizers"] = [f for f in meta.get("finalizers") or [] if f != CRD_FINALIZER]
            if not meta["finalizers"]:
                del meta["finalizers"]
            conditions = [
                {
                    "type": "NamesAccepted",
                    "status": "False",
                    "lastTransitionTime": now_rfc3339(),
                    "reason": conflict[0],
                    "message": conflict[1],
                },
                {
                    "type": "Established",
                    "status": "False",
                    "lastTransitionTime": now_rfc3339(),
                    "reason": "NotAccepted",
                    "message": "not all names are accepted",
                },
            ]
        obj["status"] = {
            "conditions": conditions,
            "acceptedNames": accepted,
            "storedVersions": [v["name"] for v in versions if v.get("storage")],
        }

    def _accepted_names(
        self, name: str, group: str, names: dict[str, Any]
    ) -> tuple[dict[str, Any], tuple[str, str] | None]:
        """The names of a CRD other CRDs of its group leave it, and the last conflict (reason, message).

        The checks run in the real naming controller's order (plural, singular, short names, kind,
        list kind); the condition reports the last conflict found.
        """
        used: dict[str, set[str]] = {
            k: set() for k in ("plural", "singular", "shortNames", "kind", "listKind")
        }
        for stored in self.tables[CRD_KEY].objects.values():
            other = stored.obj
            if other["metadata"]["name"] == name or (other.get("spec") or {}).get("group") != group:
                continue
            taken = (other.get("status") or {}).get("acceptedNames") or {}
            for field, names_used in used.items():
                value = taken.get(field)
                if isinstance(value, list):
                    names_used.update(value)
                elif value:
                    names_used.add(value)
        accepted: dict[str, Any] = {}
        conflict: tuple[str, str] | None = None
        reasons = {
            "plural": "PluralConflict",
            "singular": "SingularConflict",
            "shortNames": "ShortNamesConflict",
            "kind": "KindConflict",
            "listKind": "ListKindConflict",
        }
        for field, reason in reasons.items():
            value = names.get(field)
            given: list[Any] = value if isinstance(value, list) else [value] if value else []
            clash = next((v for v in given if v in used[field]), None)
            if clash is not None:
                conflict = (reason, f'"{clash}" is already in use')
            elif value:
                accepted[field] = value
        accepted.setdefault("plural", "")
        accepted.setdefault("kind", "")
        for field in ("categories",):
            if names.get(field):
                accepted[field] = names[field]
        return accepted, conflict

    def _sync_crd(self, crd: dict[str, Any], deleted: bool = False) -> None:
        if self.dry_run:
            return
        rdef = resource_from_crd(crd)
        if rdef is None or deleted or not crd_established(crd):
            spec = crd.get("spec") or {}
            self._unserve((spec.get("group", ""), (spec.get("names") or {}).get("plural", "")))
            return
        table = self.tables.get(rdef.key)
        if table is None:
            self.tables[rdef.key] = Table(rdef, self.history_size)
        elif table.rdef != rdef:
            table.rdef = rdef

    def _unserve(self, key: tuple[str, str]) -> None:
        table = self.tables.pop(key, None)
        if table is None:
            return
        for hook in self.on_unserve:
            hook(table)
        for watcher in list(table.watchers):
            watcher.close()

    def _delete_crd(self, table: Table, old: Stored) -> tuple[Stored, bool]:
        """Mark the CRD deleted, then do the cleanup controller's work at once.

        Like the real server the answer is the CRD marked with a deletionTimestamp; the custom
        resources are deleted (DELETED events), the resource stops being served, and the CRD goes
        away when its cleanup finalizer was the only one.
        """
        if old.obj["metadata"].get("deletionTimestamp"):
            return old, False
        obj = dict(old.obj)
        meta = dict(old.obj["metadata"])
        meta["deletionTimestamp"] = now_rfc3339()
        obj["metadata"] = meta
        status = dict(obj.get("status") or {})
        status["conditions"] = [
            *(status.get("conditions") or []),
            {
                "type": "Terminating",
                "status": "True",
                "lastTransitionTime": now_rfc3339(),
                "reason": "InstanceDeletionPending",
                "message": "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon",
            },
        ]
        obj["status"] = status
        marked = self._commit(table, "MODIFIED", ordered(obj), old)
        spec = old.obj.get("spec") or {}
        served = self.tables.get((spec.get("group", ""), (spec.get("names") or {}).get("plural", "")))
        if served is not None:
            for stored in served.sorted_now():
                gone = dict(stored.obj)
                gone["metadata"] = dict(stored.obj["metadata"])
                self._commit(served, "DELETED", gone, stored)
        self._sync_crd(marked.obj, deleted=True)
        finalizers = [f for f in meta.get("finalizers") or [] if f != CRD_FINALIZER]
        final = dict(marked.obj)
        final["metadata"] = dict(marked.obj["metadata"])
        if finalizers:
            final["metadata"]["finalizers"] = finalizers
            self._commit(table, "MODIFIED", final, marked)
        else:
            final["metadata"].pop("finalizers", None)
            self._commit(table, "DELETED", final, marked)
        return marked, False
