"""The opt-in garbage collector and namespace finalizer: kube-controller-manager's work, in memory.

``FakeAPIServer(garbage_collector=True)`` attaches one :class:`GarbageCollector` to the registry.
Like the real controllers it works after the write that triggered it (from the event loop, right
after the request), through ordinary registry writes, so clients see the same events:

* an object whose owners (``metadata.ownerReferences``, matched by uid) are all gone is deleted
  (background, or foreground when an owner waits for its dependents and the object has
  dependents of its own); references to vanished owners are removed when another owner remains;
* an owner deleted with ``propagationPolicy=Orphan`` (the ``orphan`` finalizer; Jobs, CronJobs
  and ReplicationControllers by default) loses its dependents' references to it, then the finalizer;
* an owner deleted with ``Foreground`` (the ``foregroundDeletion`` finalizer) has its dependents
  deleted and goes once no dependent with ``blockOwnerDeletion: true`` is left;
* a namespace being deleted has every object in it deleted, and is finalized (``spec.finalizers``
  emptied, so it goes) once nothing is left in it.

Off by default, like envtest, which runs no controllers. All methods are synchronous.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from typing import TYPE_CHECKING, Any

from .objects import NS_KEY
from .status import ApiFailure
from .storage import Event, Stored, Table

if TYPE_CHECKING:
    from .registry import Registry

__all__ = ["GarbageCollector"]

log = logging.getLogger("pycontroller.testing.apiserver")

_ORPHAN = "orphan"
_FOREGROUND = "foregroundDeletion"
_NAMESPACE_FINALIZER = "kubernetes"
_MAX_STEPS = 100_000  # a bound against a bug turning one pass into an endless loop

Ref = tuple[tuple[str, str], tuple[str, str]]  # (table key, object key)


class GarbageCollector:
    """Tracks owners and dependents by uid and does the collectors' work after each write.

    Invariants: ``by_uid`` maps the uid of every live object to where it is stored;
    ``dependents[uid]`` holds every live object listing ``uid`` among its owner references.
    """

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.by_uid: dict[str, Ref] = {}
        self.dependents: dict[str, set[Ref]] = {}
        self._owners_of: dict[Ref, set[str]] = {}
        self._dirty: set[Ref] = set()
        self._namespaces: set[str] = set()
        self._scheduled = False
        for table in registry.tables.values():
            for stored in table.objects.values():
                self._track(table, stored)
        registry.commit_hooks.append(self._on_commit)

    # -- bookkeeping ----------------------------------------------------------------------------------

    def _track(self, table: Table, stored: Stored) -> None:
        ref: Ref = (table.rdef.key, stored.key)
        meta = stored.obj["metadata"]
        self.by_uid[meta["uid"]] = ref
        owners: set[str] = {
            str(o["uid"]) for o in meta.get("ownerReferences") or [] if isinstance(o, dict) and o.get("uid")
        }
        for uid in self._owners_of.get(ref, set()) - owners:
            self.dependents.get(uid, set()).discard(ref)
        for uid in owners:
            self.dependents.setdefault(uid, set()).add(ref)
        self._owners_of[ref] = owners
        if owners or meta.get("deletionTimestamp"):
            self._dirty.add(ref)
        if table.rdef.key == NS_KEY and meta.get("deletionTimestamp"):
            self._namespaces.add(stored.key[1])

    def _untrack(self, table: Table, stored: Stored) -> None:
        ref: Ref = (table.rdef.key, stored.key)
        uid = stored.obj["metadata"]["uid"]
        if self.by_uid.get(uid) == ref:
            del self.by_uid[uid]
        for owner in self._owners_of.pop(ref, set()):
            self.dependents.get(owner, set()).discard(ref)
        self._dirty.update(self.dependents.get(uid, ()))  # their owner is gone
        for ref_owner in self._owners_of_refs(stored):  # an owner waiting for this dependent
            self._dirty.add(ref_owner)
        namespace = stored.key[0]
        if namespace and namespace in self._namespaces:
            self._dirty.add((NS_KEY, ("", namespace)))

    def _owners_of_refs(self, stored: Stored) -> list[Ref]:
        out = []
        for owner in stored.obj["metadata"].get("ownerReferences") or []:
            ref = self.by_uid.get(owner.get("uid", "")) if isinstance(owner, dict) else None
            if ref is not None:
                out.append(ref)
        return out

    def _on_commit(self, table: Table, event: Event) -> None:
        if event.type == "DELETED":
            self._untrack(table, event.obj)
        else:
            self._track(table, event.obj)
        if self._dirty and not self._scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop yet: collect() runs when the server starts
            self._scheduled = True
            loop.call_soon(self._scheduled_pass)

    def _scheduled_pass(self) -> None:
        self._scheduled = False
        try:
            self.collect()
        except Exception:  # a bug here must not kill the loop; the next write retries
            log.exception("fake API server: garbage collection failed")

    # -- the collectors -------------------------------------------------------------------------------

    def collect(self) -> None:
        """Process everything pending until nothing changes. Never suspends."""
        steps = 0
        while self._dirty and steps < _MAX_STEPS:
            ref = self._dirty.pop()
            steps += 1
            stored = self._lookup(ref)
            if stored is None:
                continue
            table = self.registry.tables[ref[0]]
            try:
                self._process(table, stored)
            except ApiFailure as failure:
                if failure.code not in (404, 409):  # gone or changed meanwhile: seen again later
                    raise

    def _lookup(self, ref: Ref) -> Stored | None:
        table = self.registry.tables.get(ref[0])
        return None if table is None else table.objects.get(ref[1])

    def _process(self, table: Table, stored: Stored) -> None:
        meta = stored.obj["metadata"]
        if table.rdef.key == NS_KEY and meta.get("deletionTimestamp"):
            self._finalize_namespace(table, stored)
            return
        finalizers = meta.get("finalizers") or []
        if meta.get("deletionTimestamp") and _ORPHAN in finalizers:
            self._orphan_dependents(table, stored)
            return
        if meta.get("deletionTimestamp") and _FOREGROUND in finalizers:
            self._delete_dependents(table, stored)
            return
        if meta.get("ownerReferences") and not meta.get("deletionTimestamp"):
            self._check_owners(table, stored)

    def _owner_state(self, owner: dict[str, Any]) -> str:
        """``absent``, ``waiting`` (deleting in foreground) or ``solid``."""
        ref = self.by_uid.get(owner.get("uid", ""))
        if ref is None:
            return "absent"
        live = self._lookup(ref)
        if live is None or live.obj.get("kind") != owner.get("kind"):
            return "absent"
        meta = live.obj["metadata"]
        if meta.get("deletionTimestamp") and _FOREGROUND in (meta.get("finalizers") or []):
            return "waiting"
        return "solid"

    def _check_owners(self, table: Table, stored: Stored) -> None:
        owners = [o for o in stored.obj["metadata"].get("ownerReferences") or [] if isinstance(o, dict)]
        states = [self._owner_state(o) for o in owners]
        if "solid" in states:
            keep = [o for o, s in zip(owners, states, strict=True) if s == "solid"]
            if len(keep) != len(owners):  # drop references to owners that are gone or going
                self._set_owner_references(table, stored, keep)
            return
        if "waiting" in states and self.dependents.get(stored.obj["metadata"]["uid"]):
            policy = "Foreground"
        else:
            policy = "Background"
        self._delete(table, stored, policy)

    def _delete(self, table: Table, stored: Stored, policy: str) -> None:
        meta = stored.obj["metadata"]
        options = {"propagationPolicy": policy, "preconditions": {"uid": meta["uid"]}}
        self.registry.delete(table, stored.key[0] or None, stored.key[1], options)

    def _set_owner_references(self, table: Table, stored: Stored, refs: list[dict[str, Any]]) -> None:
        obj = copy.deepcopy(stored.obj)
        if refs:
            obj["metadata"]["ownerReferences"] = refs
        else:
            obj["metadata"].pop("ownerReferences", None)
        self.registry._write_update(table, stored, obj, None)

    def _remove_finalizer(self, table: Table, stored: Stored, finalizer: str) -> None:
        obj = copy.deepcopy(stored.obj)
        left = [f for f in obj["metadata"].get("finalizers") or [] if f != finalizer]
        if left:
            obj["metadata"]["finalizers"] = left
        else:
            obj["metadata"].pop("finalizers", None)
        self.registry._write_update(table, stored, obj, None)

    def _live_dependents(self, stored: Stored) -> list[tuple[Table, Stored]]:
        out = []
        for ref in sorted(self.dependents.get(stored.obj["metadata"]["uid"], ())):
            live = self._lookup(ref)
            if live is not None:
                out.append((self.registry.tables[ref[0]], live))
        return out

    def _orphan_dependents(self, table: Table, stored: Stored) -> None:
        uid = stored.obj["metadata"]["uid"]
        for dep_table, dependent in self._live_dependents(stored):
            refs = [o for o in dependent.obj["metadata"].get("ownerReferences") or [] if o.get("uid") != uid]
            self._set_owner_references(dep_table, dependent, refs)
        current = table.objects.get(stored.key)
        if current is not None:
            self._remove_finalizer(table, current, _ORPHAN)

    def _delete_dependents(self, table: Table, stored: Stored) -> None:
        uid = stored.obj["metadata"]["uid"]
        blocking = False
        for dep_table, dependent in self._live_dependents(stored):
            ref = next(o for o in dependent.obj["metadata"]["ownerReferences"] if o.get("uid") == uid)
            if ref.get("blockOwnerDeletion"):
                blocking = True
            if not dependent.obj["metadata"].get("deletionTimestamp"):
                self._check_owners(dep_table, dependent)
        if not blocking:
            current = table.objects.get(stored.key)
            if current is not None:
                self._remove_finalizer(table, current, _FOREGROUND)

    def _finalize_namespace(self, table: Table, stored: Stored) -> None:
        name = stored.key[1]
        self._namespaces.add(name)
        left = False
        for other in list(self.registry.tables.values()):
            if not other.rdef.namespaced:
                continue
            for item in [s for s in other.sorted_now() if s.key[0] == name]:
                left = True
                if not item.obj["metadata"].get("deletionTimestamp"):
                    self._delete(other, item, "Background")
        if left and any(
            s.key[0] == name
            for t in self.registry.tables.values()
            if t.rdef.namespaced
            for s in t.objects.values()
        ):
            return  # the rest go when their finalizers are removed; their deletion re-checks us
        current = table.objects.get(stored.key)
        if current is None:
            return
        finalizers = (current.obj.get("spec") or {}).get("finalizers") or []
        if _NAMESPACE_FINALIZER in finalizers:
            obj = copy.deepcopy(current.obj)
            obj["spec"]["finalizers"] = [f for f in finalizers if f != _NAMESPACE_FINALIZER]
            self.registry._write_update(table, current, obj, "finalize")
        if name not in {s.key[1] for s in table.objects.values()}:
            self._namespaces.discard(name)
