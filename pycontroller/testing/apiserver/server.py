"""FakeAPIServer: the in-memory Kubernetes API server over real HTTP on 127.0.0.1."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web

from .faults import FaultRule, Faults
from .handlers import Handlers
from .registry import Registry
from .status import ApiFailure
from .watch import WatchControl
from .webhooks import WebhookCaller

__all__ = ["FakeAPIServer"]


class FakeAPIServer:
    """An in-process Kubernetes API server for tests, speaking the real REST protocol over HTTP.

    ::

        async with FakeAPIServer() as server:
            async with server.new_client() as api:        # a kubernetes_asyncio ApiClient
                ...
            server.write_kubeconfig(tmp_path / "kubeconfig")   # for kubectl or other processes

    It binds 127.0.0.1 only (``port=0``, the default, picks a free port) and serves namespaces,
    configmaps, secrets, serviceaccounts, pods, services, events (core/v1 and events.k8s.io/v1),
    deployments, leases and customresourcedefinitions; creating a CRD serves its resource. State is
    in memory and starts with the namespaces default, kube-system, kube-public and kube-node-lease.

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

    Like envtest there are no controllers: no garbage collection, no namespace cleanup (a deleted
    namespace stays Terminating until ``namespaces/<name>/finalize`` empties spec.finalizers), no
    Deployment or Pod status changes. CRD structural schemas are applied (pruning, defaults, the
    common validations); CEL rules are not. Admission webhooks (Validating/MutatingWebhookConfigurations)
    and CRD conversion webhooks are called like the real server does (see :mod:`.webhooks`;
    ``webhook_services`` maps service references to local URLs). Also not emulated: server-side
    apply, managedFields, protobuf.

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

    # -- direct access --------------------------------------------------------------------------------

    def add_object(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create ``obj`` (with apiVersion and kind) as a POST would, without HTTP; returns it stored.

        Raises ValueError for a kind the server does not serve and :class:`ApiFailure` (its
        ``code``/``reason`` like the HTTP answer) when the create is refused.
        """
        table, served = self.registry.resolve_kind(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
        ns = (obj.get("metadata") or {}).get("namespace")
        stored = self.registry.create(table, ns, copy.deepcopy(obj), served)
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


__all__ += ["ApiFailure"]
