"""controller-runtime's ``controllerutil`` helpers for plain-dict objects.

Owner references: :func:`set_controller_reference` (refuses when another controller already owns the
object), :func:`set_owner_reference`, :func:`get_controller_of`, :func:`has_controller_reference`.
Finalizers: :func:`add_finalizer`, :func:`remove_finalizer`, :func:`contains_finalizer` (each
returns whether it changed anything). :func:`create_or_update` reads an object, applies a mutate
function, and writes only when something changed (an update); :func:`create_or_patch` does the
same with merge patches of the object and of its status, separately (controller-runtime's).

The reference and finalizer helpers mutate the object passed in (your copy: never an object from a
cache, whose objects are shared) and never suspend.
"""

from __future__ import annotations

import copy
import enum
import inspect
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.errors import InvalidObjectError, NotFoundError, PyControllerError
from pycontroller.mergepatch import create_merge_patch

__all__ = [
    "AlreadyOwnedError",
    "OperationResult",
    "add_finalizer",
    "contains_finalizer",
    "create_or_patch",
    "create_or_update",
    "get_controller_of",
    "has_controller_reference",
    "remove_finalizer",
    "set_controller_reference",
    "set_owner_reference",
]

Obj = MutableMapping[str, Any]


class AlreadyOwnedError(PyControllerError, ValueError):
    """The object already has a different controller; ``owner`` is that controller's reference."""

    def __init__(self, obj_name: str, owner: dict[str, Any]) -> None:
        self.owner = owner
        super().__init__(
            f"object {obj_name!r} is already owned by another {owner.get('kind')} controller "
            f"{owner.get('name')!r}"
        )


def _meta(obj: Any, what: str) -> MutableMapping[str, Any]:
    if not isinstance(obj, MutableMapping):
        raise TypeError(f"{what} must be a Kubernetes object (a dict), got {type(obj).__name__}")
    meta = obj.get("metadata")
    if not isinstance(meta, MutableMapping):
        raise InvalidObjectError(f"{what} has no metadata")
    return meta


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def _same_owner(a: Any, b: Any) -> bool:
    return (
        _group(str(a.get("apiVersion", ""))) == _group(str(b.get("apiVersion", "")))
        and a.get("kind") == b.get("kind")
        and a.get("name") == b.get("name")
    )


def _reference(owner: Any, controller: bool, block_owner_deletion: bool) -> dict[str, Any]:
    meta = _meta(owner, "owner")
    missing = [f for f in ("apiVersion", "kind") if not owner.get(f)]
    missing += [f"metadata.{f}" for f in ("name", "uid") if not meta.get(f)]
    if missing:
        raise InvalidObjectError(f"owner has no {', '.join(missing)}; a reference needs all of them")
    ref: dict[str, Any] = {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
    }
    if controller:
        ref["controller"] = True
    if block_owner_deletion:
        ref["blockOwnerDeletion"] = True
    return ref


def _check_namespaces(owner: Any, obj: Any) -> None:
    owner_ns = _meta(owner, "owner").get("namespace") or ""
    obj_ns = _meta(obj, "object").get("namespace") or ""
    if owner_ns and not obj_ns:
        raise InvalidObjectError(
            f"cluster-scoped object {_meta(obj, 'object').get('name')!r} cannot have a namespaced owner "
            f"({owner_ns}/{_meta(owner, 'owner').get('name')})"
        )
    if owner_ns and owner_ns != obj_ns:
        raise InvalidObjectError(
            f"cross-namespace owner references are not allowed: owner in {owner_ns!r}, object in {obj_ns!r}"
        )


def _upsert(obj: Any, ref: dict[str, Any]) -> None:
    meta = _meta(obj, "object")
    refs = list(meta.get("ownerReferences") or [])
    for i, existing in enumerate(refs):
        if _same_owner(existing, ref):
            refs[i] = ref
            break
    else:
        refs.append(ref)
    meta["ownerReferences"] = refs


def set_controller_reference(owner: Any, obj: Obj, *, block_owner_deletion: bool = True) -> None:
    """Make ``owner`` the controller of ``obj`` (an ownerReference with ``controller: true``).

    Raises :class:`AlreadyOwnedError` when another object already controls ``obj``,
    InvalidObjectError when ``owner`` lacks apiVersion/kind/name/uid or lives in another namespace.
    Idempotent for the same owner (its reference is refreshed in place).
    """
    ref = _reference(owner, True, block_owner_deletion)
    _check_namespaces(owner, obj)
    current = get_controller_of(obj)
    if current is not None and not _same_owner(current, ref):
        raise AlreadyOwnedError(str(_meta(obj, "object").get("name")), current)
    _upsert(obj, ref)


def set_owner_reference(owner: Any, obj: Obj) -> None:
    """Add (or refresh) a non-controller ownerReference to ``owner`` on ``obj``."""
    ref = _reference(owner, False, False)
    _check_namespaces(owner, obj)
    _upsert(obj, ref)


def get_controller_of(obj: Any) -> dict[str, Any] | None:
    """The ownerReference of ``obj`` with ``controller: true``, or None."""
    for ref in _meta(obj, "object").get("ownerReferences") or ():
        if isinstance(ref, dict) and ref.get("controller"):
            return ref
    return None


def has_controller_reference(obj: Any) -> bool:
    """True when some object controls ``obj``."""
    return get_controller_of(obj) is not None


def contains_finalizer(obj: Any, finalizer: str) -> bool:
    """True when ``finalizer`` is in ``obj``'s ``metadata.finalizers``."""
    return finalizer in (_meta(obj, "object").get("finalizers") or ())


def add_finalizer(obj: Obj, finalizer: str) -> bool:
    """Add ``finalizer`` unless present; returns True when it was added."""
    if not isinstance(finalizer, str) or not finalizer:
        raise TypeError(f"finalizer must be a non-empty string, got {finalizer!r}")
    meta = _meta(obj, "object")
    finalizers = list(meta.get("finalizers") or [])
    if finalizer in finalizers:
        return False
    finalizers.append(finalizer)
    meta["finalizers"] = finalizers
    return True


def remove_finalizer(obj: Obj, finalizer: str) -> bool:
    """Remove every occurrence of ``finalizer``; returns True when one was removed."""
    meta = _meta(obj, "object")
    finalizers = list(meta.get("finalizers") or [])
    kept = [f for f in finalizers if f != finalizer]
    if len(kept) == len(finalizers):
        return False
    if kept:
        meta["finalizers"] = kept
    else:
        meta.pop("finalizers", None)
    return True


class OperationResult(enum.StrEnum):
    """What :func:`create_or_update` / :func:`create_or_patch` did (controller-runtime's values)."""

    CREATED = "created"
    UPDATED = "updated"
    #: create_or_patch: the object and its status were both patched.
    UPDATED_STATUS = "updatedStatus"
    #: create_or_patch: only the status was patched.
    UPDATED_STATUS_ONLY = "updatedStatusOnly"
    UNCHANGED = "unchanged"


def _client(client: Any) -> Any:
    """A RestClient, or any client with its methods (the Manager's cache-backed client), as it is;
    a kubernetes_asyncio ApiClient wrapped in a RestClient."""
    if isinstance(client, RestClient) or all(
        callable(getattr(client, m, None)) for m in ("resource", "get", "create", "replace", "patch")
    ):
        return client
    return RestClient.wrap(client)


async def _resource(rest: Any, obj: Obj, gvr: GroupVersionResource | None) -> GroupVersionResource:
    if gvr is not None:
        return gvr
    resource: GroupVersionResource = await rest.resource(obj)
    return resource


async def _read_and_mutate(
    client: Any,
    obj: Obj,
    mutate: Callable[[Obj], Awaitable[None] | None],
    gvr: GroupVersionResource | None,
    what: str,
) -> tuple[Any, GroupVersionResource, dict[str, Any], dict[str, Any]] | None:
    """The first half of create_or_update/create_or_patch: read the object; absent, ``mutate(obj)``,
    create it, replace ``obj`` by the server's version and return None; present, return the client,
    the resource, a deep copy of what was read and the read object after ``mutate``. Suspends."""
    rest = _client(client)
    meta = _meta(obj, "object")
    name, namespace = meta.get("name"), meta.get("namespace")
    if not name:
        raise InvalidObjectError(f"{what} needs metadata.name on the object")
    resource = await _resource(rest, obj, gvr)
    try:
        current: dict[str, Any] = await rest.get(resource, name, namespace)
    except NotFoundError:
        await _apply(mutate, obj, name, namespace)
        created = await rest.create(resource, obj, namespace)
        _replace_contents(obj, created)
        return None
    before = copy.deepcopy(current)
    await _apply(mutate, current, name, namespace)
    return rest, resource, before, current


async def create_or_update(
    client: Any,
    obj: Obj,
    mutate: Callable[[Obj], Awaitable[None] | None],
    *,
    gvr: GroupVersionResource | None = None,
) -> OperationResult:
    """Read ``obj`` (by its name and namespace), apply ``mutate``, and write only if it changed.

    When the object does not exist, ``mutate(obj)`` fills the desired state and it is created. When it
    exists, ``mutate`` is applied to the server's copy; an unchanged result writes nothing, a changed
    one is written with an update (PUT, so a concurrent write makes it fail with ConflictError:
    wrap the call in :func:`~pycontroller.retry.retry_on_conflict`). ``obj`` is replaced in place
    by the server's version afterwards. ``mutate`` may be async; it must not change the name or
    namespace (InvalidObjectError). The resource comes from the client's RESTMapper (the object's
    apiVersion and kind) unless ``gvr`` is given. Suspends on the API calls; API errors propagate.
    """
    read = await _read_and_mutate(client, obj, mutate, gvr, "create_or_update")
    if read is None:
        return OperationResult.CREATED
    rest, resource, before, current = read
    if current == before:
        _replace_contents(obj, current)
        return OperationResult.UNCHANGED
    updated = await rest.replace(resource, current)
    _replace_contents(obj, updated)
    return OperationResult.UPDATED


async def create_or_patch(
    client: Any,
    obj: Obj,
    mutate: Callable[[Obj], Awaitable[None] | None],
    *,
    gvr: GroupVersionResource | None = None,
) -> OperationResult:
    """controller-runtime's CreateOrPatch: read, ``mutate``, then patch what changed. Suspends.

    Absent: ``mutate(obj)`` and create (CREATED; the status of a new object is not written, as
    the API server ignores it on create). Present: ``mutate`` runs on the server's copy, then the
    object without its status and the status are compared with what was read, separately; each
    part that changed is sent as a JSON merge patch of just the differences (the status through
    the status subresource). Result: UNCHANGED (no request), UPDATED (object only),
    UPDATED_STATUS_ONLY, or UPDATED_STATUS (both). Merge patches carry no resourceVersion, so
    unlike :func:`create_or_update` a concurrent write to other fields does not conflict. ``obj``
    is replaced in place by the server's final version. ``mutate`` may be async and must not
    rename the object; the resource comes from the RESTMapper unless ``gvr`` is given.
    """
    read = await _read_and_mutate(client, obj, mutate, gvr, "create_or_patch")
    if read is None:
        return OperationResult.CREATED
    rest, resource, before, current = read
    name, namespace = current["metadata"]["name"], current["metadata"].get("namespace")
    before_status, after_status = before.pop("status", None), current.get("status")
    after_rest = {k: v for k, v in current.items() if k != "status"}
    result = OperationResult.UNCHANGED
    latest: Any = current
    patch = create_merge_patch(before, after_rest)
    if patch:
        latest = await rest.patch(resource, name, patch, namespace)
        result = OperationResult.UPDATED
    status_patch = create_merge_patch({"status": before_status}, {"status": after_status})
    if status_patch:
        latest = await rest.patch(resource, name, status_patch, namespace, subresource="status")
        result = (
            OperationResult.UPDATED_STATUS
            if result is OperationResult.UPDATED
            else OperationResult.UPDATED_STATUS_ONLY
        )
    _replace_contents(obj, latest)
    return result


async def _apply(
    mutate: Callable[[Obj], Awaitable[None] | None], obj: Obj, name: str, namespace: str | None
) -> None:
    result = mutate(obj)
    if inspect.isawaitable(result):
        await result
    meta = _meta(obj, "object")
    if meta.get("name") != name or meta.get("namespace") != namespace:
        raise InvalidObjectError(
            f"create_or_update: mutate must not change the object's name or namespace "
            f"({namespace}/{name} became {meta.get('namespace')}/{meta.get('name')})"
        )


def _replace_contents(target: Obj, source: Any) -> None:
    target.clear()
    target.update(source)
