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
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from . import patch as patches
from .conversion import check_types, convert, from_served
from .defaults import apply_defaults
from .resources import BUILTINS, ResourceDef, resource_from_crd
from .selectors import Filter
from .status import ApiFailure, already_exists, bad_request, conflict, invalid, not_found, qualified
from .storage import Event, Stored, Table
from .validation import go_strings, validate

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
CRD_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
_CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
_NS_KEY = ("", "namespaces")


def now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Registry:
    """All served resources and their objects; see the module docstring."""

    def __init__(self, history_size: int = 10_000) -> None:
        self.rv = 0
        self.history_size = history_size
        self.tables: dict[tuple[str, str], Table] = {}
        self._rv_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.on_unserve: list[Callable[[Table], None]] = []
        self.aliases: dict[tuple[str, str], ResourceDef] = {}
        for rdef in BUILTINS:
            if rdef.alias_of is not None:
                self.aliases[rdef.key] = rdef
            else:
                self.tables[rdef.key] = Table(rdef, history_size)
        self._next_cluster_ip = 10
        self.dry_run = False  # set by the handler around one dry-run request
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.create(self.tables[_NS_KEY], None, {"metadata": {"name": name}})

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
        table.commit(Event(self.rv, type_, stored, old))
        if self._rv_waiters:
            keep = []
            for want, fut in self._rv_waiters:
                if want <= self.rv:
                    if not fut.done():
                        fut.set_result(None)
                else:
                    keep.append((want, fut))
            self._rv_waiters = keep
        return stored

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
        if rdef.generation_fields is not None:
            meta["generation"] = 1  # otherwise a client-given generation is kept, like the real server
        meta["resourceVersion"] = ""
        meta["creationTimestamp"] = now_rfc3339()
        if not rdef.builtin and rdef.has_status(_version_of(api_version)):
            obj.pop("status", None)
        self._defaults(rdef, obj, create=True)
        causes = validate(rdef.key, obj)
        if causes:
            raise invalid(rdef.group, rdef.kind, name, causes)
        obj = _ordered(obj)
        if table.rdef.key == _CRD_KEY:
            self._prepare_crd(obj)
        stored = self._commit(table, "ADDED", obj, None)
        if table.rdef.key == _CRD_KEY:
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
        ns_obj = self.tables[_NS_KEY].objects.get(("", ns))
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

    def _defaults(self, rdef: ResourceDef, obj: dict[str, Any], create: bool) -> None:
        apply_defaults(rdef.key, obj, create)
        if rdef.key == ("", "services") and create and isinstance(obj.get("spec"), dict):
            spec = obj["spec"]
            if spec.get("type") in ("ClusterIP", "NodePort", "LoadBalancer") and not spec.get("clusterIP"):
                spec["clusterIP"] = f"10.0.0.{self._next_cluster_ip % 254 + 1}"
                self._next_cluster_ip += 1
            if spec.get("clusterIP"):
                spec.setdefault("clusterIPs", [spec["clusterIP"]])

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
        if subresource == "finalize":
            # namespaces/finalize: only spec.finalizers changes (what the namespace controller uses)
            new = dict(old_obj)
            new["spec"] = {
                **(old_obj.get("spec") or {}),
                "finalizers": (obj.get("spec") or {}).get("finalizers") or [],
            }
            new["metadata"] = dict(old_meta)
            obj = new
        elif subresource == "status":
            new = dict(old_obj)
            if "status" in obj:
                new["status"] = obj["status"]
            else:
                new.pop("status", None)
            new["metadata"] = dict(old_meta)
            obj = new
        else:
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
            self._defaults(rdef, obj, create=False)
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
                raise invalid(rdef.group, rdef.kind, old_meta["name"], causes)
        obj = _ordered(obj)
        obj["metadata"]["resourceVersion"] = old_meta["resourceVersion"]
        if obj == old_obj:
            return old  # nothing changed: not written, no new resourceVersion, no event
        if rdef.key == _CRD_KEY:
            self._prepare_crd(obj)
        meta = obj["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and not _spec_finalizers(rdef, obj):
            stored = self._commit(table, "DELETED", obj, old)
        else:
            stored = self._commit(table, "MODIFIED", obj, old)
        if rdef.key == _CRD_KEY:
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
        try:
            if patch_type == "merge":
                result = patches.merge_patch(current, body)
            elif patch_type == "json":
                result = patches.json_patch(current, body)
            else:
                result = patches.strategic_merge_patch(current, body)
        except patches.PatchError as exc:
            if exc.code == 400:
                raise bad_request(str(exc)) from None
            # the real server's generic answer to a JSON patch that does not apply
            raise ApiFailure(
                422, "Invalid", "the server rejected our request due to an error in our request", {}
            ) from None
        if not isinstance(result, dict) or not isinstance(result.get("metadata"), dict):
            raise ApiFailure(422, "Invalid", "the patched object is not a valid object")
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

    # -- delete -------------------------------------------------------------------------------------

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
        if rdef.key == _CRD_KEY:
            return self._delete_crd(table, old)
        if rdef.key == _NS_KEY or finalizers:
            if old_meta.get("deletionTimestamp") and finalizers == list(old_meta.get("finalizers") or []):
                return old, False
            obj = dict(old.obj)
            meta = dict(old_meta)
            meta["finalizers"] = finalizers
            if not finalizers:
                del meta["finalizers"]
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = now_rfc3339()
                if rdef.key != _NS_KEY:
                    meta["deletionGracePeriodSeconds"] = 0
                if meta.get("generation"):
                    meta["generation"] += 1
            obj["metadata"] = meta
            if rdef.key == _NS_KEY:
                obj["status"] = {**(obj.get("status") or {}), "phase": "Terminating"}
            return self._commit(table, "MODIFIED", _ordered(obj), old), False
        obj = dict(old.obj)
        obj["metadata"] = dict(old_meta)
        if rdef.key == ("", "pods"):  # graceful deletion with a zero grace period (not scheduled)
            obj["metadata"].setdefault("deletionTimestamp", now_rfc3339())
            obj["metadata"].setdefault("deletionGracePeriodSeconds", 0)
            obj = _ordered(obj)
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

    # -- CustomResourceDefinitions ------------------------------------------------------------------

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
        obj["status"] = {
            "conditions": [
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
            ],
            "acceptedNames": full_names,
            "storedVersions": [v["name"] for v in versions if v.get("storage")],
        }

    def _sync_crd(self, crd: dict[str, Any], deleted: bool = False) -> None:
        if self.dry_run:
            return
        rdef = resource_from_crd(crd)
        if rdef is None or deleted:
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
        marked = self._commit(table, "MODIFIED", _ordered(obj), old)
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


def _version_of(api_version: str | None) -> str | None:
    return None if api_version is None else api_version.rpartition("/")[2]


def _spec_finalizers(rdef: ResourceDef, obj: dict[str, Any]) -> bool:
    """Namespaces stay while spec.finalizers (the namespace controller's) is not empty."""
    return rdef.key == _NS_KEY and bool((obj.get("spec") or {}).get("finalizers"))


def _precondition(rdef: ResourceDef, name: str, why: str) -> ApiFailure:
    details: dict[str, Any] = {"name": name}
    if rdef.group:
        details["group"] = rdef.group
    details["kind"] = rdef.kind
    return ApiFailure(
        409, "Conflict", f'Operation cannot be fulfilled on {rdef.kind} "{name}": {why}', details
    )


_META_ORDER = (
    "name",
    "generateName",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
)


def _ordered(obj: dict[str, Any]) -> dict[str, Any]:
    """kind, apiVersion, metadata first (metadata's identity fields first), like the real server."""
    meta = obj["metadata"]
    new_meta = {k: meta[k] for k in _META_ORDER if k in meta}
    for k, v in meta.items():
        if k not in new_meta:
            new_meta[k] = v
    out: dict[str, Any] = {"kind": obj["kind"], "apiVersion": obj["apiVersion"], "metadata": new_meta}
    for k, v in obj.items():
        if k not in out:
            out[k] = v
    return out
