"""The Manager's client: reads from the shared informer cache, writes to the API server.

This is controller-runtime's default client (``mgr.GetClient()``): ``get`` and ``list`` are served
from the Manager's shared informers, everything else (``create``, ``replace``, ``patch``, ``delete``,
``request``...) goes to the API server exactly as :class:`~pycontroller.client.RestClient` sends it.

* The first read of a resource creates its shared informer, starts it (the Manager must be running,
  else :class:`CacheNotStartedError`) and waits until it has synced (at most the Manager's
  ``cache_sync_timeout``, then ``TimeoutError``). Later reads of it never suspend for I/O.
* Objects returned are deep copies (as controller-runtime's cache reader returns), with their
  ``apiVersion`` and ``kind`` set: change them and write them back (``client.replace(obj)``)
  freely; the cache is untouched.
* ``list`` filters with ``labelSelector`` / ``label_selector`` (any selector the listers accept)
  and ``fieldSelector`` / ``field_selector`` (``field=value``, ``field==value`` or ``field!=value``
  terms, joined by commas, on any dotted field path: ``metadata.name``, ``spec.nodeName``...),
  and honours ``limit``; a ``continue`` token is refused (a cache has no pages), as in
  controller-runtime.
* A read in a namespace the cache does not hold (``CacheOptions`` / ``ByObject`` namespaces)
  raises :class:`~pycontroller.cache.options.OutsideCacheScopeError`, not a NotFound.
* Reads lag writes: a ``get`` right after a ``create`` may answer NotFound until the watch
  delivers the object. Code that must see its own writes at once reads through
  ``mgr.get_api_reader()`` (the raw RestClient), like controller-runtime's APIReader.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from pycontroller.cache.listers import Lister, not_found
from pycontroller.client import GroupVersionResource, RestClient, Target
from pycontroller.errors import PyControllerError

__all__ = ["CacheNotStartedError", "CachedClient", "parse_field_selector"]


class CacheNotStartedError(PyControllerError):
    """A cached read was made before the Manager (and so its cache) started."""


def parse_field_selector(selector: str) -> list[tuple[str, str, bool]]:
    """``"a.b=x,c!=y"`` as ``[(path, value, equal)]``; ``ValueError`` for a malformed term.

    The grammar of the API server's field selectors: terms joined by ``,``, each ``field=value``,
    ``field==value`` or ``field!=value``. An empty selector selects everything.
    """
    terms: list[tuple[str, str, bool]] = []
    if not isinstance(selector, str):
        raise TypeError(f"a field selector is a string, got {type(selector).__name__}")
    for raw in selector.split(","):
        term = raw.strip()
        if not term:
            continue
        op = next((o for o in ("!=", "==", "=") if o in term), None)
        if op is None:
            raise ValueError(f"invalid field selector term {term!r}: expected field=value or field!=value")
        field, _, value = term.partition(op)
        equal = op != "!="
        field = field.strip()
        if not field:
            raise ValueError(f"invalid field selector term {term!r}: no field name")
        terms.append((field, value.strip(), equal))
    return terms


def _field_value(obj: Any, path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, Mapping):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def _copy(obj: Any) -> Any:
    # JSON round trip: the cache holds plain JSON dicts, and orjson copies them ~10x faster
    # than copy.deepcopy.
    return orjson.loads(orjson.dumps(obj))


class CachedClient(RestClient):
    """A RestClient whose ``get`` and ``list`` read the Manager's cache (see the module doc).

    ``informer_for(gvr)`` returns the shared informer of a resource (the Manager's), ``is_started()``
    whether the cache runs, ``sync_timeout`` bounds the first read's wait. Writes and raw requests
    are the RestClient's, on the same connection pool as ``rest``.
    """

    def __init__(
        self,
        rest: RestClient,
        informer_for: Callable[[GroupVersionResource], Any],
        is_started: Callable[[], bool],
        *,
        sync_timeout: float | None = 120.0,
        scope_of: Callable[[Any], Any] | None = None,
    ) -> None:
        super().__init__(rest.api_client)
        # cachescale: the cache options an informer was made with (InformerOptions or None), so
        # a read of a namespace the cache does not hold raises OutsideCacheScopeError.
        self._scope_of = scope_of
        self._rest_mapper = rest.rest_mapper  # one mapper: the Manager's
        self._informer_for = informer_for
        self._is_started = is_started
        self.sync_timeout = sync_timeout
        self._kinds: dict[GroupVersionResource, str] = {}

    async def _synced_informer(self, target: Target, verb: str) -> tuple[GroupVersionResource, Any, str]:
        if not self._is_started():
            raise CacheNotStartedError(
                f"cannot {verb} {target} from the cache: the Manager is not running yet; read inside a "
                "reconcile, after `await mgr.wait_until_ready()`, or use mgr.get_api_reader()"
            )
        gvr = await self.resource(target)
        informer = self._informer_for(gvr)
        if not informer.has_synced():
            if not await informer.wait_for_sync(self.sync_timeout):
                raise TimeoutError(f"the cache of {gvr} did not sync within {self.sync_timeout}s")
        kind = self._kinds.get(gvr)
        if kind is None:  # listed objects carry no kind: learn it once, like the cache's scheme
            kind = self._kinds[gvr] = (await self.rest_mapper.kind_for(gvr)).kind
        return gvr, informer, kind

    async def get(self, target: Target, name: str, namespace: str | None = None) -> dict[str, Any]:
        """A copy of the cached object; NotFoundError when the cache has none. ``target`` as for
        :meth:`RestClient.get` (a GroupVersionResource, an ``(api_version, kind)`` pair...).
        Suspends only on the first read of a resource (informer start and sync)."""
        gvr, informer, kind = await self._synced_informer(target, "get")
        key = f"{namespace}/{name}" if namespace else name
        self._check_scope(informer, f"get {gvr.resource} {key}", namespace)
        obj = informer.indexer.get_by_key(key)
        if obj is None:
            raise not_found(_resource_name(gvr), name)
        return _typed(_copy(obj), gvr, kind)

    async def list(
        self,
        target: Target,
        namespace: str | None = None,
        *,
        label_selector: Any = None,
        field_selector: str | Mapping[str, str] | None = None,
        **query: Any,
    ) -> dict[str, Any]:
        """A list (``{"metadata": {"resourceVersion"}, "items": [...]}``) of cached objects, copied.

        Filters: ``label_selector`` (or ``labelSelector=``), ``field_selector`` (or
        ``fieldSelector=``; a string or a mapping of exact matches), ``limit``. Other options raise
        ``ValueError`` (a cache cannot honour ``continue`` or ``resourceVersion``). Suspends only on
        the first read of a resource.
        """
        label_selector = label_selector if label_selector is not None else query.pop("labelSelector", None)
        if field_selector is None:
            field_selector = query.pop("fieldSelector", None)
        if isinstance(field_selector, Mapping):
            field_selector = ",".join(f"{k}={v}" for k, v in field_selector.items())
        limit = query.pop("limit", None)
        if query:
            raise ValueError(
                f"CachedClient.list() cannot serve {', '.join(sorted(query))} from a cache; "
                "use mgr.get_api_reader() for API-server list options"
            )
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise ValueError(f"limit must be a whole number >= 0, got {limit!r}")
        terms = parse_field_selector(field_selector) if field_selector else []
        gvr, informer, kind = await self._synced_informer(target, "list")
        if namespace:
            self._check_scope(informer, f"list {gvr.resource} in {namespace}", namespace)
        lister = Lister(informer.indexer)
        objs = (lister.namespace(namespace) if namespace else lister).list(label_selector)
        if terms:
            objs = [o for o in objs if all((_field_value(o, f) == v) == eq for f, v, eq in terms)]
        objs.sort(key=lambda o: (o["metadata"].get("namespace") or "", o["metadata"].get("name") or ""))
        if limit:
            objs = objs[:limit]
        return {
            "apiVersion": gvr.api_version,
            "kind": f"{kind}List",
            "metadata": {"resourceVersion": informer.last_sync_resource_version()},
            "items": [_typed(_copy(o), gvr, kind) for o in objs],
        }

    def _check_scope(self, informer: Any, what: str, namespace: str | None) -> None:
        """OutsideCacheScopeError when the informer's namespaces do not include ``namespace``."""
        options = self._scope_of(informer) if self._scope_of is not None else None
        if options is not None:
            options.check_namespace(what, namespace)

    def __repr__(self) -> str:
        return f"<CachedClient {self.host}>"


def _typed(obj: dict[str, Any], gvr: GroupVersionResource, kind: str) -> dict[str, Any]:
    # Objects from a list carry no apiVersion/kind; controller-runtime's cache sets them, so an
    # object read here can be written back with client.replace(obj).
    obj.setdefault("apiVersion", gvr.api_version)
    obj.setdefault("kind", kind)
    return obj


def _resource_name(gvr: GroupVersionResource) -> str:
    return f"{gvr.resource}.{gvr.group}" if gvr.group else gvr.resource
