"""The RESTMapper: kinds to resources and back, with their scope, learnt from discovery lazily.

controller-runtime's dynamic ("lazy") mapper in our terms. Nothing is read at construction; the
first question about a group-version fetches that group-version's ``APIResourceList``
(``/api/v1`` or ``/apis/<group>/<version>``) once, and later questions about it are dictionary
look-ups that never suspend::

    mapper = RESTMapper(client)
    m = await mapper.resource_for("apps/v1", "Deployment")     # or "deployments", "deployment", "deploy"
    m.gvr, m.namespaced, m.subresources                        # GroupVersionResource(apps, v1, deployments), True, {"scale", "status"}
    await mapper.kind_for(GroupVersionResource("", "v1", "configmaps"))   # -> ConfigMap
    mapper.cached("apps/v1", "Deployment")                     # the same mapping without suspending, or None

What ``resource_for`` accepts, like kubectl: the kind (``Deployment``), the plural (``deployments``),
the singular (``deployment``), a short name (``deploy``), or the kind in any letter case. The
group-version may be ``"<group>/<version>"``, ``"v1"`` (the core group), a group alone (``"apps"``:
its preferred version) or ``""`` (every group's preferred version, core first, the way kubectl
resolves ``kubectl get deploy``).

A miss refetches the group-version once (so a CRD created after the mapper's first use is found);
to keep a typo or a missing CRD from hammering the server, a group-version is refetched at most
once every ``refresh_interval`` seconds (1 s) of the mapper's clock: a miss within that interval is
answered from the cache (a brief negative cache). An unknown name raises
:class:`~pycontroller.errors.NoKindMatchError` listing close matches; discovery failures other than
"not found" (403, 503...) propagate as the client's :class:`~pycontroller.errors.ApiError`.

One mapper belongs to one event loop (the Manager's). Concurrent look-ups of the same group-version
share one request. :meth:`reset` forgets everything (the next look-up refetches).
"""

from __future__ import annotations

import asyncio
import difflib
import functools
import re
from collections.abc import Mapping
from typing import Any

import attrs

from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.clock import Clock, default_clock
from pycontroller.errors import NoKindMatchError, NotFoundError

__all__ = ["RESTMapper", "RESTMapping", "parse_group_version"]

_VERSION = re.compile(r"^v\d+(?:(?:alpha|beta)\d+)?$")


def parse_group_version(group_version: str) -> tuple[str, str]:
    """``"apps/v1"`` -> ``("apps", "v1")``; ``"v1"`` -> ``("", "v1")``; ``"apps"`` -> ``("apps", "")``.

    A lone token is a core version when it looks like one (``v1``, ``v2beta1``), else a group whose
    preferred version is meant. ``""`` -> ``("", "")`` (any group). Raises ``ValueError`` for more
    than one ``/``.
    """
    if not isinstance(group_version, str):
        raise TypeError(f"group_version must be a string like 'apps/v1', got {type(group_version).__name__}")
    if group_version.count("/") > 1:
        raise ValueError(f"unexpected group version {group_version!r} (want 'group/version' or 'v1')")
    if "/" in group_version:
        group, _, version = group_version.partition("/")
        return group, version
    if _VERSION.match(group_version):
        return "", group_version
    return group_version, ""


@attrs.frozen
class RESTMapping:
    """One served resource: ``group``, ``version``, ``kind``, plural ``resource``, scope, subresources.

    ``namespaced`` is the scope (False: cluster-scoped, keys are plain names). ``subresources`` holds
    the names after the slash (``"status"``, ``"scale"``...). ``singular``, ``short_names``,
    ``verbs`` and ``categories`` are as discovery lists them (the 1.20 server leaves ``singular``
    empty for built-ins; ``singular_name`` falls back to the lower-case kind).
    """

    group: str
    version: str
    kind: str
    resource: str
    namespaced: bool
    subresources: frozenset[str] = frozenset()
    singular: str = ""
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @functools.cached_property
    def gvr(self) -> GroupVersionResource:
        """The resource as the client and the informers address it (made once per mapping)."""
        return GroupVersionResource(self.group, self.version, self.resource)

    @property
    def api_version(self) -> str:
        """The objects' ``apiVersion``: ``v1`` for core, ``<group>/<version>`` otherwise."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        """Same as :attr:`api_version`."""
        return self.api_version

    @property
    def singular_name(self) -> str:
        """The singular name (discovery's, else the lower-case kind)."""
        return self.singular or self.kind.lower()

    @property
    def scope(self) -> str:
        """``"Namespaced"`` or ``"Cluster"`` (a CRD's ``spec.scope`` spelling)."""
        return "Namespaced" if self.namespaced else "Cluster"


class _GroupVersion:
    """The cached discovery of one group-version: an index from every accepted name to its mapping.

    ``served`` is False when the server answered 404 (a negative entry). ``fetched_at`` is the
    mapper clock's time of the fetch.
    """

    __slots__ = ("fetched_at", "index", "mappings", "served")

    def __init__(self, fetched_at: float, mappings: list[RESTMapping], served: bool) -> None:
        self.fetched_at = fetched_at
        self.mappings = mappings
        self.served = served
        index: dict[str, RESTMapping] = {}
        # Lowest priority first: a later, stronger meaning of the same word wins (kubectl's order:
        # exact kind, then plural, then singular, then short name).
        for m in mappings:
            for short in m.short_names:
                index.setdefault(short, m)
        for m in mappings:
            index[m.singular_name] = m
            index[m.kind.lower()] = m
        for m in mappings:
            index[m.resource] = m
        for m in mappings:
            index[m.kind] = m
        self.index = index

    def find(self, name: str) -> RESTMapping | None:
        found = self.index.get(name)
        if found is None:
            found = self.index.get(name.lower())
        return found


def _mappings_from(doc: Mapping[str, Any], group: str, version: str) -> list[RESTMapping]:
    resources = [r for r in doc.get("resources") or () if isinstance(r, Mapping) and r.get("name")]
    subresources: dict[str, set[str]] = {}
    for r in resources:
        parent, slash, sub = str(r["name"]).partition("/")
        if slash:
            subresources.setdefault(parent, set()).add(sub)
    mappings = []
    for r in resources:
        name = str(r["name"])
        if "/" in name:
            continue
        mappings.append(
            RESTMapping(
                group=group,
                version=version,
                kind=str(r.get("kind") or ""),
                resource=name,
                namespaced=bool(r.get("namespaced")),
                subresources=frozenset(subresources.get(name, ())),
                singular=str(r.get("singularName") or ""),
                short_names=tuple(str(s) for s in r.get("shortNames") or ()),
                verbs=tuple(str(v) for v in r.get("verbs") or ()),
                categories=tuple(str(c) for c in r.get("categories") or ()),
            )
        )
    return mappings


class RESTMapper:
    """Maps kinds and resource names to :class:`RESTMapping` through discovery (see the module doc).

    ``client``: a :class:`~pycontroller.client.RestClient` or a kubernetes_asyncio ``ApiClient``.
    ``refresh_interval``: the least time between two fetches of one group-version (the negative
    cache's lifetime), on ``clock`` (the event loop's by default). Every method that can fetch
    suspends; :meth:`cached` never does. Nothing to close: the client is borrowed.
    """

    def __init__(self, client: Any, *, refresh_interval: float = 1.0, clock: Clock | None = None) -> None:
        if refresh_interval < 0:
            raise ValueError(f"refresh_interval must not be negative, got {refresh_interval}")
        self.client = RestClient.wrap(client)
        self.refresh_interval = float(refresh_interval)
        self._clock = clock if clock is not None else default_clock()
        self._versions: dict[tuple[str, str], _GroupVersion] = {}
        self._groups: tuple[float, list[tuple[str, list[str]]]] | None = None
        self._inflight: dict[tuple[str, str], asyncio.Future[_GroupVersion]] = {}
        # (group_version as asked, name as asked) -> mapping: the hot path's one dictionary look-up.
        self._answers: dict[tuple[str, str], RESTMapping] = {}
        #: Discovery requests made so far (for tests and the hot-path benchmark).
        self.fetches = 0

    # -- questions ----------------------------------------------------------------------------------

    async def resource_for(self, group_version: str, kind_or_resource: str) -> RESTMapping:
        """The mapping of a kind or resource name in a group-version (module doc for what is accepted).

        Suspends when discovery has to be read. Raises NoKindMatchError when nothing matches
        after one refetch (within ``refresh_interval`` of the last fetch: from the cache).
        """
        answer = self._answers.get((group_version, kind_or_resource))
        if answer is not None:
            return answer
        if not isinstance(kind_or_resource, str) or not kind_or_resource:
            raise TypeError(f"kind_or_resource must be a non-empty string, got {kind_or_resource!r}")
        mapping = await self._resource_for(group_version, kind_or_resource)
        self._answers[(group_version, kind_or_resource)] = mapping
        return mapping

    async def _resource_for(self, group_version: str, kind_or_resource: str) -> RESTMapping:
        group, version = parse_group_version(group_version)
        if version:
            return await self._resolve(group, version, kind_or_resource, group_version)
        candidates = await self._preferred_versions(group)
        for g, v in candidates:
            entry = await self._entry(g, v)
            found = entry.find(kind_or_resource)
            if found is not None:
                return found
        # Nothing anywhere: refetch (at most once per refresh_interval), then report.
        candidates = await self._preferred_versions(group, refresh=True)
        for g, v in candidates:
            known = self._versions.get((g, v))
            if known is None or self._stale(known.fetched_at):
                known = await self._entry(g, v, refresh=True)
            found = known.find(kind_or_resource)
            if found is not None:
                return found
        mappings: list[RESTMapping] = []
        for g, v in candidates:
            cached = self._versions.get((g, v))
            if cached is not None:
                mappings.extend(cached.mappings)
        raise NoKindMatchError(group_version, kind_or_resource, _close_mappings(kind_or_resource, mappings))

    async def kind_for(self, gvr: GroupVersionResource) -> RESTMapping:
        """The mapping of a resource (its kind and scope). Suspends when discovery has to be read.

        ``gvr.resource`` may also be a singular or short name. Raises NoKindMatchError when the
        group-version does not serve it.
        """
        if not isinstance(gvr, GroupVersionResource):
            raise TypeError(f"kind_for takes a GroupVersionResource, got {type(gvr).__name__}")
        return await self._resolve(gvr.group, gvr.version, gvr.resource, gvr.api_version)

    async def mapping_for(self, obj: Mapping[str, Any]) -> RESTMapping:
        """The mapping of an object from its ``apiVersion`` and ``kind``. Suspends when needed.

        Raises :class:`~pycontroller.errors.InvalidObjectError` when either field is missing.
        """
        from pycontroller.errors import InvalidObjectError

        api_version = obj.get("apiVersion") if isinstance(obj, Mapping) else None
        kind = obj.get("kind") if isinstance(obj, Mapping) else None
        if not api_version or not kind:
            raise InvalidObjectError(
                "the object needs apiVersion and kind to find its resource (or pass a GroupVersionResource)"
            )
        return await self.resource_for(str(api_version), str(kind))

    def cached(self, group_version: str, kind_or_resource: str) -> RESTMapping | None:
        """The mapping if discovery already told it, else None. Never suspends, never fetches."""
        answer = self._answers.get((group_version, kind_or_resource))
        if answer is not None:
            return answer
        group, version = parse_group_version(group_version)
        entry = self._versions.get((group, version))
        if entry is None:
            return None
        found = entry.find(kind_or_resource)
        if found is not None:
            self._answers[(group_version, kind_or_resource)] = found
        return found

    def reset(self) -> None:
        """Forget every answer; the next question reads discovery again. Never suspends."""
        self._answers.clear()
        self._versions.clear()
        self._groups = None

    # -- discovery ----------------------------------------------------------------------------------

    def _stale(self, fetched_at: float) -> bool:
        return self._clock.now() - fetched_at >= self.refresh_interval

    async def _resolve(self, group: str, version: str, name: str, asked: str) -> RESTMapping:
        entry = self._versions.get((group, version))
        if entry is not None:
            found = entry.find(name)
            if found is not None:
                return found
        if entry is None or self._stale(entry.fetched_at):
            entry = await self._entry(group, version, refresh=True)
            found = entry.find(name)
            if found is not None:
                return found
        if entry.served:
            suggestions = _close_mappings(name, entry.mappings)
        else:
            suggestions = await self._close_group_versions(group, version)
        raise NoKindMatchError(asked, name, suggestions)

    async def _entry(self, group: str, version: str, *, refresh: bool = False) -> _GroupVersion:
        key = (group, version)
        entry = self._versions.get(key)
        if entry is not None and not refresh:
            return entry
        pending = self._inflight.get(key)
        if pending is not None:  # someone is fetching it now: share that answer
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # we were cancelled, not the fetch
                # the fetching task was cancelled: fetch ourselves below
        future: asyncio.Future[_GroupVersion] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            entry = await self._fetch(group, version)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # the waiters re-raise it; mark it retrieved
            raise
        finally:
            self._inflight.pop(key, None)
        if key in self._versions:  # a refetch: answers about this group-version may have changed
            self._answers = {k: m for k, m in self._answers.items() if (m.group, m.version) != key}
        self._versions[key] = entry
        future.set_result(entry)
        return entry

    async def _fetch(self, group: str, version: str) -> _GroupVersion:
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        self.fetches += 1
        try:
            doc = await self.client.request("GET", path)
        except NotFoundError:
            return _GroupVersion(self._clock.now(), [], served=False)
        return _GroupVersion(self._clock.now(), _mappings_from(doc, group, version), served=True)

    async def _group_list(self, *, refresh: bool = False) -> list[tuple[str, list[str]]]:
        """[(group, [versions, preferred first])] of the API groups, core first. Suspends.

        With ``refresh``, refetched unless fetched within ``refresh_interval``.
        """
        if self._groups is not None and not (refresh and self._stale(self._groups[0])):
            return self._groups[1]
        self.fetches += 2
        core = await self.client.request("GET", "/api")
        groups: list[tuple[str, list[str]]] = [("", [str(v) for v in core.get("versions") or ()])]
        listing = await self.client.request("GET", "/apis")
        for g in listing.get("groups") or ():
            versions = [str(v.get("version")) for v in g.get("versions") or () if v.get("version")]
            preferred = (g.get("preferredVersion") or {}).get("version")
            if preferred in versions:
                versions.remove(preferred)
                versions.insert(0, str(preferred))
            groups.append((str(g.get("name") or ""), versions))
        self._groups = (self._clock.now(), groups)
        return groups

    async def _preferred_versions(self, group: str, *, refresh: bool = False) -> list[tuple[str, str]]:
        result = []
        for g, versions in await self._group_list(refresh=refresh):
            if versions and (not group or g == group):
                result.append((g, versions[0]))
        return result

    async def _close_group_versions(self, group: str, version: str) -> list[str]:
        """Served group-versions near an unserved one (the error path only). Suspends."""
        try:
            groups = await self._group_list()
        except Exception:  # the suggestions are a courtesy; the NoKindMatchError is the answer
            return []
        served = [f"{g}/{v}" if g else v for g, versions in groups for v in versions]
        asked = f"{group}/{version}" if group else version
        same_group = [gv for gv in served if group and gv.startswith(group + "/")]
        return (same_group or _close(asked, served))[:3]


def _close_mappings(name: str, mappings: list[RESTMapping]) -> list[str]:
    """Up to three served resources whose kind, plural, singular or short name is close to ``name``,
    each named once: by its kind when ``name`` looks like a kind (capitalised), else its plural."""
    asked = name.lower()
    scored: list[tuple[float, str]] = []
    for m in mappings:
        words = {m.kind.lower(), m.resource, m.singular_name, *m.short_names}
        score = max(difflib.SequenceMatcher(None, asked, w).ratio() for w in words)
        if score >= 0.6:
            scored.append((score, m.kind if name[:1].isupper() else m.resource))
    scored.sort(key=lambda pair: -pair[0])
    return list(dict.fromkeys(label for _, label in scored))[:3]


def _close(name: str, words: list[str]) -> list[str]:
    unique = list(dict.fromkeys(words))
    lowered = {w.lower(): w for w in unique}
    matches = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)
    return [lowered[m] for m in matches]
