"""``metadata.managedFields`` bookkeeping, as kube-apiserver 1.20's field manager does it.

:class:`FieldManager` is called by the registry on every write:

* :meth:`FieldManager.update` for create, update, patch and status writes: the manager (the
  ``fieldManager`` query parameter, else the User-Agent up to its first ``/``, else ``unknown``)
  comes to own every field the write added or changed, and loses none it owned before; other
  managers lose the fields it changed or removed. Entries are per manager, operation and apiVersion
  (an applier's entry is per manager only); an entry whose set becomes empty disappears; the time of
  an entry moves only when its set changes; at most 10 Update entries are kept (older ones merge
  into ``ancient-changes``). A client may replace managedFields with its own (valid) entries, or
  clear them with ``[]`` (then nothing is tracked until the next apply); invalid entries are
  ignored and the stored ones kept.
* :meth:`FieldManager.apply` for server-side apply (:mod:`.apply`): merge the configuration by
  field ownership, prune what the applier stopped applying when nobody else owns it, and refuse
  changes to fields others own (:class:`Conflicts`) unless forced.

Sets are computed on the object after defaulting, as on the real server. All of it is synchronous.
"""

from __future__ import annotations

import functools
import time
from datetime import datetime
from typing import Any

import orjson

from .fieldpath import FIELD, FieldSet, path_string
from .smd import (
    MISSING,
    SmdError,
    Type,
    changed_from_zero,
    compare,
    merge,
    reconcile,
    remove_items,
    to_field_set,
)

__all__ = ["Conflicts", "FieldManager", "Managed", "manager_from_user_agent"]

MAX_UPDATE_MANAGERS = 10
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

_STRIP = FieldSet()
for _path in (
    ("apiVersion",),
    ("kind",),
    ("metadata",),
    ("metadata", "name"),
    ("metadata", "namespace"),
    ("metadata", "creationTimestamp"),
    ("metadata", "selfLink"),
    ("metadata", "uid"),
    ("metadata", "clusterName"),
    ("metadata", "generation"),
    ("metadata", "managedFields"),
    ("metadata", "resourceVersion"),
):
    _STRIP.insert(tuple((FIELD, p) for p in _path))


def manager_from_user_agent(user_agent: str) -> str:
    """The manager name the real server derives from a User-Agent: the part before the first '/'."""
    return user_agent.split("/", 1)[0]


def _identifier(manager: str, operation: str, api_version: str) -> str:
    entry = {}
    if manager:
        entry["manager"] = manager
    if operation:
        entry["operation"] = operation
    if api_version and operation != "Apply":
        entry["apiVersion"] = api_version
    return orjson.dumps(entry).decode()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@functools.lru_cache(maxsize=1024)
def _parsed_identifier(key: str) -> dict[str, str]:
    parsed: dict[str, str] = orjson.loads(key)
    return parsed


@functools.lru_cache(maxsize=4096)
def _seconds(stamp: str | None) -> int:
    if not stamp:
        return 0
    try:
        return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


class Entry:
    """One manager's fields: the set, the apiVersion it was written at, and whether it was applied."""

    __slots__ = ("api_version", "applied", "fields")

    def __init__(self, fields: FieldSet, api_version: str, applied: bool) -> None:
        self.fields = fields
        self.api_version = api_version
        self.applied = applied


class Managed:
    """Every manager's entry by identifier, and the time of each."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self.times: dict[str, str | None] = {}

    def copy(self) -> Managed:
        out = Managed()
        out.entries = {k: Entry(e.fields, e.api_version, e.applied) for k, e in self.entries.items()}
        out.times = dict(self.times)
        return out

    def same_fields(self, other: Managed) -> bool:
        if self.entries.keys() != other.entries.keys():
            return False
        for key, entry in self.entries.items():
            theirs = other.entries[key]
            if (entry.api_version, entry.applied) != (theirs.api_version, theirs.applied):
                return False
            if entry.fields != theirs.fields:
                return False
        return True

    @classmethod
    def decode(cls, entries: Any) -> Managed:
        """Managed fields from ``metadata.managedFields``; ValueError when they are not valid."""
        out = cls()
        if entries is None:
            return out
        if not isinstance(entries, list):
            raise ValueError("managedFields must be a list")
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise ValueError(f"managed fields entry {i} is not an object")
            fields_type = entry.get("fieldsType") or ""
            if fields_type == "":
                raise ValueError(f"missing fieldsType in managed fields entry {i}")
            if fields_type != "FieldsV1":
                raise ValueError(f'invalid fieldsType "{fields_type}" in managed fields entry {i}')
            operation = entry.get("operation") or ""
            key = _identifier(
                str(entry.get("manager") or ""), str(operation), str(entry.get("apiVersion") or "")
            )
            fields = FieldSet.from_fields(entry.get("fieldsV1") or {})
            out.entries[key] = Entry(fields, str(entry.get("apiVersion") or ""), operation == "Apply")
            out.times[key] = entry.get("time")
        return out

    def encode(self) -> list[dict[str, Any]] | None:
        """``metadata.managedFields`` as the real server writes them (sorted; None when empty)."""
        if not self.entries:
            return None
        out = []
        for key, entry in self.entries.items():
            ident = _parsed_identifier(key)
            encoded: dict[str, Any] = {}
            if ident.get("manager"):
                encoded["manager"] = ident["manager"]
            operation = "Apply" if entry.applied else ident.get("operation", "")
            if operation:
                encoded["operation"] = operation
            if entry.api_version:
                encoded["apiVersion"] = entry.api_version
            stamp = self.times.get(key)
            if stamp:
                encoded["time"] = stamp
            encoded["fieldsType"] = "FieldsV1"
            encoded["fieldsV1"] = entry.fields.to_fields()
            out.append(encoded)
        if len(out) > 1:
            out.sort(
                key=lambda e: (
                    e.get("operation", ""),
                    _seconds(e.get("time")),
                    e.get("manager", ""),
                    e.get("apiVersion", ""),
                )
            )
        return out


class Conflicts(Exception):
    """An apply that would change fields other managers own: ``conflicts`` is [(manager id, path)]."""

    def __init__(self, conflicts: list[tuple[str, tuple[Any, ...]]]) -> None:
        super().__init__(self.message_for(conflicts))
        self.conflicts = conflicts

    @staticmethod
    def manager_text(key: str) -> str:
        try:
            ident = orjson.loads(key)
        except orjson.JSONDecodeError:
            return orjson.dumps(key).decode()
        name = orjson.dumps(ident.get("manager", "")).decode()
        if ident.get("operation") == "Update":
            return f"{name} using {ident.get('apiVersion', '')}"
        return name

    @classmethod
    def message_for(cls, conflicts: list[tuple[str, tuple[Any, ...]]]) -> str:
        if len(conflicts) == 1:
            key, path = conflicts[0]
            return f"Apply failed with 1 conflict: conflict with {cls.manager_text(key)}: {path_string(path)}"
        by_manager: dict[str, list[str]] = {}
        for key, path in conflicts:
            by_manager.setdefault(key, []).append(path_string(path))
        lines = []
        for key in sorted(by_manager):
            lines.append(f"conflicts with {cls.manager_text(key)}:")
            lines.extend(f"- {p}" for p in by_manager[key])
        return f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)

    def causes(self) -> list[dict[str, str]]:
        return [
            {
                "reason": "FieldManagerConflict",
                "message": f"conflict with {self.manager_text(key)}",
                "field": path_string(path),
            }
            for key, path in self.conflicts
        ]


class FieldManager:
    """Computes managedFields for one resource type (``t``: its schema; ``typed``: a built-in)."""

    def __init__(self, t: Type, typed: bool) -> None:
        self.t = t
        self.typed = typed

    def _zero(self, api_version: str, kind: str) -> dict[str, Any]:
        return {} if self.typed else {"apiVersion": api_version, "kind": kind}

    # -- the structured-merge-diff updater ---------------------------------------------------------

    def _update_sets(
        self, old: Any, new: Any, managed: Managed, workflow: str, force: bool
    ) -> tuple[Managed, Any]:
        diff = compare(old, new, self.t, self.typed)
        changed = diff.modified.union(diff.added)
        conflicts: dict[str, FieldSet] = {}
        for key, entry in managed.entries.items():
            if key == workflow:
                continue
            overlap = entry.fields.intersection(changed)
            if not overlap.empty():
                conflicts[key] = overlap
        if conflicts and not force:
            raise Conflicts([(key, path) for key, found in conflicts.items() for path in found.go_paths()])
        for key, entry in list(managed.entries.items()):
            if key == workflow:
                continue
            fields = entry.fields
            if key in conflicts:
                fields = fields.difference(conflicts[key])
            if not diff.removed.empty():
                fields = fields.difference(diff.removed)
            entry.fields = fields
        for key in [k for k, e in managed.entries.items() if e.fields.empty()]:
            del managed.entries[key]
        return managed, diff

    def _reconcile(self, live: Any, managed: Managed) -> None:
        """Every manager's set brought in line with the schema (reconcileManagedFieldsWithSchemaChanges)."""
        if self.t.kind != "m" or (not self.t.fields and self.t.elem == "u"):
            return  # no schema: the real server does not reconcile deduced types
        for entry in managed.entries.values():
            entry.fields = reconcile(entry.fields, live, self.t)

    def _structured_update(
        self, old: Any, new: Any, managed: Managed, workflow: str, api_version: str
    ) -> None:
        self._reconcile(old, managed)
        managed, diff = self._update_sets(old, new, managed, workflow, True)
        current = managed.entries.get(workflow)
        fields = current.fields if current is not None else FieldSet()
        fields = fields.union(diff.modified).union(diff.added).difference(diff.removed)
        fields = fields.difference(_STRIP)
        if fields.empty():
            managed.entries.pop(workflow, None)
        else:
            managed.entries[workflow] = Entry(fields, api_version, False)

    def _tracked_update(self, old: Any, new: Any, managed: Managed, manager: str, api_version: str) -> None:
        """ManagedFieldsUpdater + BuildManagerInfo + CapManagers around one Update."""
        key = _identifier(manager or "unknown", "Update", api_version)
        former = managed.entries.get(key)
        former_fields = former.fields if former is not None else None
        self._structured_update(old, new, managed, "current-operation", api_version)
        current = managed.entries.pop("current-operation", None)
        managed.times.pop("current-operation", None)
        if current is not None:
            previous = managed.entries.get(key)
            fields = current.fields.union(previous.fields) if previous is not None else current.fields
            managed.entries[key] = Entry(fields, current.api_version, False)
            if former_fields is None or fields != former_fields:
                managed.times[key] = _now()
        self._cap(managed)

    def _cap(self, managed: Managed) -> None:
        updaters = [k for k, e in managed.entries.items() if not e.applied]
        if len(updaters) <= MAX_UPDATE_MANAGERS:
            return
        updaters.sort(key=lambda k: (_seconds(managed.times.get(k)), k))
        first_by_version: dict[str, str] = {}
        length = len(updaters)
        for key in updaters:
            if length <= MAX_UPDATE_MANAGERS:
                break
            entry = managed.entries[key]
            bucket = _identifier("ancient-changes", "Update", entry.api_version)
            first = first_by_version.get(entry.api_version)
            if first is None:
                first_by_version[entry.api_version] = key
                continue
            if bucket not in managed.entries:
                managed.entries[bucket] = managed.entries.pop(first)
            managed.entries[bucket] = Entry(
                entry.fields.union(managed.entries[bucket].fields), entry.api_version, entry.applied
            )
            del managed.entries[key]
            managed.times[bucket] = managed.times.pop(key, None)
            length -= 1

    # -- the write paths ---------------------------------------------------------------------------

    def update(
        self,
        old: dict[str, Any] | None,
        new: dict[str, Any],
        manager: str,
        api_version: str,
        kind: str,
    ) -> list[dict[str, Any]] | None:
        """The managedFields ``new`` is stored with after a create (``old`` None) or an update.

        ``new`` carries the managedFields the client sent (or none); both objects are at
        ``api_version`` and are not modified.
        """
        given = new.get("metadata", {}).get("managedFields", MISSING)
        live_meta = (old or {}).get("metadata") or {}
        managed: Managed | None = None
        if isinstance(given, list) and (given == [] or (len(given) == 1 and given[0] == {})):
            managed = Managed()  # the client resets them
        elif given is not MISSING and given is not None:
            try:
                managed = Managed.decode(given)
            except ValueError:
                managed = None
            if managed is not None and not managed.entries:
                managed = None
        if managed is None:
            try:
                managed = Managed.decode(live_meta.get("managedFields"))
            except ValueError:
                managed = Managed()
        if not managed.entries and old is not None:
            return None  # nothing tracked on an existing object: stays untracked until an apply
        base = old if old is not None else self._zero(api_version, kind)
        if old is None and not managed.entries:  # a plain create: everything set is the manager's
            try:
                fields = changed_from_zero(base, new, self.t, self.typed).difference(_STRIP)
            except SmdError:
                return None
            if not fields.empty():
                key = _identifier(manager or "unknown", "Update", api_version)
                managed.entries[key] = Entry(fields, api_version, False)
                managed.times[key] = _now()
            return managed.encode()
        try:
            self._tracked_update(base, new, managed, manager, api_version)
        except SmdError:
            return None  # the real server drops managedFields it cannot compute
        return managed.encode()

    def apply(
        self,
        live: dict[str, Any] | None,
        config: dict[str, Any],
        manager: str,
        force: bool,
        api_version: str,
        kind: str,
    ) -> tuple[dict[str, Any], list[dict[str, Any]] | None, bool]:
        """Apply ``config`` over ``live`` (None: the object does not exist yet).

        Returns the new object (without managedFields), its managedFields, and whether the object
        changed. Raises :class:`Conflicts` (without ``force``) and :class:`SmdError` (a
        configuration the schema cannot type).
        """
        zero = self._zero(api_version, kind)
        if live is None:
            live_obj: dict[str, Any] = zero
            managed = Managed()
        else:
            live_obj = {
                **live,
                "metadata": {k: v for k, v in live["metadata"].items() if k != "managedFields"},
            }
            try:
                managed = Managed.decode(live["metadata"].get("managedFields"))
            except ValueError as exc:
                raise SmdError((), f"failed to decode managed fields: {exc}") from None
        if not managed.entries and live is not None:
            # SkipNonApplied: the fields already there belong to "before-first-apply"
            self._tracked_update(zero, live_obj, managed, "before-first-apply", api_version)
        key = _identifier(manager, "Apply", api_version)
        former = managed.copy()
        self._reconcile(live_obj, managed)
        applied = to_field_set(config, self.t)  # types the configuration first, like the real server
        merged = merge(live_obj, config, self.t)
        if merged is MISSING:
            merged = {}
        last = managed.entries.get(key)
        managed.entries[key] = Entry(applied, api_version, True)
        if last is not None and not last.fields.empty():
            merged = self._prune(merged, managed, last.fields)
        try:
            managed, diff = self._update_sets(live_obj, merged, managed, key, force)
        except Conflicts as exc:
            # kubectl's first server-side apply after client-side applies may take over the fields
            # its last-applied-configuration annotation still describes (LastAppliedManager)
            if manager != "kubectl" or live is None:
                raise
            allowed = self._last_applied_fields(live_obj, api_version)
            rest = [(k, p) for k, p in exc.conflicts if allowed is None or not allowed.has(p)]
            if rest:
                raise Conflicts(rest) from None
            managed, diff = self._update_sets(live_obj, merged, managed, key, True)
        entry = managed.entries.get(key)
        if entry is not None:
            stripped = entry.fields.difference(_STRIP)
            if stripped.empty():
                del managed.entries[key]
            else:
                entry.fields = stripped
        changed = not diff.same()
        if changed or not managed.same_fields(former):
            managed.times[key] = _now()
        for gone in [k for k in managed.times if k not in managed.entries]:
            del managed.times[gone]
        result = merged if changed else live_obj
        if manager == "kubectl" and live is not None:
            synced = self._sync_last_applied(result, config)
            changed = changed or synced is not result
            result = synced
        return result, managed.encode(), changed

    def _last_applied_fields(self, live: dict[str, Any], api_version: str) -> FieldSet | None:
        """Fields the live object's last-applied-configuration still matches (None: no annotation)."""
        annotations = (live.get("metadata") or {}).get("annotations") or {}
        text = annotations.get(LAST_APPLIED)
        if not text:
            return None
        try:
            last = orjson.loads(text)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(last, dict) or last.get("apiVersion") != api_version:
            return None
        try:
            fields = to_field_set(last, self.t)
            diff = compare(last, live, self.t, self.typed)
        except SmdError:
            return None
        return fields.difference(diff.modified).difference(diff.added).difference(diff.removed)

    @staticmethod
    def _sync_last_applied(merged: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
        """kubectl's applies keep an existing last-applied-configuration annotation current."""
        annotations = (merged.get("metadata") or {}).get("annotations") or {}
        if not annotations.get(LAST_APPLIED):
            return merged
        body = dict(config)
        if isinstance(config.get("metadata"), dict):
            meta = dict(config["metadata"])
            if isinstance(meta.get("annotations"), dict):
                meta["annotations"] = {k: v for k, v in meta["annotations"].items() if k != LAST_APPLIED}
            body["metadata"] = meta
        text = orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode() + "\n"
        if annotations.get(LAST_APPLIED) == text:
            return merged
        new_annotations = {**annotations, LAST_APPLIED: text}
        if sum(len(k) + len(v) for k, v in new_annotations.items()) > 256 * 1024:
            new_annotations.pop(LAST_APPLIED)
        return {**merged, "metadata": {**merged["metadata"], "annotations": new_annotations}}

    def _prune(self, merged: Any, managed: Managed, last: FieldSet) -> Any:
        pruned = remove_items(merged, last, self.t)
        if not isinstance(pruned, dict):
            pruned = {}
        owned = FieldSet()
        for entry in managed.entries.values():
            owned = owned.union(entry.fields)
        merged_set = to_field_set(merged, self.t)
        pruned_set = to_field_set(pruned, self.t)
        pruned = remove_items(merged, merged_set.difference(pruned_set.union(owned)), self.t)
        if not isinstance(pruned, dict):
            pruned = {}
        pruned_set = to_field_set(pruned, self.t)
        result = remove_items(merged, merged_set.difference(pruned_set).intersection(last), self.t)
        return result if isinstance(result, dict) else {}
