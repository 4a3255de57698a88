"""The object semantics of the fake server, independent of HTTP.

:class:`Registry` owns every :class:`Table` and the single global resourceVersion (bumped once per
write, like etcd's revision). It implements create, update (main resource and ``/status``), patch,
delete (finalizers, deletionTimestamp, propagation policies) and deletecollection with the real
server's rules: namespaces must exist and not be terminating, names are validated, uid and
creationTimestamp are set, ``metadata.generation`` is bumped on spec changes only, updates that
change nothing are not written, and CustomResourceDefinitions start and stop serving resources.

All methods are synchronous (they never suspend) and raise :class:`ApiFailure` on refusal.
Objects handed out are shared and must not be mutated.
"""

from __future__ import annotations

import asyncio
import copy
import random
import re
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from . import patch as patches
from .apply import FieldTracker
from .conversion import check_types, convert, from_served
from .crds import CrdSupport
from .defaults import apply_defaults
from .deletion import DeleteSupport
from .objects import CRD_KEY, NS_KEY, now_rfc3339, ordered, spec_finalizers
from .resources import ResourceDef, builtins
from .schema import apply_schema
from .status import ApiFailure, already_exists, bad_request, conflict, invalid, not_found, qualified
from .storage import Event, Stored, Table
from .validation import INVALID_GROUP, Cause, go_strings, validate

__all__ = ["Registry"]

_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_GENERATE_CHARS = "bcdfghjklmnpqrstvwxz2456789"


class Registry(DeleteSupport, CrdSupport):
    """All served resources and their objects; see the module docstring."""

    def __init__(self, history_size: int = 10_000) -> None:
        self.rv = 0
        self.history_size = history_size
        self.tables: dict[tuple[str, str], Table] = {}
        self._rv_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.on_unserve: list[Callable[[Table], None]] = []
        self.commit_hooks: list[Callable[[Table, Event], None]] = []  # called after every write
        self.aliases: dict[tuple[str, str], ResourceDef] = {}
        for rdef in builtins():
            if rdef.alias_of is not None:
                self.aliases[rdef.key] = rdef
            else:
                self.tables[rdef.key] = Table(rdef, history_size)
        self._next_cluster_ip = 10
        self.dry_run = False  # set by the handler around one dry-run request
        self.fields = FieldTracker(self)  # managedFields of every write (the handler sets its manager)
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.create(self.tables[NS_KEY], None, {"metadata": {"name": name}})

    # -- lookup -----------------------------------------------------------------------------------

    def resolve(self, group: str, version: str, plural: str) -> tuple[Table, str] | None:
        """The table serving ``group/version/plural`` and the apiVersion it is served at."""
        alias = self.aliases.get((group, plural))
        if alias is not None and alias.alias_of is not None:
            if version not in alias.versions:
                return None
            return self.tables[alias.alias_of], alias.api_version(version)
        table = self.tables.get((group, plural))
        if table is None or version not in table.rdef.versions:
            return None
        return table, table.rdef.api_version(version)

    def add_table(self, rdef: ResourceDef) -> Table:
        """Serve ``rdef`` from a new, empty table (the caller checked it does not clash)."""
        table = Table(rdef, self.history_size)
        self.tables[rdef.key] = table
        return table

    def served(self) -> list[ResourceDef]:
        """Every served resource definition (for discovery)."""
        return [t.rdef for t in self.tables.values()] + list(self.aliases.values())

    def resolve_kind(self, api_version: str, kind: str) -> tuple[Table, str]:
        group, _, version = api_version.rpartition("/")
        for rdef in self.served():
            if rdef.group == group and rdef.kind == kind and version in rdef.versions:
                resolved = self.resolve(group, version, rdef.plural)
                if resolved is not None:
                    return resolved
        raise ValueError(f"the fake API server does not serve kind {kind!r} in {api_version!r}")

    def crd_schema(self, rdef: ResourceDef, version: str | None) -> dict[str, Any] | None:
        """The openAPIV3Schema a custom resource is written with at ``version`` (None: storage)."""
        crd = self.tables[CRD_KEY].objects.get(("", f"{rdef.plural}.{rdef.group}"))
        if crd is None:
            return None
        want = version or rdef.storage_version or rdef.versions[0]
        for entry in (crd.obj.get("spec") or {}).get("versions") or []:
            if entry.get("name") == want:
                schema = (entry.get("schema") or {}).get("openAPIV3Schema")
                return schema if isinstance(schema, dict) else None
        return None

    def get(self, table: Table, namespace: str | None, name: str) -> Stored:
        stored = table.objects.get((namespace or "", name))
        if stored is None:
            raise not_found(table.rdef.group, table.rdef.plural, name)
        return stored

    # -- resourceVersion ----------------------------------------------------------------------------

    async def wait_for_rv(self, rv: int, timeout: float) -> bool:
        """Wait until the store reached ``rv`` (True) or ``timeout`` seconds passed (False)."""
        if self.rv >= rv:
            return True
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._rv_waiters.append((rv, fut))
        try:
            await asyncio.wait_for(fut, timeout)
            return True
        except TimeoutError:
            return False

    def _commit(self, table: Table, type_: str, obj: dict[str, Any], old: Stored | None) -> Stored:
        if self.dry_run:  # ?dryRun=All: answer with the result, write nothing
            if old is not None:
                obj["metadata"]["resourceVersion"] = old.obj["metadata"]["resourceVersion"]
                return Stored(obj, old.rv)
            obj["metadata"].pop("resourceVersion", None)
            return Stored(obj, self.rv)
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        stored = Stored(obj, self.rv)
        event = Event(self.rv, type_, stored, old)
        table.commit(event)
        for hook in self.commit_hooks:  # the opt-in garbage collector
            hook(table, event)
        self._wake_rv_waiters()
        return stored

    def advance_rv(self) -> int:
        """Move the revision on by one without writing here, as a write to any other key moves
        etcd's: what was current becomes old. Returns the new resourceVersion."""
        self.rv += 1
        self._wake_rv_waiters()
        return self.rv

    def _wake_rv_waiters(self) -> None:
        if self._rv_waiters:
            keep = []
            for want, fut in self._rv_waiters:
                if want <= self.rv:
                    if not fut.done():
                        fut.set_result(None)
                else:
                    keep.append((want, fut))
            self._rv_waiters = keep

    def compact(self) -> int:
        """Forget all history up to now; returns the compacted resourceVersion."""
        for table in self.tables.values():
            table.compact(self.rv)
        return self.rv

    # -- create -------------------------------------------------------------------------------------

    def create(
        self, table: Table, namespace: str | None, body: Any, api_version: str | None = None
    ) -> Stored:
        rdef = table.rdef
        obj = self._check_body(table, body, api_version)
        meta = obj["metadata"]
        self._place(table, namespace, meta)
        name = meta.get("name") or ""
        if not name:
            generate = meta.get("generateName") or ""
            if not generate:
                raise invalid(
                    rdef.group,
                    rdef.kind,
                    "",
                    [
                        (
                            "FieldValueRequired",
                            "metadata.name",
                            "Required value: name or generateName is required",
                        )
                    ],
                )
            name = generate + "".join(random.choice(_GENERATE_CHARS) for _ in range(5))
            meta["name"] = name
        self._validate_name(rdef, name)
        ns = meta.get("namespace") or ""
        if rdef.namespaced:
            self._check_namespace(rdef, ns, name)
        if rdef.key == ("", "events"):
            involved = obj.get("involvedObject")
            if isinstance(involved, dict) and involved.get("namespace") and involved["namespace"] != ns:
                raise invalid(
                    "",
                    "Event",
                    name,
                    [
                        (
                            "FieldValueInvalid",
                            "involvedObject.namespace",
                            f'Invalid value: "{involved["namespace"]}": does not match event.namespace',
                        )
                    ],
                )
        if (ns, name) in table.objects:
            raise already_exists(rdef.group, rdef.plural, name)
        if meta.get("resourceVersion"):
            raise ApiFailure(500, "", "resourceVersion should not be set on objects to be created")
        for field in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion"):
            meta.pop(field, None)
        meta["uid"] = str(uuid.uuid4())
        if rdef.create_finalizers:  # added by the real server's admission (pvc-protection, pv-protection)
            finalizers = list(meta.get("finalizers") or [])
            finalizers += [f for f in rdef.create_finalizers if f not in finalizers]
            meta["finalizers"] = finalizers
        if rdef.generation_fields is not None:
            meta["generation"] = 1  # otherwise a client-given generation is kept, like the real server
        meta["resourceVersion"] = ""
        meta["creationTimestamp"] = now_rfc3339()
        if not rdef.builtin and rdef.has_status(_version_of(api_version)):
            obj.pop("status", None)
        sent = self.fields.snapshot(rdef, obj)
        self._defaults(rdef, obj, create=True)
        causes: list[Cause] = []
        if not rdef.builtin:  # the CRD's structural schema: prune, default, validate
            obj, causes = apply_schema(obj, self.crd_schema(rdef, _version_of(api_version)))
        causes += validate(rdef.key, obj)
        if causes:
            raise invalid(INVALID_GROUP.get(rdef.key, rdef.group), rdef.kind, name, causes)
        self.fields.record(rdef, None, obj, _version_of(api_version), sent=sent)
        obj = ordered(obj)
        if table.rdef.key == CRD_KEY:
            self._prepare_crd(obj)
        stored = self._commit(table, "ADDED", obj, None)
        if table.rdef.key == CRD_KEY:
            self._sync_crd(stored.obj)
        return stored

    def _check_body(self, table: Table, body: Any, api_version: str | None) -> dict[str, Any]:
        rdef = table.rdef
        if not isinstance(body, dict):
            raise bad_request(f"the object provided is unrecognized (must be of type {rdef.kind})")
        kind = body.get("kind")
        if kind is None and not rdef.builtin:
            kind_name = rdef.kind
            version = str(api_version or rdef.stored_api_version).rpartition("/")[2]
            raise bad_request(
                f'{kind_name} in version "{version}" cannot be handled as a {kind_name}: unmarshalerDecoder: '
                f"Object 'Kind' is missing in '{orjson.dumps(body).decode()[:200]}'"
            )
        if kind is not None and kind != rdef.kind:
            version = str(body.get("apiVersion") or rdef.stored_api_version)
            raise bad_request(
                f'{kind} in version "{version.rpartition("/")[2]}" cannot be handled as a {rdef.kind}: '
                f"converting ({version.rpartition('/')[2]}.{kind}) to ({rdef.group or 'core'}.{rdef.kind}): "
                "unknown conversion"
            )
        want = api_version or rdef.stored_api_version
        given = body.get("apiVersion")
        if given is not None and given != want:
            group = want.rpartition("/")[0]
            if given.rpartition("/")[0] != group or given.rpartition("/")[2] not in rdef.versions:
                raise bad_request(
                    f"the API version in the data ({given}) does not match the expected API version ({want})"
                )
        check_types({**body, "kind": rdef.kind, "apiVersion": want}, rdef.builtin)
        body = from_served(body, want, rdef.stored_api_version)
        meta = body.get("metadata") or {}
        obj: dict[str, Any] = {"kind": rdef.kind, "apiVersion": rdef.stored_api_version}
        obj.update(body)
        obj["kind"] = rdef.kind
        obj["apiVersion"] = rdef.stored_api_version
        obj["metadata"] = dict(meta)
        return obj

    def _place(self, table: Table, namespace: str | None, meta: dict[str, Any]) -> None:
        if table.rdef.namespaced:
            given = meta.get("namespace")
            if given and namespace and given != namespace:
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace or given or ""
        else:
            meta.pop("namespace", None)

    def _validate_name(self, rdef: ResourceDef, name: str) -> None:
        pattern, msg, limit = (
            (_LABEL, _LABEL_MSG, 63)
            if rdef.plural == "namespaces"
            else (
                _SUBDOMAIN,
                _SUBDOMAIN_MSG,
                253,
            )
        )
        if len(name) > limit:
            text = f'Invalid value: "{name}": must be no more than {limit} characters'
        elif not pattern.fullmatch(name):
            text = f'Invalid value: "{name}": {msg}'
        else:
            return
        raise invalid(rdef.group, rdef.kind, name, [("FieldValueInvalid", "metadata.name", text)])

    def _check_namespace(self, rdef: ResourceDef, ns: str, name: str) -> None:
        if not ns:
            raise bad_request("the namespace of the object is missing")
        ns_obj = self.tables[NS_KEY].objects.get(("", ns))
        if ns_obj is None:
            raise not_found("", "namespaces", ns)
        if ns_obj.obj["metadata"].get("deletionTimestamp"):
            details: dict[str, Any] = {"name": name}
            if rdef.group:
                details["group"] = rdef.group
            details["kind"] = rdef.plural
            details["causes"] = [
                {
                    "reason": "NamespaceTerminating",
                    "message": f"namespace {ns} is being terminated",
                    "field": "metadata.namespace",
                }
            ]
            raise ApiFailure(
                403,
                "Forbidden",
                f'{qualified(rdef.group, rdef.plural)} "{name}" is forbidden: unable to create new '
                f"content in namespace {ns} because it is being terminated",
                details,
            )

    def _defaults(
        self, rdef: ResourceDef, obj: dict[str, Any], create: bool, old: dict[str, Any] | None = None
    ) -> None:
        apply_defaults(rdef.key, obj, create, old)
        if rdef.key == ("", "services") and isinstance(obj.get("spec"), dict):
            self._service_addresses(obj["spec"], create, old)

    def _service_addresses(self, spec: dict[str, Any], create: bool, old: dict[str, Any] | None) -> None:
        """Cluster IPs from 10.0.0.0/24 (envtest's service range) and node ports from 30000-32767."""
        old_spec = (old or {}).get("spec") or {}
        if (
            not create
            and old_spec.get("clusterIP")
            and not spec.get("clusterIP")
            and not spec.get("clusterIPs")
        ):
            raise invalid(
                "",
                "Service",
                (old or {}).get("metadata", {}).get("name", ""),
                [
                    (
                        "FieldValueInvalid",
                        "spec.clusterIPs[0]",
                        "Invalid value: []string(nil): primary clusterIP can not be unset",
                    )
                ],
            )
        if spec.get("type") in ("ClusterIP", "NodePort", "LoadBalancer") and not spec.get("clusterIP"):
            used = {
                (s.obj.get("spec") or {}).get("clusterIP")
                for s in self.tables[("", "services")].objects.values()
            }
            for _ in range(254):
                candidate = f"10.0.0.{self._next_cluster_ip % 253 + 2}"  # .1 is the kubernetes service
                self._next_cluster_ip += 1
                if candidate not in used:
                    spec["clusterIP"] = candidate
                    break
            else:
                raise ApiFailure(
                    500,
                    "InternalError",
                    "Internal error occurred: failed to allocate a serviceIP: range is full",
                )
        if spec.get("clusterIP"):
            spec.setdefault("clusterIPs", [spec["clusterIP"]])
        if spec.get("type") in ("NodePort", "LoadBalancer") and isinstance(spec.get("ports"), list):
            used_ports = {
                p.get("nodePort")
                for s in self.tables[("", "services")].objects.values()
                for p in (s.obj.get("spec") or {}).get("ports") or []
                if isinstance(p, dict)
            }
            old_ports = {
                (p.get("port"), p.get("protocol")): p.get("nodePort")
                for p in old_spec.get("ports") or []
                if isinstance(p, dict)
            }
            ports = []
            for port in spec["ports"]:
                if isinstance(port, dict) and not port.get("nodePort"):
                    kept = old_ports.get((port.get("port"), port.get("protocol")))
                    if kept:
                        port = {**port, "nodePort": kept}
                    else:
                        free = [n for n in range(30000, 32768) if n not in used_ports]
                        if not free:
                            raise ApiFailure(
                                500,
                                "InternalError",
                                "Internal error occurred: failed to allocate a nodePort: range is full",
                            )
                        chosen = random.choice(free)
                        used_ports.add(chosen)
                        port = {**port, "nodePort": chosen}
                ports.append(port)
            spec["ports"] = ports

    # -- update -------------------------------------------------------------------------------------

    def update(
        self,
        table: Table,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
        api_version: str | None = None,
    ) -> Stored:
        rdef = table.rdef
        if rdef.create_on_update and subresource is None and (namespace or "", name) not in table.objects:
            if isinstance(body, dict) and isinstance(body.get("metadata"), dict):
                if body["metadata"].get("name") and body["metadata"]["name"] != name:
                    raise bad_request(
                        f"the name of the object ({body['metadata']['name']}) does not match the name on the URL ({name})"
                    )
                body = {**body, "metadata": {**body["metadata"], "name": name, "resourceVersion": None}}
            return self.create(table, namespace, body, api_version)
        old = self.get(table, namespace, name)
        obj = self._check_body(table, body, api_version)
        meta = obj["metadata"]
        if meta.get("name") and meta["name"] != name:
            raise bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
            )
        meta["name"] = name
        self._place(table, namespace, meta)
        want_rv = meta.get("resourceVersion")
        if not want_rv and not rdef.builtin:
            # custom resources do not allow unconditional updates
            details: dict[str, Any] = {"name": name, "group": rdef.group, "kind": rdef.plural}
            details["causes"] = [
                {
                    "reason": "FieldValueInvalid",
                    "message": "Invalid value: 0x0: must be specified for an update",
                    "field": "metadata.resourceVersion",
                }
            ]
            raise ApiFailure(
                422,
                "Invalid",
                f'{qualified(rdef.group, rdef.plural)} "{name}" is invalid: metadata.resourceVersion: '
                "Invalid value: 0x0: must be specified for an update",
                details,
            )
        if want_rv and want_rv != old.obj["metadata"]["resourceVersion"]:
            raise conflict(rdef.group, rdef.plural, name)
        want_uid = meta.get("uid")
        if want_uid and want_uid != old.obj["metadata"]["uid"]:
            key = (
                f"/registry/{rdef.plural}/{namespace}/{name}"
                if namespace
                else f"/registry/{rdef.plural}/{name}"
            )
            raise conflict(
                rdef.group,
                rdef.plural,
                name,
                f"StorageError: invalid object, Code: 4, Key: {key}, ResourceVersion: 0, AdditionalErrorMsg: "
                f"Precondition failed: UID in precondition: {want_uid}, UID in object meta: {old.obj['metadata']['uid']}",
            )
        return self._write_update(table, old, obj, subresource, _version_of(api_version))

    def _write_update(
        self,
        table: Table,
        old: Stored,
        obj: dict[str, Any],
        subresource: str | None,
        version: str | None = None,
    ) -> Stored:
        rdef = table.rdef
        old_obj = old.obj
        old_meta = old_obj["metadata"]
        if not rdef.builtin:  # the CRD's structural schema: prune, default, validate
            obj, causes = apply_schema(obj, self.crd_schema(rdef, version))
            if causes:
                raise invalid(rdef.group, rdef.kind, old_meta["name"], causes)
        if subresource == "finalize":
            # namespaces/finalize: only spec.finalizers changes (what the namespace controller uses)
            new = dict(old_obj)
            new["spec"] = {
                **(old_obj.get("spec") or {}),
                "finalizers": (obj.get("spec") or {}).get("finalizers") or [],
            }
            new["metadata"] = dict(old_meta)
            obj = new
        elif subresource in ("status", "approval"):  # CSR approval writes status.conditions
            new = dict(old_obj)
            if subresource == "approval":
                status = dict(old_obj.get("status") or {})
                conditions = (obj.get("status") or {}).get("conditions")
                if conditions:
                    status["conditions"] = conditions
                else:
                    status.pop("conditions", None)
                obj = {**obj, "status": status}
            if "status" in obj:
                new["status"] = obj["status"]
            else:
                new.pop("status", None)
            new["metadata"] = dict(old_meta)
            self.fields.record(rdef, old_obj, new, version, sent=obj, subresource=True)
            obj = new
        else:
            sent = self.fields.snapshot(rdef, obj, always=True)  # what the field manager compares
            if rdef.has_status(version):
                if "status" in old_obj:
                    obj["status"] = old_obj["status"]
                else:
                    obj.pop("status", None)
            meta = obj["metadata"]
            for field in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
                if field in old_meta:
                    meta[field] = old_meta[field]
                else:
                    meta.pop(field, None)
            meta.pop("generateName", None) if "generateName" not in old_meta else None
            if "generation" in old_meta:
                meta["generation"] = old_meta["generation"]
            else:
                meta.pop("generation", None)
            self._defaults(rdef, obj, create=False, old=old_obj)
            self.fields.record(rdef, old_obj, obj, version, sent=sent)
            if old_meta.get("deletionTimestamp"):
                added = [
                    f for f in meta.get("finalizers") or [] if f not in (old_meta.get("finalizers") or [])
                ]
                if added:
                    raise invalid(
                        rdef.group,
                        rdef.kind,
                        old_meta["name"],
                        [
                            (
                                "FieldValueForbidden",
                                "metadata.finalizers",
                                "Forbidden: no new finalizers can be added if the object is being deleted, "
                                f"found new finalizers {go_strings(added)}",
                            )
                        ],
                    )
            if "generation" in meta and rdef.spec_changed(old_obj, obj, version):
                meta["generation"] = old_meta["generation"] + 1
            causes = validate(rdef.key, obj)
            if causes:
                raise invalid(INVALID_GROUP.get(rdef.key, rdef.group), rdef.kind, old_meta["name"], causes)
        obj = ordered(obj)
        obj["metadata"]["resourceVersion"] = old_meta["resourceVersion"]
        if obj == old_obj:
            return old  # nothing changed: not written, no new resourceVersion, no event
        if rdef.key == CRD_KEY:
            self._prepare_crd(obj)
        meta = obj["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and not spec_finalizers(rdef, obj):
            stored = self._commit(table, "DELETED", obj, old)
        else:
            stored = self._commit(table, "MODIFIED", obj, old)
        if rdef.key == CRD_KEY:
            self._sync_crd(stored.obj, deleted=stored.key not in table.objects)
        return stored

    def patch(
        self,
        table: Table,
        namespace: str | None,
        name: str,
        patch_type: str,
        body: Any,
        *,
        subresource: str | None = None,
        api_version: str | None = None,
    ) -> Stored:
        rdef = table.rdef
        old = self.get(table, namespace, name)
        served = api_version or rdef.stored_api_version
        current = copy.deepcopy(convert(old.obj, served) if served != old.obj["apiVersion"] else old.obj)
        result = patches.apply_patch(current, body, patch_type)
        meta = result["metadata"]
        if meta.get("resourceVersion") and meta["resourceVersion"] != old.obj["metadata"]["resourceVersion"]:
            raise conflict(rdef.group, rdef.plural, name)
        if meta.get("name") != name:
            raise bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
            )
        result["kind"] = rdef.kind
        result["apiVersion"] = served
        check_types(result, rdef.builtin)
        result = dict(from_served(result, served, rdef.stored_api_version))
        result["apiVersion"] = rdef.stored_api_version
        result["metadata"] = dict(meta)
        return self._write_update(table, old, result, subresource, _version_of(served))


def _version_of(api_version: str | None) -> str | None:
    return None if api_version is None else api_version.rpartition("/")[2]
