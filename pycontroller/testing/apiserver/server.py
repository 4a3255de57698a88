"""FakeAPIServer: the in-memory Kubernetes API server over real HTTP on 127.0.0.1."""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web

from pycontroller.errors import ConfigError

from ..crd_install import CRDNotEstablishedError, CRDSource, load_crds, not_established_reason
from .faults import FaultRule, Faults
from .garbage_collector import GarbageCollector
from .handlers import Handlers
from .registry import Registry
from .resources import ALL_VERBS, ResourceDef, SubresourceDef
from .status import ApiFailure
from .watch import WatchControl
from .webhooks import WebhookCaller

__all__ = ["FakeAPIServer", "ResourceClashError"]


_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


class ResourceClashError(ConfigError, ValueError):
    """:meth:`FakeAPIServer.register_resource` named a resource, kind or short name already served."""


class FakeAPIServer:
    """An in-process Kubernetes API server for tests, speaking the real REST protocol over HTTP.

    ::

        async with FakeAPIServer() as server:
            async with server.new_client() as api:        # a kubernetes_asyncio ApiClient
                ...
            server.write_kubeconfig(tmp_path / "kubeconfig")   # for kubectl or other processes

    It binds 127.0.0.1 only (``port=0``, the default, picks a free port) and serves every resource
    of the real kube-apiserver 1.20 (the table ``resources.json`` generated from it by
    ``python -m pycontroller.testing.apiserver.gen_resources``), with discovery documents equal to
    the real server's; creating a CRD serves its resource. State is in memory and starts with the
    namespaces default, kube-system, kube-public and kube-node-lease. Reviews (SubjectAccessReview
    and friends) are answered as by a server authorizing everything, and not stored; subresources
    that need a kubelet (``pods/log``, ``exec``, ...) answer 503.

    Knobs for tests (all synchronous, usable while the server runs):

    * ``history_size``: events retained per resource for watch replay and consistent pages; older
      resourceVersions get 410 Expired. :meth:`compact` forgets all history at once.
    * ``bookmark_interval``: seconds between BOOKMARK events of watches with allowWatchBookmarks
      (the real server: 60 s, and 2 s before a timeoutSeconds deadline). As with the 1.20 watch
      cache, a bookmark carries the resource's latest resourceVersion and is only sent once that
      is newer than the version the watch started from; unversioned watches get none.
    * :meth:`fail_next`: answer the next N requests matching verb/resource/path with an error
      (500, 429 with Retry-After, 410, 504, ...). A 410 on a watch arrives as an ERROR event in a
      200 stream, like the real server's.
    * :meth:`add_latency`: delay matching requests.
    * :meth:`drop_watches`: end every open watch (cleanly, or abruptly dropping the connection).
    * :meth:`stall_watches` / :meth:`resume_watches`: watches keep their connections but send no
      bytes (events queue up) until resumed.
    * ``watch_count`` and :meth:`wait_for_watches`: open watch streams (a client that
      disconnects frees its watcher at once).
    * ``watch_queue_limit`` (constructor): events queued for one watch before it counts as too
      far behind and is ended cleanly, like the real server does (the client re-watches).
    * ``max_body_bytes`` (constructor): larger request bodies get 413 (the real limit, 3 MiB).
    * :meth:`add_object` / :meth:`get_object` / :meth:`delete_object`: objects without HTTP.
    * ``crds`` (constructor) and :meth:`install_crds`: CRD files, directories or dicts installed
      (Established and served) before the server is handed out.
    * :meth:`register_resource`: serve one more resource (an aggregated API, say).
    * ``garbage_collector`` (constructor) and :meth:`collect_garbage`: see below.

    Like envtest there are no controllers by default: no garbage collection, no namespace cleanup (a
    deleted namespace stays Terminating until ``namespaces/<name>/finalize`` empties
    spec.finalizers), no Deployment or Pod status changes. ``garbage_collector=True`` adds what
    kube-controller-manager's garbage collector and namespace controller do (see
    :mod:`.garbage_collector`): dependents of deleted owners go (background, foreground with
    ``blockOwnerDeletion``, orphaning), and deleted namespaces are emptied and finalized; it works
    right after the request that triggered it, so wait for its effect as you would on a cluster.
    CRD structural schemas are applied (pruning, defaults, the common validations); CEL rules are
    not. Admission webhooks (Validating/MutatingWebhookConfigurations) and CRD conversion webhooks
    are called like the real server does (see :mod:`.webhooks`; ``webhook_services`` maps service
    references to local URLs). Every write records ``metadata.managedFields`` as kube-apiserver 1.20 does (manager from
    ``fieldManager`` or the User-Agent; writes without HTTP, such as :meth:`add_object`, use
    ``kube-apiserver``), and server-side apply (``application/apply-patch+yaml``) merges by field
    ownership with the real conflicts; see :mod:`pycontroller.testing.apiserver.apply`. Not
    emulated: protobuf.

    After :meth:`stop` the URL refuses connections; the server can be started again with its state.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        history_size: int = 10_000,
        bookmark_interval: float = 60.0,
        max_body_bytes: int = 3 * 1024 * 1024,
        watch_queue_limit: int = 100_000,
        crds: Iterable[CRDSource] = (),
        garbage_collector: bool = False,
    ) -> None:
        if history_size < 1:
            raise ValueError(f"history_size must be at least 1, got {history_size}")
        if bookmark_interval <= 0:
            raise ValueError(f"bookmark_interval must be positive, got {bookmark_interval}")
        self._port = port
        self.registry = Registry(history_size)
        self.faults = Faults()
        self.control = WatchControl()
        self.control.bookmark_interval = bookmark_interval
        self.control.queue_limit = watch_queue_limit
        self.handlers = Handlers(self.registry, self.faults, self.control)
        self.handlers.max_body_bytes = max_body_bytes
        self.handlers.webhooks = WebhookCaller(self.registry)
        self._runner: web.AppRunner | None = None
        self._history_size = history_size
        self.garbage_collector = GarbageCollector(self.registry) if garbage_collector else None
        self.install_crds(crds)

    # -- lifecycle ----------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (raises RuntimeError before :meth:`start`)."""
        if self._runner is None:
            raise RuntimeError("FakeAPIServer is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    async def start(self) -> None:
        """Start serving. Suspends until the socket listens. Starting twice is an error."""
        if self._runner is not None:
            raise RuntimeError("FakeAPIServer is already started")
        app = web.Application(client_max_size=self.handlers.max_body_bytes + 1)
        app.router.add_route("*", "/{tail:.*}", self.handlers.handle)
        runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self._port, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._port = int(runner.addresses[0][1])
        if self.garbage_collector is not None:
            self.garbage_collector.collect()  # what writes before start left to do
        self.handlers.address = f"127.0.0.1:{self._port}"
        self._runner = runner

    async def stop(self) -> None:
        """Close every watch and stop listening. Suspends briefly; stopping twice does nothing."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self.resume_watches()
        self.drop_watches(abrupt=True)
        await runner.cleanup()

    async def __aenter__(self) -> FakeAPIServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- clients ----------------------------------------------------------------------------------------

    def new_client(self) -> Any:
        """A kubernetes_asyncio ``ApiClient`` configured for this server; the caller closes it."""
        from kubernetes_asyncio.client import ApiClient, Configuration

        config = Configuration(host=self.url)
        return ApiClient(configuration=config)

    def write_kubeconfig(self, path: str | os.PathLike[str], *, context: str = "fake") -> Path:
        """Write a kubeconfig (no credentials) pointing at this server, atomically; returns the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        partial.write_text(
            "apiVersion: v1\n"
            "kind: Config\n"
            "clusters:\n"
            f"- name: {context}\n"
            "  cluster:\n"
            f"    server: {self.url}\n"
            "contexts:\n"
            f"- name: {context}\n"
            "  context:\n"
            f"    cluster: {context}\n"
            f"    user: {context}\n"
            "    namespace: default\n"
            f"current-context: {context}\n"
            "users:\n"
            f"- name: {context}\n"
            "  user: {}\n"
        )
        os.replace(partial, target)  # atomic: a reader never sees half a kubeconfig
        return target

    @property
    def webhook_services(self) -> dict[tuple[str, str], str]:
        """Where webhook ``clientConfig.service`` references go: ``(namespace, name)`` -> base URL.

        For example ``server.webhook_services[("default", "foo-webhook")] = "https://127.0.0.1:9443"``
        (the service's ``path`` is appended). See :mod:`.webhooks` for how webhooks are called.
        """
        assert self.handlers.webhooks is not None
        return self.handlers.webhooks.services

    # -- knobs --------------------------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        """The current global resourceVersion (etcd's revision)."""
        return self.registry.rv

    @property
    def history_size(self) -> int:
        """Events retained per resource; lowering it compacts the excess at the next write."""
        return self._history_size

    @history_size.setter
    def history_size(self, value: int) -> None:
        if value < 1:
            raise ValueError(f"history_size must be at least 1, got {value}")
        self._history_size = value
        self.registry.history_size = value
        for table in self.registry.tables.values():
            table.history_size = value

    def compact(self) -> int:
        """Forget all history: watches and lists at older resourceVersions get 410. Returns the RV."""
        return self.registry.compact()

    def expire_watches(self) -> tuple[int, int]:
        """Make every client relist, as a compaction after a busy spell would: the revision moves
        on by one (as a write elsewhere in etcd moves it), all history up to it is compacted, and
        every open watch ends. Every resourceVersion handed out before, the newest included, is
        then too old: a watch (or an exact list) from it gets 410 Expired. Never suspends.
        Returns (the compacted resourceVersion, the number of watches ended)."""
        self.registry.advance_rv()
        return self.compact(), self.drop_watches()

    @property
    def bookmark_interval(self) -> float:
        return self.control.bookmark_interval

    @bookmark_interval.setter
    def bookmark_interval(self, seconds: float) -> None:
        """Applies to watches opened from now on."""
        if seconds <= 0:
            raise ValueError(f"bookmark_interval must be positive, got {seconds}")
        self.control.bookmark_interval = seconds

    def fail_next(
        self,
        count: int | None = 1,
        code: int = 500,
        *,
        verb: str | None = None,
        resource: str | None = None,
        path: str | None = None,
        retry_after: int | None = None,
        message: str | None = None,
    ) -> FaultRule:
        """Answer the next ``count`` matching requests (None: all, until :meth:`clear_faults`)
        with HTTP ``code`` and a matching Status.

        ``verb`` is a Kubernetes verb (get, list, watch, create, update, patch, delete,
        deletecollection); ``resource`` a plural (``configmaps``) or ``plural.group``; ``path`` a
        substring of the URL path; None matches anything. A 429 carries ``Retry-After``
        (``retry_after`` seconds, default 1). Returns the rule (``rule.hits`` counts its answers).
        """
        if count is not None and count < 1:
            raise ValueError(f"count must be at least 1 (or None for every request), got {count}")
        if not 400 <= code <= 599:
            raise ValueError(f"code must be an HTTP error status, got {code}")
        return self.faults.add(FaultRule(code, count, verb, resource, path, retry_after, message))

    def add_latency(
        self,
        seconds: float,
        *,
        verb: str | None = None,
        resource: str | None = None,
        path: str | None = None,
        count: int | None = None,
    ) -> FaultRule:
        """Delay matching requests by ``seconds`` (the next ``count`` of them, or all when None)."""
        if seconds < 0:
            raise ValueError(f"seconds must not be negative, got {seconds}")
        return self.faults.add(FaultRule(None, count, verb, resource, path, latency=seconds))

    def clear_faults(self) -> None:
        """Remove every failure and latency rule."""
        self.faults.clear()

    def drop_watches(self, *, abrupt: bool = False) -> int:
        """End every open watch; ``abrupt`` drops the TCP connection instead of ending the body.

        Returns how many were open. Clients see the stream end and must re-watch.
        """
        watchers = list(self.handlers.watchers)
        for watcher in watchers:
            watcher.close(abrupt=abrupt)
        return len(watchers)

    def stall_watches(self) -> None:
        """Keep watch connections open but send nothing (events queue) until :meth:`resume_watches`."""
        self.control.stalled = True

    def resume_watches(self) -> None:
        """Let stalled watches send what they queued, and go on streaming."""
        self.control.stalled = False
        for watcher in list(self.handlers.watchers):
            watcher.wake()

    @property
    def watch_count(self) -> int:
        """Open watch streams right now (closed ones stop counting at once)."""
        return sum(1 for w in self.handlers.watchers if not w.closed)

    async def wait_for_watches(self, count: int = 1, *, at_least: bool = True, timeout: float = 10.0) -> None:
        """Suspend until ``count`` watches are open (``at_least=False``: exactly ``count``).

        Raises TimeoutError after ``timeout`` seconds. Handy to know a reflector is watching, or
        (``wait_for_watches(0, at_least=False)``) that every watcher was freed.
        """
        if at_least:
            await self.control.wait_count(lambda n: n >= count, timeout)
        else:
            await self.control.wait_count(lambda n: n == count, timeout)

    # -- resources ---------------------------------------------------------------------------------

    def install_crds(self, crds: Iterable[CRDSource]) -> list[dict[str, Any]]:
        """Install CRDs (files, directories, dicts; see :mod:`pycontroller.testing.crd_install`).

        Each is created (or updated when a CRD of that name exists) and served at once. Never
        suspends; usable before :meth:`start`. Raises :class:`~pycontroller.testing.crd_install.CRDInstallError`
        naming the file for unreadable sources, :class:`ApiFailure` when a CRD is invalid, and
        :class:`~pycontroller.testing.crd_install.CRDNotEstablishedError` naming a CRD that is not
        Established (its names conflict with another CRD's, as the real server decides). Returns
        the installed CRDs as stored.
        """
        installed = []
        for crd in load_crds(crds):
            name = crd["metadata"]["name"]
            table = self.registry.tables[("apiextensions.k8s.io", "customresourcedefinitions")]
            existing = table.objects.get(("", name))
            if existing is None:
                stored = self.registry.create(table, None, crd, "apiextensions.k8s.io/v1")
            else:
                body = {
                    **crd,
                    "metadata": {
                        **crd["metadata"],
                        "resourceVersion": existing.obj["metadata"]["resourceVersion"],
                    },
                }
                stored = self.registry.update(table, None, name, body, api_version="apiextensions.k8s.io/v1")
            why = not_established_reason(stored.obj)
            if why is not None:
                raise CRDNotEstablishedError(f"CustomResourceDefinition {name!r} was not Established: {why}")
            installed.append(orjson.loads(stored.raw))
        return installed

    def collect_garbage(self) -> None:
        """Run the garbage collector now (it also runs by itself after each write). Never suspends.

        Raises RuntimeError when the server was made without ``garbage_collector=True``.
        """
        if self.garbage_collector is None:
            raise RuntimeError("FakeAPIServer(garbage_collector=True) is needed to collect garbage")
        self.garbage_collector.collect()

    def register_resource(
        self,
        group: str,
        version: str,
        kind: str,
        plural: str,
        *,
        namespaced: bool = True,
        subresources: Sequence[str] = (),
        singular: str = "",
        short_names: Sequence[str] = (),
        categories: Sequence[str] = (),
        verbs: Sequence[str] = ALL_VERBS,
        generation: bool = False,
    ) -> None:
        """Serve one more resource, for aggregated or unusual APIs the real server would get elsewhere.

        ``group``/``version``/``kind``/``plural`` name it (``group`` "" is the core group);
        ``namespaced`` is its scope; ``subresources`` any of ``"status"`` and ``"scale"`` (Scale
        of ``.spec.replicas``/``.status.replicas``); ``generation`` bumps ``metadata.generation``
        on changes outside metadata and status. It is listed in discovery and gets the generic
        semantics (CRUD, list/watch, selectors, finalizers). Objects are stored as given, without
        schema. Never suspends; usable before and after :meth:`start`.

        Raises ValueError for an unknown subresource or verb, and
        :class:`ResourceClashError` when the plural, kind or a short name is already served in the group.
        """
        unknown = sorted(set(subresources) - {"status", "scale"})
        if unknown:
            raise ValueError(
                f"register_resource: unknown subresources {unknown} (status and scale are served)"
            )
        all_verbs = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
        bad = sorted(set(verbs) - set(all_verbs))
        if bad:
            raise ValueError(f"register_resource: unknown verbs {bad}")
        if not (group == "" or _DNS_SUBDOMAIN.fullmatch(group)) or not plural or not kind or not version:
            raise ValueError(
                "register_resource: group must be '' or a DNS name, and version, kind and plural non-empty"
            )
        for served in self.registry.served():
            if served.group != group:
                continue
            what = None
            if served.plural == plural:
                what = f"resource {plural!r}"
            elif served.kind == kind:
                what = f"kind {kind!r} (as {served.plural!r})"
            elif set(short_names) & set(served.short_names):
                what = f"short name {sorted(set(short_names) & set(served.short_names))[0]!r} (of {served.plural!r})"
            if what is not None:
                where = f"{group}/{', '.join(served.versions)}" if group else ", ".join(served.versions)
                raise ResourceClashError(
                    f"register_resource({group!r}, {version!r}, {kind!r}, {plural!r}): {where} already serves {what}"
                )
        subs = []
        if "scale" in subresources:
            subs.append(SubresourceDef("scale", "Scale", group="autoscaling", version="v1"))
        if "status" in subresources:
            subs.append(SubresourceDef("status", kind))
        rdef = ResourceDef(
            group=group,
            versions=(version,),
            plural=plural,
            kind=kind,
            namespaced=namespaced,
            singular=singular,
            short_names=tuple(short_names),
            categories=tuple(categories),
            subresources=tuple(subs),
            generation_fields=("*",) if generation else None,
            builtin=False,
            verbs=tuple(v for v in all_verbs if v in verbs),
            scale=(".spec.replicas", ".status.replicas", None) if "scale" in subresources else None,
            storage_version=version,
        )
        self.registry.add_table(rdef)

    # -- direct access --------------------------------------------------------------------------------

    def add_object(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create ``obj`` (with apiVersion and kind) as a POST would, without HTTP; returns it stored.

        Raises ValueError for a kind the server does not serve and :class:`ApiFailure` (its
        ``code``/``reason`` like the HTTP answer) when the create is refused.
        """
        table, served = self.registry.resolve_kind(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
        ns = (obj.get("metadata") or {}).get("namespace")
        stored = self.registry.create(table, ns, _json_copy(obj), served)
        result: dict[str, Any] = orjson.loads(stored.bytes_for(served))
        return result

    def get_object(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """A copy of the stored object, or None when it does not exist."""
        table, served = self.registry.resolve_kind(api_version, kind)
        stored = table.objects.get((namespace or "", name))
        if stored is None:
            return None
        result: dict[str, Any] = orjson.loads(stored.bytes_for(served))
        return result

    def delete_object(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> None:
        """Delete as a DELETE would (finalizers respected). Raises ApiFailure 404 when absent."""
        table, _ = self.registry.resolve_kind(api_version, kind)
        self.registry.delete(table, namespace, name)


def _json_copy(value: Any) -> Any:
    """A deep copy of a JSON document; anything that is not JSON-shaped goes to copy.deepcopy.

    The direct walk costs a third of ``copy.deepcopy`` (no memo); seeding a server with many
    objects, and the benchmarks' writes, spend their time here otherwise.
    """
    if isinstance(value, dict):
        return {k: _json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_copy(v) for v in value]
    if value is None or isinstance(value, (str, int, float)):
        return value
    return copy.deepcopy(value)


__all__ += ["ApiFailure"]
