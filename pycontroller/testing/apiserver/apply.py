"""Server-side apply (``PATCH`` with ``application/apply-patch+yaml``) and the registry's managedFields hook.

:func:`apply_response` serves one apply: the body is YAML or JSON (decoded like the real server, with
YAML 1.1 booleans such as ``y``; a body that does not parse is 400 with go-yaml's message), the
``fieldManager`` query parameter is required (422 otherwise, the real PatchOptions message),
``force=true`` takes fields over from other managers instead of answering 409 with the conflicting
managers and fields in ``details.causes``. An absent object is created (201); ``/status`` applies
change only the status; ``dryRun=All`` stores nothing; an apply that changes nothing (fields and
ownership) writes nothing and keeps the resourceVersion.

:class:`FieldTracker` is what the registry calls on every write to record managedFields
(:mod:`.managedfields`); the handler tells it the request's manager. Everything here except
:func:`apply_response` (which reads the body) is synchronous. Known gaps: a wrong-kind
configuration's 500 message differs from the real one (which prints Go pointers), scalar types in
configurations are not checked (the real server answers 500 for a number where a string goes),
and custom resources' nulls are only refused where an apply left them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import orjson
import yaml  # type: ignore[import-untyped]
from aiohttp import web

from .conversion import check_types, convert, from_served
from .managedfields import Conflicts, FieldManager, manager_from_user_agent
from .smd import MISSING, SmdError, builtin_type, crd_type, drop_empty
from .status import ApiFailure, bad_request, conflict, invalid, json_response, not_found

if TYPE_CHECKING:
    from .handlers import Handlers
    from .registry import Registry
    from .resources import ResourceDef
    from .routing import Route
    from .storage import Stored, Table

__all__ = [
    "FieldTracker",
    "apply",
    "apply_response",
    "check_patch_options",
    "decode_apply_body",
    "request_manager",
]

APPLY_MEDIA_TYPE = "application/apply-patch+yaml"


class _GoYamlLoader(yaml.SafeLoader):  # type: ignore[misc]
    """YAML as go-yaml v2 reads it for sigs.k8s.io/yaml: y/n are booleans, timestamps stay strings."""


_GoYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_GoYamlLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:y|Y|n|N)$"), list("yYnN"))


def _bool(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> bool:
    return str(loader.construct_scalar(node)).lower() in ("y", "yes", "true", "on")


_GoYamlLoader.add_constructor("tag:yaml.org,2002:bool", _bool)

_PROBLEMS = (
    ("mapping values are not allowed here", "mapping values are not allowed in this context"),
    ("expected the node content", "did not find expected node content"),
    ("expected ',' or ']'", "did not find expected ',' or ']'"),
    ("expected ',' or '}'", "did not find expected ',' or '}'"),
    ("that cannot start any token", "found character that cannot start any token"),
    ("expected <block end>", "did not find expected key"),
)
_GO_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "bool"}


def _yaml_message(exc: yaml.YAMLError) -> str:
    problem = str(getattr(exc, "problem", None) or exc)
    text = problem
    for found, go in _PROBLEMS:
        if found in problem:
            text = go
            break
    mark = getattr(exc, "problem_mark", None)
    context = getattr(exc, "context_mark", None)
    line = 0
    if isinstance(exc, yaml.scanner.ScannerError):
        if mark is not None and mark.line:
            line = mark.line + 1
    elif mark is not None and "<stream end>" in problem:
        line = mark.line + 1
    elif mark is not None and mark.line:
        line = mark.line
    elif context is not None and context.line:
        line = context.line
    where = f"line {line}: " if line else ""
    return f"error decoding YAML: error converting YAML to JSON: yaml: {where}{text}"


def _stringify_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {_key(k): _stringify_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stringify_keys(v) for v in value]
    return value


def _key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


def decode_apply_body(data: bytes) -> dict[str, Any]:
    """The applied configuration in ``data`` (JSON or YAML); ApiFailure 400 as the real server says."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            value = _stringify_keys(yaml.load(data, Loader=_GoYamlLoader))
        except yaml.YAMLError as exc:
            raise bad_request(_yaml_message(exc)) from None
    if value is None:
        value = {}
    if not isinstance(value, dict):
        go_type = _GO_TYPES.get(type(value), "object")
        raise bad_request(
            "error decoding YAML: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal "
            f"{go_type} into Go value of type map[string]interface {{}}"
        )
    return value


def request_manager(request: web.Request) -> str:
    """The manager of a non-apply write: ``fieldManager`` if given, else the User-Agent's prefix."""
    given = request.query.get("fieldManager", "")
    if given:
        return given
    return manager_from_user_agent(request.headers.get("User-Agent", ""))


def check_patch_options(request: web.Request, patch_type: str) -> None:
    """422 for ``force`` on a patch that is not an apply, as the real PatchOptions validation says."""
    if patch_type != "apply" and "force" in request.query:
        raise _invalid_options(
            "force", "FieldValueForbidden", "Forbidden: may not be specified for non-apply patch"
        )


def _invalid_options(field: str, reason: str, detail: str) -> ApiFailure:
    return ApiFailure(
        422,
        "Invalid",
        f'PatchOptions.meta.k8s.io "" is invalid: {field}: {detail}',
        {
            "group": "meta.k8s.io",
            "kind": "PatchOptions",
            "causes": [{"reason": reason, "message": detail, "field": field}],
        },
    )


# Fields the real server sets after its field manager ran (REST allocation, PrepareForCreate,
# admission plugins): what the field manager sees there is what the client sent.
_AFTER_FIELD_MANAGER: dict[tuple[str, str], tuple[tuple[str, ...], ...]] = {
    ("", "services"): (("spec", "clusterIP"), ("spec", "clusterIPs")),
    ("", "namespaces"): (("spec", "finalizers"),),
    ("", "pods"): (("status",), ("spec", "tolerations"), ("spec", "priority"), ("spec", "preemptionPolicy")),
    ("batch", "jobs"): (
        ("metadata", "labels"),
        ("spec", "selector"),
        ("spec", "template", "metadata", "labels"),
    ),
}


def _take(obj: dict[str, Any], sent: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    """``obj`` with the value at ``path`` replaced by ``sent``'s (removed when ``sent`` lacks it)."""
    source: Any = sent
    for key in path:
        source = source.get(key, MISSING) if isinstance(source, dict) else MISSING
    head, rest = path[0], path[1:]
    out = dict(obj)
    if rest:
        inner = out.get(head)
        if not isinstance(inner, dict):
            return obj
        sent_inner = sent.get(head)
        out[head] = _take(inner, sent_inner if isinstance(sent_inner, dict) else {}, rest)
    elif source is MISSING:
        out.pop(head, None)
    else:
        out[head] = source
    return out


class FieldTracker:
    """Records managedFields on the registry's writes (see :mod:`.managedfields`).

    ``manager`` is the current request's manager (set by the handler around each write);
    ``pending`` carries managedFields an apply already computed for the next write.
    """

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.manager = ""
        self.pending: Any = MISSING
        self._managers: dict[tuple[Any, ...], FieldManager] = {}

    def field_manager(self, rdef: ResourceDef, api_version: str) -> FieldManager | None:
        """The FieldManager of ``rdef`` written at ``api_version``."""
        schema = None
        if not rdef.builtin:
            schema = self.registry.crd_schema(rdef, api_version.rpartition("/")[2])
        key = (rdef.group, rdef.kind, api_version, id(schema))
        found = self._managers.get(key)
        if found is not None and (rdef.builtin or found.t is crd_type(schema)):
            return found
        if rdef.builtin:
            t = builtin_type(api_version, rdef.kind) or builtin_type(rdef.stored_api_version, rdef.kind)
            # a kind the real server's OpenAPI lacks (register_resource): shapes deduced from values
            found = (
                FieldManager(t, typed=True) if t is not None else FieldManager(crd_type(None), typed=False)
            )
        else:
            found = FieldManager(crd_type(schema), typed=False)
        self._managers[key] = found
        return found

    def snapshot(self, rdef: ResourceDef, obj: dict[str, Any], always: bool = False) -> dict[str, Any] | None:
        """The object as sent, before the server fills fields the field manager must not see.

        Taken for resources whose strategy or admission sets fields after the real field manager
        ran (``always``: for every resource, for the status of updates).
        """
        if not always and rdef.key not in _AFTER_FIELD_MANAGER:
            return None
        return {**obj, "metadata": dict(obj["metadata"])}

    def keep(self, old: dict[str, Any]) -> None:
        """The next write keeps ``old``'s managedFields (the 1.20 scale subresource records none)."""
        self.pending = old["metadata"].get("managedFields")

    def record(
        self,
        rdef: ResourceDef,
        old: dict[str, Any] | None,
        obj: dict[str, Any],
        version: str | None,
        sent: dict[str, Any] | None = None,
        subresource: bool = False,
    ) -> None:
        """Set ``obj``'s managedFields for a write over ``old`` (None: a create).

        Like the 1.20 server, the field manager sees the object as sent (after defaulting): with
        ``sent``, the status is the one the client sent; for a subresource write (``subresource``)
        it sees all of ``sent`` but never the managedFields the client put there.
        """
        pending, self.pending = self.pending, MISSING
        if rdef.builtin:
            # what the real server stores went through Go structs: empty omitempty maps and
            # lists are gone (data: {} is no data)
            api_version = rdef.api_version(version or rdef.storage_version or rdef.versions[0])
            fm = self.field_manager(rdef, api_version)
            if fm is not None:
                given = obj["metadata"].get("managedFields", MISSING)
                slim = drop_empty(obj, fm.t)
                if slim is not obj:
                    obj.clear()
                    obj.update(slim)
                    if given is not MISSING:  # [] clears them: that is not an empty list to drop
                        obj["metadata"] = {**obj["metadata"], "managedFields": given}
        meta = obj["metadata"]
        if pending is not MISSING:
            managed = pending
        else:
            api_version = rdef.api_version(version or rdef.storage_version or rdef.versions[0])
            fm = self.field_manager(rdef, api_version)
            if fm is None:
                return
            seen = obj
            if sent is not None and subresource:
                old_fields = ((old or {}).get("metadata") or {}).get("managedFields")
                seen = {**sent, "metadata": {**(sent.get("metadata") or {}), "managedFields": old_fields}}
            elif sent is not None:
                seen = dict(obj)
                # an update's status is what was sent (the strategy restores the stored one later)
                first = (("status",),) if old is not None else ()
                for path in (*first, *_AFTER_FIELD_MANAGER.get(rdef.key, ())):
                    seen = _take(seen, sent, path)
            managed = fm.update(old, seen, self.manager or "kube-apiserver", api_version, rdef.kind)
        meta.pop("managedFields", None)
        if managed is not None:
            meta["managedFields"] = managed


async def apply_response(
    handlers: Handlers, request: web.Request, route: Route, table: Table, api_version: str
) -> web.StreamResponse:
    """Serve one apply patch: 201 with the object when it created it, else 200."""
    if request.content_length is not None and request.content_length > handlers.max_body_bytes:
        raise web.HTTPRequestEntityTooLarge(
            max_size=handlers.max_body_bytes, actual_size=request.content_length
        )
    data = await request.read()
    if len(data) > handlers.max_body_bytes:
        raise web.HTTPRequestEntityTooLarge(max_size=handlers.max_body_bytes, actual_size=len(data))
    manager = request.query.get("fieldManager", "")
    if not manager:
        raise _invalid_options(
            "fieldManager", "FieldValueRequired", "Required value: is required for apply patch"
        )
    if len(manager) > 128:
        raise _invalid_options("fieldManager", "FieldValueTooLong", "Too long: must have at most 128 bytes")
    force = request.query.get("force", "").lower() in ("true", "1")
    config = decode_apply_body(data)
    assert route.name is not None
    with handlers._writing(request):
        stored, created = apply(
            handlers.registry,
            table,
            route.namespace,
            route.name,
            config,
            manager,
            force,
            route.subresource,
            api_version,
        )
    return json_response(stored.bytes_for(api_version), 201 if created else 200)


def apply(
    registry: Registry,
    table: Table,
    namespace: str | None,
    name: str,
    config: dict[str, Any],
    manager: str,
    force: bool,
    subresource: str | None,
    api_version: str,
) -> tuple[Stored, bool]:
    """Apply ``config`` as ``manager`` to ``name`` (synchronous; raises ApiFailure on refusal)."""
    rdef = table.rdef
    given_version = config.get("apiVersion") or ""
    if given_version != api_version:
        raise bad_request(
            "Incorrect version specified in apply patch. "
            f"Specified patch version: {given_version}, expected: {api_version}"
        )
    if config.get("kind") != rdef.kind:
        # the real server fails typing the configuration as the resource's kind (a 500)
        raise ApiFailure(
            500,
            "InternalError",
            f"failed to merge config: expected objects of the same type, but got {rdef.kind} and "
            f"{config.get('kind') or '(no kind)'}",
        )
    meta = config.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        check_types(config, rdef.builtin)
    meta = meta or {}
    if meta.get("managedFields") is not None:
        raise bad_request("metadata.managedFields must be nil")
    if not meta.get("name"):
        raise bad_request(
            f"the name of the object ({name} based on URL) was undeterminable: name must be provided"
        )
    if meta["name"] != name:
        raise bad_request(
            f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
        )
    stored = table.objects.get((namespace or "", name))
    if stored is None and subresource is not None:
        raise not_found(rdef.group, rdef.plural, name)
    if stored is not None and meta.get("resourceVersion"):
        if meta["resourceVersion"] != stored.obj["metadata"]["resourceVersion"]:
            raise conflict(rdef.group, rdef.plural, name)
    tracker: FieldTracker = registry.fields
    fm = tracker.field_manager(rdef, api_version)
    if fm is None:
        raise ApiFailure(500, "InternalError", f"no schema for {rdef.kind} in {api_version}")
    live = None
    if stored is not None:
        live = convert(stored.obj, api_version) if api_version != stored.obj["apiVersion"] else stored.obj
    try:
        result, managed, _changed = fm.apply(live, config, manager, force, api_version, rdef.kind)
    except Conflicts as exc:
        raise ApiFailure(409, "Conflict", str(exc), {"causes": exc.causes()}) from None
    except SmdError as exc:
        raise ApiFailure(500, "", f"failed to create typed patch object: {exc}") from None
    if not rdef.builtin:
        # nulls left where an apply emptied a list or map reach validation (the request decoder,
        # which prunes them, never sees them): the real server refuses them
        causes: list[tuple[str, str, str]] = []
        schema = registry.crd_schema(rdef, api_version.rpartition("/")[2])
        props = (schema or {}).get("properties") or {}
        for key in sorted(result):
            if key not in ("apiVersion", "kind", "metadata") and isinstance(props.get(key), dict):
                _null_causes(result[key], props[key], key, causes)
        if causes:
            raise invalid(rdef.group, rdef.kind, name, causes)
    result = dict(result)
    result["metadata"] = {k: v for k, v in (result.get("metadata") or {}).items() if k != "managedFields"}
    result["metadata"]["name"] = name
    if stored is None:
        tracker.pending = managed
        try:
            created = registry.create(table, namespace, result, api_version)
        finally:
            tracker.pending = MISSING
        return created, True
    result["kind"] = rdef.kind
    result["apiVersion"] = api_version
    check_types(result, rdef.builtin)
    result = dict(from_served(result, api_version, rdef.stored_api_version))
    result["apiVersion"] = rdef.stored_api_version
    result["metadata"] = dict(result["metadata"])
    tracker.pending = managed
    try:
        written = registry._write_update(table, stored, result, subresource, api_version.rpartition("/")[2])
    finally:
        tracker.pending = MISSING
    return written, False


def _null_causes(value: Any, schema: dict[str, Any], path: str, causes: list[tuple[str, str, str]]) -> None:
    if value is None:
        if schema.get("type") and not schema.get("nullable"):
            causes.append(
                (
                    "FieldValueInvalid",
                    path,
                    f'Invalid value: "null": {path} in body must be of type {schema["type"]}: "null"',
                )
            )
        return
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key in sorted(value):
            sub = props.get(key) if key in props else extra
            if isinstance(sub, dict):
                _null_causes(value[key], sub, f"{path}.{key}", causes)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            _null_causes(item, schema["items"], path, causes)
