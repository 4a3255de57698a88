"""Replicas of a sharded controller in one test process, and a monitor of who reconciles what.

Each :class:`Replica` is a Manager with its own client, leader election and shard Lease (short
durations so that deaths resolve in seconds). Its reconcile records entry and exit in the shared
:class:`Monitor`, which fails the test if two replicas are ever inside one object's reconcile at
the same moment, and remembers the last resourceVersion each replica reconciled.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pycontroller import Manager
from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.sharding import RingResource, ShardingOptions

CONFIGMAPS = GroupVersionResource("", "v1", "configmaps")
LEASE = {"lease_duration": 3.0, "renew_deadline": 2.0, "retry_period": 0.5}
RING = "cms"
SHARD_LABEL = f"shard.sharding.pycontroller.dev/{RING}"
DRAIN_LABEL = f"drain.sharding.pycontroller.dev/{RING}"

log = logging.getLogger("tests.sharding")
_seq = itertools.count()


class Monitor:
    """Per object: which replicas are inside reconcile now; every overlap is a violation."""

    def __init__(self) -> None:
        self.inside: dict[str, set[str]] = {}
        self.violations: list[str] = []
        self.reconciled: dict[tuple[str, str], str] = {}  # (replica, key) -> resourceVersion
        self.count = 0

    def enter(self, replica: str, key: str) -> None:
        now = self.inside.setdefault(key, set())
        if now:
            self.violations.append(f"{replica} entered {key} while {sorted(now)} inside")
        now.add(replica)
        self.count += 1

    def leave(self, replica: str, key: str, rv: str | None) -> None:
        self.inside[key].discard(replica)
        if rv is not None:
            self.reconciled[(replica, key)] = rv


def sharded_manager(
    server: Any,
    namespace: str,
    name: str,
    *,
    namespaces: list[str] | None = None,
    cache: Any = None,
) -> tuple[Manager, RestClient]:
    """A Manager (and its own client) that is replica ``name`` of the ring over ConfigMaps, with
    leader election (its sharder) and short leases. The ring shards ``namespaces`` (default: only
    ``namespace``: the shared real server holds other tests' ConfigMaps)."""
    client = RestClient(server.new_client(), owns_api_client=True)
    mgr = Manager(
        client,
        metrics_bind_address="0",
        handle_signals=False,
        graceful_shutdown_timeout=10,
        leader_election=True,
        leader_election_id=f"sharder-{RING}",
        leader_election_namespace=namespace,
        leader_election_release_on_cancel=True,
        identity=name,
        sharding=ShardingOptions(
            ring=RING,
            resources=[RingResource("", "v1", "configmaps", "ConfigMap")],
            shard_name=name,
            lease_namespace=namespace,
            namespaces=namespaces or [namespace],
            **LEASE,
        ),
        cache=cache,
        **LEASE,
    )
    return mgr, client


class Running:
    """A replica's Manager run as a task: ``start()``, a clean ``stop()``, and its ``shard``."""

    name: str
    manager: Manager
    client: RestClient
    task: asyncio.Task[None] | None = None

    @property
    def shard(self) -> Any:
        return self.manager.sharding.shard

    def start(self) -> None:
        self.task = asyncio.create_task(self.manager.run(), name=self.name)

    async def stop(self) -> None:
        """A clean shutdown: in-flight reconciles finish, the Lease is released."""
        self.manager.request_shutdown()
        assert self.task is not None
        await asyncio.gather(self.task, return_exceptions=True)
        await self.client.close()


class Replica(Running):
    """One replica: a Manager running a sharded ConfigMap controller in namespace ``namespace``."""

    def __init__(
        self,
        server: Any,
        namespace: str,
        monitor: Monitor,
        name: str | None = None,
        *,
        work: Callable[[], Awaitable[None]] | None = None,
        namespaces: list[str] | None = None,
        cache: Any = None,
    ) -> None:
        self.name = name or f"replica-{next(_seq)}"
        self.server = server
        self.monitor = monitor
        self.manager, self.client = sharded_manager(
            server, namespace, self.name, namespaces=namespaces or [namespace], cache=cache
        )
        self.informer = self.manager.informer_for("", "v1", "configmaps")
        self._work = work

        async def reconcile(key: str) -> None:
            monitor.enter(self.name, key)
            rv = None
            try:
                obj = self.informer.indexer.get_by_key(key)
                rv = obj["metadata"]["resourceVersion"] if obj is not None else None
                await asyncio.sleep(0)
                if self._work is not None:
                    await self._work()
            finally:
                monitor.leave(self.name, key, rv)

        self.controller = self.manager.sharding.controller(
            f"cm-{self.name}",
            reconcile,
            self.informer,
            max_concurrent_reconciles=2,
            skip_name_validation=True,
        )
        self.manager.add(self.controller)

    async def kill(self) -> None:
        """A crash as the cluster sees it: from now on every request of this replica fails, so its
        Leases are left to expire. Like a partitioned process it keeps running (reconciling from
        its cache) until its shard notices the lost Lease at the renew deadline; then it ends
        without any goodbye (its task is cancelled; nothing can reach the server anyway)."""

        async def refuse(*args: Any, **kwargs: Any) -> Any:
            raise ConnectionRefusedError("replica killed by the test")

        self.client.request = refuse  # type: ignore[method-assign]
        assert self.task is not None
        deadline = time.monotonic() + 30
        while self.shard.is_ready() and not self.task.done():
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} kept its shard for 30 s without reaching the server")
            await asyncio.sleep(0.05)
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.client.close()


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 60.0, what: str = "", interval: float = 0.05
) -> None:
    """Wait until ``check()`` holds, polling; fail after ``timeout`` seconds of real time."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {what}")
        await asyncio.sleep(interval)


async def converged(rest: RestClient, namespace: str, replicas: list[Replica], monitor: Monitor) -> bool:
    """Every object labelled (no drain) for exactly one live, ready shard, reconciled by it at its
    latest resourceVersion."""
    items = (await rest.list(CONFIGMAPS, namespace))["items"]
    live = {r.name: r for r in replicas if r.task is not None and not r.task.done() and r.shard.is_ready()}
    for obj in items:
        meta = obj["metadata"]
        if meta["name"] == "kube-root-ca.crt":
            continue
        labels = meta.get("labels") or {}
        shard = labels.get(SHARD_LABEL)
        if shard not in live or DRAIN_LABEL in labels:
            return False
        if monitor.reconciled.get((shard, f"{namespace}/{meta['name']}")) != meta["resourceVersion"]:
            return False
    return True
