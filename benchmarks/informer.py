"""Informer data path: list+sync, watch replay and live watch, against real API servers, side by side.

Servers: envtest (the real kube-apiserver 1.20 + etcd, when ``KUBEBUILDER_ASSETS`` is set) and the
in-memory fake in a SEPARATE process (``python -m pycontroller.testing serve``), when available.
The client measured is this process; the servers and the load generator (for the live watch) run
elsewhere, so ``time.process_time()`` is the client's CPU.

Paths compared:
  ours      SharedInformerFactory / SharedIndexInformer: Reflector -> RealFIFO -> Indexer (+ namespace
            index) -> one handler (its own buffer and task); replay feeds the informer from one
            watch opened at an old resourceVersion
  k8s-aio   kubernetes-asyncio typed models: list_namespaced_config_map / watch.Watch().stream
  official  kubernetes (sync) ``kubernetes.informer.SharedInformer`` for list and live watch;
            its typed ``watch.Watch().stream`` for replay (the informer cannot start at an old RV)

Measures: (a) list+sync of N ConfigMaps (~600 bytes each): objects/s, client CPU per object, retained
memory per cached object (tracemalloc) vs the same list decoded by ``json.loads``; (b) watch replay
(a watch from an old resourceVersion over M updates) and live (M updates made by another process
while watching): events/s and client CPU per event; (c) ratios of the others to ours; (d) the two
informer queues side by side, RealFIFO (in order, the default) and DeltaFIFO: alone in process
("[micro] informer queue ...": no server, no decoding) and in a watch replay through each server.

    python benchmarks/informer.py [--quick] [--runs N] [--json] [--objects N] [--events M]
                                  [--servers envtest,fake] [--fake-objects 100000]
                                  [--scale-fake 10000,100000,300000,1000000] [--scale-envtest 10000,50000]
                                  [--scale-variants ours,ours-keep,ours-meta,official,ours-relist,ours-relist-copy]
                                  [--peer-max N]
                                  [--scale-only]

The scaling table (its own section, ``run_scaling``): list+sync of 10k..1M ConfigMaps on the fake and
10k/50k on envtest, each in a fresh client process: objects/s, CPU us/object, retained and peak bytes
per object (RSS), for ours, ours with managedFields kept, metadata-only, and the official informer up
to --peer-max; the fake server's own memory per object; ratio rows (1M vs 10k, ours/official).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.util
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import Row, report
from pycontroller.cache.factory import SharedInformerFactory
from pycontroller.cache.informer import SharedIndexInformer
from pycontroller.cache.reflector import Reflector
from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.testing.serve_process import fake_api_server_process

NS = "bench"
CONFIGMAPS = GroupVersionResource("", "v1", "configmaps")
PAYLOAD = "x" * 330  # with metadata and managedFields, ~600 bytes of JSON per ConfigMap


# -- servers -----------------------------------------------------------------------------------------


@contextmanager
def envtest_server(tmp: Path) -> Iterator[Path]:
    from pycontroller.testing.envtest import EnvTest

    server = EnvTest()
    server.start_sync()
    try:
        yield server.write_kubeconfig(tmp / "envtest.kubeconfig")
    finally:
        server.stop_sync()


@contextmanager
def fake_server(tmp: Path) -> Iterator[Path]:
    """The in-memory API server in a child process (its kubeconfig path), so CPU is measured apart."""
    with fake_api_server_process(tmp) as served:
        yield served.kubeconfig


async def rest_client(kubeconfig: Path) -> RestClient:
    from kubernetes_asyncio import client, config

    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    return RestClient(client.ApiClient(cfg), owns_api_client=True)


# -- load ---------------------------------------------------------------------------------------------


def configmap(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"cm-{i:06d}", "labels": {"app": "bench", "shard": str(i % 16)}},
        "data": {"payload": PAYLOAD, "index": str(i)},
    }


async def _bounded(jobs: Iterator[Any], concurrency: int) -> None:
    async def worker() -> None:
        for job in jobs:
            await job

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def populate(kubeconfig: Path, count: int) -> None:
    from pycontroller.errors import AlreadyExistsError, ConflictError

    rc = await rest_client(kubeconfig)
    try:
        try:
            await rc.request("POST", "/api/v1/namespaces", body={"metadata": {"name": NS}})
        except ConflictError:
            pass
        have = await rc.list(CONFIGMAPS, NS, limit=1)
        remaining = (have["metadata"].get("remainingItemCount") or 0) + len(have["items"])

        async def create(i: int) -> None:
            try:
                await rc.create(CONFIGMAPS, configmap(i), NS)
            except AlreadyExistsError:
                pass

        await _bounded((create(i) for i in range(remaining, count)), 32)
    finally:
        await rc.close()


async def update_many(kubeconfig: Path, count: int, objects: int, salt: str) -> None:
    rc = await rest_client(kubeconfig)
    try:

        async def patch(i: int) -> None:
            await rc.patch(CONFIGMAPS, f"cm-{i % objects:06d}", {"data": {"n": f"{salt}-{i}"}}, NS)

        await _bounded((patch(i) for i in range(count)), 32)
    finally:
        await rc.close()


def generate_in_subprocess(kubeconfig: Path, count: int, objects: int, salt: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, __file__, "_generate", str(kubeconfig), str(count), str(objects), salt]
    )


async def current_rv(kubeconfig: Path) -> str:
    rc = await rest_client(kubeconfig)
    try:
        page = await rc.list(CONFIGMAPS, NS, limit=1)
        return str(page["metadata"]["resourceVersion"])
    finally:
        await rc.close()


# -- our pipeline -------------------------------------------------------------------------------------


class Counter:
    """The one event handler: counts notifications and fires ``done`` at ``target``."""

    def __init__(self) -> None:
        self.seen = 0
        self.target = 0
        self.done = asyncio.Event()

    def _tick(self) -> None:
        self.seen += 1
        if self.seen == self.target:
            self.done.set()

    def on_add(self, obj: Any, is_in_initial_list: bool) -> None:
        self._tick()

    def on_update(self, old: Any, new: Any) -> None:
        self._tick()

    def on_delete(self, obj: Any) -> None:
        self._tick()


class _ReplayReflector:
    """Feeds an informer's FIFO from one watch opened at an old resourceVersion (no list)."""

    def __init__(self, client: RestClient, fifo: Any, rv: str) -> None:
        self.reflector = Reflector(client, CONFIGMAPS, fifo, namespace=NS)
        self.rv = rv

    async def run(self) -> None:
        query = {"resourceVersion": self.rv, "allowWatchBookmarks": True, "timeoutSeconds": 600}
        async with self.reflector._lw.watch(query, inactivity_timeout=None) as stream:
            await self.reflector._handle_watch(stream)
        await asyncio.Event().wait()

    def last_sync_resource_version(self) -> str:
        return self.reflector.last_sync_resource_version()


async def _wait(done: asyncio.Event, timeout: float = 300) -> None:
    await asyncio.wait_for(done.wait(), timeout)


async def ours_list(kubeconfig: Path, count: int, measure_memory: bool) -> dict[str, float]:
    """SharedInformerFactory -> informer (Reflector, DeltaFIFO, Indexer) -> one handler."""
    rc = await rest_client(kubeconfig)
    try:
        gc.collect()
        if measure_memory:
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
        factory = SharedInformerFactory(rc, namespace=NS)
        informer = factory.informer_for("", "v1", "configmaps")
        counter = Counter()
        counter.target = count
        informer.add_event_handler(counter)
        t0, c0 = time.perf_counter(), time.process_time()
        factory.start()
        await _wait(counter.done)
        t1, c1 = time.perf_counter(), time.process_time()
        out = {"wall": t1 - t0, "cpu": c1 - c0}
        await factory.shutdown()
        if measure_memory:
            indexer = informer.indexer
            del factory, informer
            gc.collect()
            out["mem"] = (tracemalloc.get_traced_memory()[0] - base) / len(indexer)
            tracemalloc.stop()
            del indexer
        return out
    finally:
        await rc.close()


async def json_loads_memory(kubeconfig: Path) -> float:
    rc = await rest_client(kubeconfig)
    try:
        headers = await rc.headers()
        async with rc._http.get(rc.url(CONFIGMAPS.path(NS)), headers=headers) as resp:
            raw = await resp.read()
    finally:
        await rc.close()
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    items = json.loads(raw)["items"]
    gc.collect()
    per = (tracemalloc.get_traced_memory()[0] - base) / len(items)
    tracemalloc.stop()
    return per


async def ours_watch(
    kubeconfig: Path, events: int, objects: int, live: bool, in_order: bool | None = None
) -> dict[str, float]:
    """``events`` updates through an informer: replayed from an old RV, or live while they happen.

    ``in_order`` picks the informer's queue (None: the default; True RealFIFO; False DeltaFIFO).
    """
    rc = await rest_client(kubeconfig)
    try:
        counter = Counter()
        if live:
            informer = SharedIndexInformer(rc, CONFIGMAPS, namespace=NS, in_order=in_order)
            counter.target = objects
            informer.add_event_handler(counter)
            informer.start()
            await _wait(counter.done)  # listed and synced: now measure the watch alone
            counter.seen, counter.target = 0, events
            counter.done.clear()
            gen = generate_in_subprocess(kubeconfig, events, objects, f"l{time.time()}")
        else:
            rv = await current_rv(kubeconfig)
            await update_many(kubeconfig, events, objects, f"r{time.time()}")
            counter.target = events
            informer = SharedIndexInformer(
                None,
                CONFIGMAPS,
                namespace=NS,
                reflector_factory=lambda fifo: _ReplayReflector(rc, fifo, rv),
                in_order=in_order,
            )
            informer.add_event_handler(counter)
            gen = None
        t0, c0 = time.perf_counter(), time.process_time()
        if not live:
            informer.start()
        await _wait(counter.done)
        t1, c1 = time.perf_counter(), time.process_time()
        await informer.stop()
        if gen is not None:
            gen.wait()
        return {"wall": t1 - t0, "cpu": c1 - c0}
    finally:
        await rc.close()


# -- the two informer queues side by side (RealFIFO in order vs DeltaFIFO) ---------------------------


class _Fed:
    """A reflector stand-in: the benchmark writes to the informer's queue itself."""

    def __init__(self, fifo: Any) -> None:
        self.fifo = fifo

    async def run(self) -> None:
        await asyncio.Event().wait()

    def last_sync_resource_version(self) -> str:
        return ""


async def fifo_micro(in_order: bool, objects: int, events: int) -> dict[str, float]:
    """The queue and the informer's processing alone (no server, no decoding): ``objects`` listed,
    then ``events`` updates round-robin over them, written 500 at a time as a watch read hands
    them out, delivered to one handler."""
    fed: list[_Fed] = []

    def factory(fifo: Any) -> _Fed:
        fed.append(_Fed(fifo))
        return fed[-1]

    informer = SharedIndexInformer(
        None, CONFIGMAPS, namespace=NS, reflector_factory=factory, in_order=in_order
    )
    counter = Counter()
    counter.target = objects
    informer.add_event_handler(counter)
    informer.start()
    await asyncio.sleep(0)  # the informer's task creates its queue and our stand-in
    fifo = fed[0].fifo
    listed = [
        {"metadata": {"name": f"cm-{i}", "namespace": NS, "resourceVersion": str(i + 1)}, "data": {"v": ""}}
        for i in range(objects)
    ]
    fifo.replace(listed, str(objects))
    await _wait(counter.done)
    updates = [
        {
            "metadata": {
                "name": f"cm-{i % objects}",
                "namespace": NS,
                "resourceVersion": str(objects + i + 1),
            },
            "data": {"v": str(i)},
        }
        for i in range(events)
    ]
    counter.seen, counter.target = 0, events
    counter.done.clear()
    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    for start in range(0, events, 500):
        for obj in updates[start : start + 500]:
            fifo.update(obj)
        await asyncio.sleep(0)
    await _wait(counter.done)
    t1, c1 = time.perf_counter(), time.process_time()
    await informer.stop()
    return {"wall": t1 - t0, "cpu": c1 - c0}


def fifo_rows(objects: int, events: int, runs: int, rows: list[Row]) -> None:
    """RealFIFO (in order, the default) and DeltaFIFO side by side: events/s and CPU per event."""
    phase("micro", f"informer queues: {objects} objects, {events} updates")
    results: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    for _ in range(runs):  # interleaved, so both see the same machine load
        for in_order in (True, False):
            results[in_order].append(asyncio.run(fifo_micro(in_order, objects, events)))
    rate = {k: med([events / r["wall"] for r in v]) for k, v in results.items()}
    cpu = {k: med([r["cpu"] / events * 1e6 for r in v]) for k, v in results.items()}
    for in_order, name in ((True, "RealFIFO (in order)"), (False, "DeltaFIFO")):
        rows.append(
            Row(f"[micro] informer queue {name}", rate[in_order], "events/s", note=f"{events} updates")
        )
        rows.append(
            Row(f"[micro] informer queue {name} CPU", cpu[in_order], "us/event", higher_is_better=False)
        )
    rows.append(
        Row("[micro] informer queue CPU RealFIFO/DeltaFIFO", cpu[True] / cpu[False], "ratio", 1.1, False)
    )


def fifo_watch_rows(label: str, kubeconfig: Path, n: int, m: int, runs: int, rows: list[Row]) -> None:
    """Watch replay through a real server with each queue (decoding included), side by side."""
    results: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    for _ in range(runs):
        for in_order in (True, False):
            phase(label, f"watch replay, {'RealFIFO' if in_order else 'DeltaFIFO'}")
            results[in_order].append(asyncio.run(ours_watch(kubeconfig, m, n, live=False, in_order=in_order)))
    for in_order, name in ((True, "RealFIFO"), (False, "DeltaFIFO")):
        rows.append(
            Row(f"[{label}] watch replay {name}", med([m / r["wall"] for r in results[in_order]]), "events/s")
        )
        rows.append(
            Row(
                f"[{label}] watch replay {name} CPU",
                med([r["cpu"] / m * 1e6 for r in results[in_order]]),
                "us/event",
                higher_is_better=False,
            )
        )


# -- kubernetes-asyncio typed -------------------------------------------------------------------------


async def aio_list(kubeconfig: Path, count: int, measure_memory: bool) -> dict[str, float]:
    from kubernetes_asyncio import client, config

    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    async with client.ApiClient(cfg) as api:
        v1 = client.CoreV1Api(api)
        gc.collect()
        if measure_memory:
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
        t0, c0 = time.perf_counter(), time.process_time()
        result = await v1.list_namespaced_config_map(NS)
        cache = {f"{i.metadata.namespace}/{i.metadata.name}": i for i in result.items}
        t1, c1 = time.perf_counter(), time.process_time()
        out = {"wall": t1 - t0, "cpu": c1 - c0}
        if measure_memory:
            del result
            gc.collect()
            out["mem"] = (tracemalloc.get_traced_memory()[0] - base) / len(cache)
            tracemalloc.stop()
        return out


async def aio_watch(kubeconfig: Path, events: int, objects: int, live: bool) -> dict[str, float]:
    from kubernetes_asyncio import client, config, watch

    rv = await current_rv(kubeconfig)
    if not live:
        await update_many(kubeconfig, events, objects, f"r{time.time()}")
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    async with client.ApiClient(cfg) as api:
        v1 = client.CoreV1Api(api)
        gen = generate_in_subprocess(kubeconfig, events, objects, f"l{time.time()}") if live else None
        seen = 0
        t0, c0 = time.perf_counter(), time.process_time()
        w = watch.Watch()
        async with w.stream(v1.list_namespaced_config_map, NS, resource_version=rv, timeout_seconds=600) as s:
            async for _ in s:
                seen += 1
                if seen >= events:
                    break
        t1, c1 = time.perf_counter(), time.process_time()
        if gen is not None:
            gen.wait()
        return {"wall": t1 - t0, "cpu": c1 - c0}


# -- official kubernetes client -----------------------------------------------------------------------


def _official_v1(kubeconfig: Path) -> Any:
    import kubernetes

    api = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    return kubernetes.client.CoreV1Api(api)


_stopped_threads: set[str] = set()
_default_excepthook = threading.excepthook


def _quiet_stopped_informers(args: Any) -> None:
    # A stopped official informer's daemon thread dies noisily when its server goes away.
    if (
        args.thread is not None
        and args.thread.name == "SharedInformer"
        and "SharedInformer" in _stopped_threads
    ):
        return
    _default_excepthook(args)


threading.excepthook = _quiet_stopped_informers


def stop_official(informer: Any) -> None:
    """Stop the official informer without joining: its stop() joins a thread blocked in a watch read
    until the next event or the server's watch timeout (up to an hour). The daemon thread exits on
    its next event."""
    _stopped_threads.add("SharedInformer")
    informer._stop_event.set()
    if informer._watch is not None:
        informer._watch.stop()


def official_list(kubeconfig: Path, count: int, measure_memory: bool) -> dict[str, float]:
    from kubernetes.informer import ADDED, SharedInformer

    v1 = _official_v1(kubeconfig)
    done = threading.Event()
    seen = [0]

    def on_add(obj: Any) -> None:
        seen[0] += 1
        if seen[0] >= count:
            done.set()

    gc.collect()
    if measure_memory:
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
    informer = SharedInformer(v1.list_namespaced_config_map, namespace=NS)
    informer.add_event_handler(ADDED, on_add)
    t0, c0 = time.perf_counter(), time.process_time()
    informer.start()
    done.wait(300)
    t1, c1 = time.perf_counter(), time.process_time()
    stop_official(informer)
    out = {"wall": t1 - t0, "cpu": c1 - c0}
    if measure_memory:
        gc.collect()
        out["mem"] = (tracemalloc.get_traced_memory()[0] - base) / max(1, len(informer.cache.list_keys()))
        tracemalloc.stop()
    return out


def official_watch(kubeconfig: Path, events: int, objects: int, live: bool) -> dict[str, float]:
    from kubernetes import watch
    from kubernetes.informer import MODIFIED, SharedInformer

    v1 = _official_v1(kubeconfig)
    if not live:
        rv = asyncio.run(current_rv(kubeconfig))
        asyncio.run(update_many(kubeconfig, events, objects, f"r{time.time()}"))
        seen = 0
        t0, c0 = time.perf_counter(), time.process_time()
        w = watch.Watch()
        for _ in w.stream(v1.list_namespaced_config_map, NS, resource_version=rv, timeout_seconds=600):
            seen += 1
            if seen >= events:
                w.stop()
                break
        return {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}
    synced = threading.Event()
    done = threading.Event()
    count = [0]

    def on_modified(obj: Any) -> None:
        count[0] += 1
        if count[0] >= events:
            done.set()

    informer = SharedInformer(v1.list_namespaced_config_map, namespace=NS)
    informer.add_event_handler(MODIFIED, on_modified)
    informer.start()
    deadline = time.monotonic() + 60
    while len(informer.cache.list_keys()) < objects and time.monotonic() < deadline:
        time.sleep(0.05)
    synced.set()
    time.sleep(0.5)  # let the informer's watch open after its list
    count[0] = 0
    gen = generate_in_subprocess(kubeconfig, events, objects, f"l{time.time()}")
    t0, c0 = time.perf_counter(), time.process_time()
    done.wait(300)
    t1, c1 = time.perf_counter(), time.process_time()
    gen.wait()
    stop_official(informer)
    return {"wall": t1 - t0, "cpu": c1 - c0}


# -- scaling (cachescale): list+sync cost per object from 10k to 1M objects ------------------------------
#
# Every measurement runs in a FRESH client process (``informer.py _scale KUBECONFIG N VARIANT``): --runs
# timed ones (objects/s, CPU, and the RSS peak above the RSS before the list, noted), then one under
# tracemalloc for memory: retained = Python memory held after the sync (GC collected), peak = the
# most held during it, both above what was held before the list (RSS cannot say "retained": freed
# memory stays in the process). The fake is started per size with ``serve --load`` (its
# objects created from a JSON-lines file, not a million POSTs); envtest is filled by POSTs.
# Variants: ours (drop_managed_fields, the default), ours-keep (managedFields kept), ours-meta
# (metadata_only=True), official (the ``kubernetes`` package's SharedInformer, typed models).
# ours-relist (fake only, up to 300k): after the first sync the server expires every watch
# (``ServedProcess.expire_watches``: compaction, watches ended), the reflector gets 410 and relists
# the unchanged cache; measured is that relist: its CPU and wall per object, and the most memory
# held during it over the cache it started with. ours-relist-copy is the same with the reuse of
# cached objects turned off (``known_object=None``): the baseline a relist would cost otherwise.

SCALE_VARIANTS = ("ours", "ours-keep", "ours-meta", "official", "ours-relist", "ours-relist-copy")
RELIST_VARIANTS = ("ours-relist", "ours-relist-copy")
RELIST_MAX = 300_000
SERVER_PID_ENV = "PYCONTROLLER_BENCH_SERVER_PID"


def _rss() -> int:
    with open("/proc/self/status", "rb") as status:
        for line in status:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _reset_peak() -> None:
    """Make the kernel's peak RSS (VmHWM) start again from the current RSS (Linux clear_refs 5)."""
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def _max_rss() -> int:
    with open("/proc/self/status", "rb") as status:
        for line in status:
            if line.startswith(b"VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


class _Meter:
    """Memory of one list: tracemalloc (``traced``: Python allocations, exact retained vs peak) or RSS."""

    def __init__(self, traced: bool) -> None:
        self.traced = traced
        gc.collect()
        if traced:
            tracemalloc.start()
            self.base = tracemalloc.get_traced_memory()[0]
        else:
            self.base = _rss()
            _reset_peak()

    def peak(self) -> int:
        return (tracemalloc.get_traced_memory()[1] if self.traced else _max_rss()) - self.base

    def retained(self) -> int:
        gc.collect()
        return (tracemalloc.get_traced_memory()[0] if self.traced else _rss()) - self.base


async def _scale_ours(kubeconfig: Path, n: int, variant: str, traced: bool) -> dict[str, float]:
    rc = await rest_client(kubeconfig)
    try:
        options: dict[str, Any] = {}
        if variant == "ours-keep":
            options["transform"] = None
        elif variant == "ours-meta":
            options["metadata_only"] = True
        reflector_options = {"known_object": None} if variant == "ours-relist-copy" else None
        factory = SharedInformerFactory(rc, namespace=NS, reflector_options=reflector_options)
        informer = factory.informer_for(CONFIGMAPS, **options)
        counter = Counter()
        counter.target = n
        informer.add_event_handler(counter)
        meter = _Meter(traced)
        t0, c0 = time.perf_counter(), time.process_time()
        factory.start()
        await _wait(counter.done, timeout=3600)
        t1, c1 = time.perf_counter(), time.process_time()
        if variant in RELIST_VARIANTS:
            try:
                return await _relist(informer, meter, n)
            finally:
                await factory.shutdown()
        peak = meter.peak()
        await factory.shutdown()
        retained = meter.retained()
        cached = len(informer.indexer)
        return {"wall": t1 - t0, "cpu": c1 - c0, "retained": retained / cached, "peak": peak / cached}
    finally:
        await rc.close()


async def _relist(informer: Any, meter: _Meter, n: int) -> dict[str, float]:
    """After the first sync: the server expires the watch; measure the 410's relist of the cache."""
    held = meter.retained()  # the cache (GC collected), above what was held before the first list
    if meter.traced:
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
    else:
        _reset_peak()
        start = _rss()
    stats = informer.reflector_stats
    t0, c0 = time.perf_counter(), time.process_time()
    os.kill(int(os.environ[SERVER_PID_ENV]), signal.SIGUSR1)
    # Relisted, and the list applied to the cache (the informer's queue is empty again).
    while not (stats.relists >= 1 and len(informer._fifo) == 0):  # noqa: ASYNC110 - no event for it
        await asyncio.sleep(0.005)
    t1, c1 = time.perf_counter(), time.process_time()
    top = (tracemalloc.get_traced_memory()[1] if meter.traced else _max_rss()) - start
    after = meter.retained()
    cached = len(informer.indexer)
    if cached != n:
        raise RuntimeError(f"the relist cached {cached} objects, not {n}")
    return {
        "wall": t1 - t0,
        "cpu": c1 - c0,
        "retained": after / cached,
        "peak": (held + top) / cached,
        "before": held / cached,
        "reused": stats.relist_reused,
    }


def _scale_official(kubeconfig: Path, n: int, traced: bool) -> dict[str, float]:
    from kubernetes.informer import ADDED, SharedInformer

    v1 = _official_v1(kubeconfig)
    done = threading.Event()
    seen = [0]

    def on_add(obj: Any) -> None:
        seen[0] += 1
        if seen[0] >= n:
            done.set()

    informer = SharedInformer(v1.list_namespaced_config_map, namespace=NS)
    informer.add_event_handler(ADDED, on_add)
    meter = _Meter(traced)
    t0, c0 = time.perf_counter(), time.process_time()
    informer.start()
    done.wait(3600)
    t1, c1 = time.perf_counter(), time.process_time()
    peak = meter.peak()
    stop_official(informer)
    retained = meter.retained()
    return {"wall": t1 - t0, "cpu": c1 - c0, "retained": retained / n, "peak": peak / n}


def scale_child(argv: list[str]) -> None:
    """``_scale KUBECONFIG N VARIANT [traced]``: one measurement in this fresh process, as JSON."""
    kubeconfig, n, variant = Path(argv[0]), int(argv[1]), argv[2]
    traced = argv[3:4] == ["traced"]
    if variant == "official":
        out = _scale_official(kubeconfig, n, traced)
    else:
        out = asyncio.run(_scale_ours(kubeconfig, n, variant, traced))
    print(json.dumps(out), flush=True)
    if variant == "official":
        # The official informer's daemon thread may still sit in a watch read; interpreter
        # finalization under tracemalloc then aborts (SIGABRT). The measurement is out: leave now.
        os._exit(0)


def _measure_scale(
    kubeconfig: Path, n: int, variant: str, runs: int, server_pid: int | None = None
) -> dict[str, float] | None:
    """``runs`` timed children (medians; their RSS peak too) and one traced child for memory."""
    results = []
    env = dict(os.environ)
    if server_pid is not None:
        env[SERVER_PID_ENV] = str(server_pid)
    for traced in [False] * runs + [True]:
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "_scale",
                str(kubeconfig),
                str(n),
                variant,
                *(["traced"] if traced else []),
            ],
            capture_output=True,
            text=True,
            timeout=7200,
            env=env,
        )
        if proc.returncode != 0:
            print(f"# {variant} at {n} failed: {proc.stderr.strip()[-600:]}", file=sys.stderr)
            return None
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    timed, memory = results[:-1], results[-1]
    return {
        "rate": med([n / r["wall"] for r in timed]),
        "cpu": med([r["cpu"] / n * 1e6 for r in timed]),
        "rss_peak": med([r["peak"] for r in timed]),
        "retained": memory["retained"],
        "peak": memory["peak"],
        "before": memory.get("before", 0.0),
        "reused": memory.get("reused", 0.0),
    }


def _load_file(tmp: Path, n: int) -> Path:
    path = tmp / f"configmaps-{n}.jsonl"
    with path.open("wb") as out:
        out.write(
            json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}).encode() + b"\n"
        )
        for i in range(n):
            obj = configmap(i)
            obj["metadata"]["namespace"] = NS
            out.write(json.dumps(obj, separators=(",", ":")).encode() + b"\n")
    return path


def _proc_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status", "rb") as status:
        for line in status:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _short(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k"


def _scale_rows(label: str, n: int, variant: str, m: dict[str, float], rows: list[Row]) -> None:
    name = f"[scale {label}] {variant} {_short(n)}"
    if variant in RELIST_VARIANTS:
        rows.append(Row(f"{name} relist", m["rate"], "objects/s", note=f"{m['reused']:.0f} reused"))
        rows.append(Row(f"{name} relist CPU", m["cpu"], "us/object", higher_is_better=False))
        rows.append(
            Row(
                f"{name} held during relist",
                m["peak"],
                "bytes/object",
                higher_is_better=False,
                note=f"cache {m['before']:.0f} B before, {m['retained']:.0f} B after; "
                f"RSS growth {m['rss_peak']:.0f} B",
            )
        )
        return
    rows.append(Row(f"{name} list+sync", m["rate"], "objects/s"))
    rows.append(Row(f"{name} CPU", m["cpu"], "us/object", higher_is_better=False))
    rows.append(Row(f"{name} retained", m["retained"], "bytes/object", higher_is_better=False))
    rows.append(
        Row(
            f"{name} peak",
            m["peak"],
            "bytes/object",
            higher_is_better=False,
            note=f"RSS peak {m['rss_peak']:.0f} B",
        )
    )


def run_scaling(
    tmp: Path,
    fake_sizes: list[int],
    envtest_sizes: list[int],
    runs: int,
    peer_max: int,
    variants: list[str],
    rows: list[Row],
) -> None:
    """The scaling table: each size and variant in fresh client processes; ratio rows at the end."""
    got: dict[tuple[str, int, str], dict[str, float]] = {}
    empty = 0
    if "official" in variants and importlib.util.find_spec("kubernetes") is None:
        print("# official informer rows left out: pip install -e '.[bench]' for the peer", file=sys.stderr)
        variants = [v for v in variants if v != "official"]
    if fake_sizes:  # the server's own memory per object is measured above an empty server's
        with fake_api_server_process(tmp, load=_load_file(tmp, 0)) as served:
            empty = _proc_rss(served.process.pid)
    for n in sorted(fake_sizes):
        phase("scale fake", f"loading {n} ConfigMaps")
        path = _load_file(tmp, n)
        started = time.perf_counter()
        with fake_api_server_process(tmp, load=path, start_timeout=600 + n / 1000) as served:
            path.unlink()
            loaded = _proc_rss(served.process.pid)
            for variant in variants:
                if variant == "official" and n > peer_max:
                    continue
                if variant in ("ours-keep", "ours-meta") and n > max(100_000, min(fake_sizes)):
                    continue  # the variants' rows at the small sizes say what they save
                if variant in RELIST_VARIANTS and n > RELIST_MAX:
                    continue
                phase("scale fake", f"{variant} at {n}")
                m = _measure_scale(served.kubeconfig, n, variant, runs, served.process.pid)
                if m is not None:
                    got[("fake", n, variant)] = m
                    _scale_rows("fake", n, variant, m, rows)
            after = _proc_rss(served.process.pid)
            with urllib.request.urlopen(f"{served.url}{CONFIGMAPS.path(NS, 'cm-000000')}") as answer:
                json_size = len(answer.read())
        loaded, after = loaded - empty, after - empty
        rows.append(
            Row(
                f"[scale fake] server memory {_short(n)}",
                after / n,
                "bytes/object",
                higher_is_better=False,
                note=f"above an empty server: {loaded / n:.0f} B after load, {after / n:.0f} B after "
                f"the lists; JSON {json_size} B; load {time.perf_counter() - started:.0f}s",
            )
        )
        rows.append(
            Row(f"[scale fake] server memory/JSON {_short(n)}", after / n / json_size, "x", 3.0, False)
        )
    if envtest_sizes and os.environ.get("KUBEBUILDER_ASSETS"):
        try:
            with envtest_server(tmp) as kubeconfig:
                for n in sorted(envtest_sizes):
                    phase("scale envtest", f"creating {n} ConfigMaps")
                    asyncio.run(populate(kubeconfig, n))
                    for variant in variants:
                        if (variant == "official" and n > peer_max) or variant in RELIST_VARIANTS:
                            continue  # a relist on demand needs the fake's expire_watches
                        phase("scale envtest", f"{variant} at {n}")
                        m = _measure_scale(kubeconfig, n, variant, runs)
                        if m is not None:
                            got[("envtest", n, variant)] = m
                            _scale_rows("envtest", n, variant, m, rows)
        except Exception as exc:  # a missing server is reported, not fatal
            print(f"# envtest scaling skipped: {type(exc).__name__}: {exc}", file=sys.stderr)
    _scale_ratios(got, rows)


def _scale_ratios(got: dict[tuple[str, int, str], dict[str, float]], rows: list[Row]) -> None:
    for label in ("fake", "envtest"):
        sizes = sorted(n for (lb, n, v) in got if lb == label and v == "ours")
        if len(sizes) >= 2:
            lo, hi = got[(label, sizes[0], "ours")], got[(label, sizes[-1], "ours")]
            span = f"{_short(sizes[-1])} vs {_short(sizes[0])}"
            rows.append(Row(f"[scale {label}] CPU/object {span}", hi["cpu"] / lo["cpu"], "x", 1.3, False))
            rows.append(Row(f"[scale {label}] objects/s {span}", hi["rate"] / lo["rate"], "x", 0.8))
            mid = [n for n in sizes if n == 300_000]
            if mid:
                rows.append(
                    Row(
                        f"[scale {label}] objects/s 300k vs {_short(sizes[0])}",
                        got[(label, 300_000, "ours")]["rate"] / lo["rate"],
                        "x",
                        0.8,
                    )
                )
        for n in sizes:
            ours = got[(label, n, "ours")]
            rows.append(
                Row(
                    f"[scale {label}] peak/retained ours {_short(n)}",
                    ours["peak"] / ours["retained"],
                    "x",
                    1.3,
                    False,
                )
            )
            peer = got.get((label, n, "official"))
            if peer is not None:
                rows.append(
                    Row(f"[scale {label}] CPU official/ours {_short(n)}", peer["cpu"] / ours["cpu"], "x")
                )
                rows.append(
                    Row(
                        f"[scale {label}] retained official/ours {_short(n)}",
                        peer["retained"] / ours["retained"],
                        "x",
                    )
                )
                rows.append(
                    Row(
                        f"[scale {label}] objects/s ours/official {_short(n)}",
                        ours["rate"] / peer["rate"],
                        "x",
                    )
                )
            for variant in RELIST_VARIANTS:
                relist = got.get((label, n, variant))
                if relist is not None:  # 1.0x: no memory beyond the cache while relisting it
                    rows.append(
                        Row(
                            f"[scale {label}] held during relist/cache {variant} {_short(n)}",
                            relist["peak"] / relist["before"],
                            "x",
                            1.3 if variant == "ours-relist" else None,
                            False,
                        )
                    )
            reuse, copy = got.get((label, n, "ours-relist")), got.get((label, n, "ours-relist-copy"))
            if reuse is not None and copy is not None:
                rows.append(
                    Row(f"[scale {label}] relist CPU copy/reuse {_short(n)}", copy["cpu"] / reuse["cpu"], "x")
                )
            for variant, what in (
                ("ours-meta", "metadata-only/full"),
                ("ours-keep", "managedFields kept/dropped"),
            ):
                other = got.get((label, n, variant))
                if other is not None:
                    rows.append(
                        Row(
                            f"[scale {label}] retained {what} {_short(n)}",
                            other["retained"] / ours["retained"],
                            "x",
                            higher_is_better=variant == "ours-keep",
                        )
                    )


# -- driver -------------------------------------------------------------------------------------------


def framing(lines: int = 50_000) -> tuple[float, float]:
    """CPU us per watch line: ``readline()`` per line vs ``readany()`` + split (what WatchStream does)."""
    from unittest import mock

    from aiohttp.streams import StreamReader

    obj = {
        "metadata": {"name": "cm-000001", "namespace": NS, "resourceVersion": "123456"},
        "data": {"p": PAYLOAD},
    }
    data = (json.dumps({"type": "MODIFIED", "object": obj}).encode() + b"\n") * lines

    def reader(loop: asyncio.AbstractEventLoop) -> StreamReader:
        r = StreamReader(mock.Mock(_reading_paused=False), 2**16, loop=loop)
        for i in range(0, len(data), 65536):
            r.feed_data(data[i : i + 65536])
        r.feed_eof()
        return r

    async def by_readline() -> float:
        r = reader(asyncio.get_running_loop())
        c = time.process_time()
        while await r.readline():
            pass
        return (time.process_time() - c) / lines * 1e6

    async def by_split() -> float:
        r = reader(asyncio.get_running_loop())
        c = time.process_time()
        partial = b""
        while chunk := await r.readany():
            parts = (partial + chunk).split(b"\n")
            partial = parts.pop()
        return (time.process_time() - c) / lines * 1e6

    return asyncio.run(by_readline()), asyncio.run(by_split())


def phase(label: str, what: str) -> None:
    print(f"# [{label}] {what}...", file=sys.stderr, flush=True)


def med(values: list[float]) -> float:
    return statistics.median(values)


def run_server(
    label: str, kubeconfig: Path, n: int, m: int, runs: int, rows: list[Row], others: bool
) -> None:
    phase(label, f"creating {n} ConfigMaps")
    asyncio.run(populate(kubeconfig, n))
    note = f"{label}, {n} objects"

    def repeat(fn: Callable[[], dict[str, float]]) -> list[dict[str, float]]:
        return [fn() for _ in range(runs)]

    # (a) list + sync
    phase(label, "list+sync, ours")
    ours = repeat(lambda: asyncio.run(ours_list(kubeconfig, n, False)))
    ours_rate = med([n / r["wall"] for r in ours])
    ours_cpu = med([r["cpu"] / n * 1e6 for r in ours])
    ours_mem = asyncio.run(ours_list(kubeconfig, n, True))["mem"]
    ref_mem = asyncio.run(json_loads_memory(kubeconfig))
    rows.append(
        Row(f"[{label}] list+sync ours", ours_rate, "objects/s", 60e3 if label == "fake" else None, note=note)
    )
    rows.append(Row(f"[{label}] list+sync ours CPU", ours_cpu, "us/object", 15.0, False))
    rows.append(
        Row(f"[{label}] cached memory ours", ours_mem, "bytes/object", note=f"json.loads: {ref_mem:.0f} B")
    )
    rows.append(Row(f"[{label}] memory ours/json.loads", ours_mem / ref_mem, "ratio", 1.1, False))

    # (b) watch
    phase(label, "watch replay, ours")
    replay = repeat(lambda: asyncio.run(ours_watch(kubeconfig, m, n, live=False)))
    rows.append(
        Row(
            f"[{label}] watch replay ours",
            med([m / r["wall"] for r in replay]),
            "events/s",
            40e3,
            note=f"{m} events",
        )
    )
    rows.append(
        Row(
            f"[{label}] watch replay ours CPU",
            med([r["cpu"] / m * 1e6 for r in replay]),
            "us/event",
            higher_is_better=False,
        )
    )
    phase(label, "watch live, ours")
    live = repeat(lambda: asyncio.run(ours_watch(kubeconfig, m, n, live=True)))
    live_cpu = med([r["cpu"] / m * 1e6 for r in live])
    rows.append(
        Row(
            f"[{label}] watch live ours",
            med([m / r["wall"] for r in live]),
            "events/s",
            note="bounded by the generator",
        )
    )
    rows.append(Row(f"[{label}] watch live ours CPU", live_cpu, "us/event", 50.0, False))
    fifo_watch_rows(label, kubeconfig, n, m, runs, rows)
    if not others:
        return

    # (c) the others, as ratios to ours
    phase(label, "list, kubernetes-asyncio typed")
    aio = [asyncio.run(aio_list(kubeconfig, n, False)) for _ in range(runs)]
    aio_mem = asyncio.run(aio_list(kubeconfig, n, True))["mem"]
    phase(label, "list, official SharedInformer")
    off = [official_list(kubeconfig, n, False) for _ in range(runs)]
    off_mem = official_list(kubeconfig, n, True)["mem"]
    for name, res, mem in (("k8s-aio typed", aio, aio_mem), ("official informer", off, off_mem)):
        rate = med([n / r["wall"] for r in res])
        cpu = med([r["cpu"] / n * 1e6 for r in res])
        rows.append(
            Row(f"[{label}] list {name}", rate, "objects/s", note=f"{cpu:.1f} us CPU, {mem:.0f} B/object")
        )
        rows.append(
            Row(f"[{label}] list CPU {name}/ours", cpu / ours_cpu, "x", 4.0 if "official" in name else None)
        )
        rows.append(
            Row(
                f"[{label}] list wall ours vs {name}",
                ours_rate / rate,
                "x",
                2.0 if "official" in name else None,
            )
        )
    phase(label, "watch replay, kubernetes-asyncio typed")
    aio_replay = asyncio.run(aio_watch(kubeconfig, m, n, live=False))
    phase(label, "watch replay, official typed watch")
    off_replay = official_watch(kubeconfig, m, n, live=False)
    phase(label, "watch live, kubernetes-asyncio typed")
    aio_live = asyncio.run(aio_watch(kubeconfig, m, n, live=True))
    phase(label, "watch live, official SharedInformer")
    off_live = official_watch(kubeconfig, m, n, live=True)
    ours_replay_rate = med([m / r["wall"] for r in replay])
    for name, rp, lv in (("k8s-aio typed", aio_replay, aio_live), ("official", off_replay, off_live)):
        rows.append(
            Row(
                f"[{label}] replay {name}",
                m / rp["wall"],
                "events/s",
                note=f"ours {ours_replay_rate / (m / rp['wall']):.1f}x faster",
            )
        )
        lcpu = lv["cpu"] / m * 1e6
        rows.append(Row(f"[{label}] live CPU {name}", lcpu, "us/event", note=f"{lcpu / live_cpu:.1f}x ours"))


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "_scale":
        scale_child(argv[1:])
        return
    if argv and argv[0] == "_generate":
        kubeconfig, count, objects, salt = argv[1:5]
        asyncio.run(update_many(Path(kubeconfig), int(count), int(objects), salt))
        return
    parser = argparse.ArgumentParser(description="informer data path")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quick", action="store_true", help="small sizes, ours only, one server (< 30 s)")
    parser.add_argument("--objects", type=int, default=None)
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--fake-objects", type=int, default=None, help="list size on the fake (e.g. 100000)")
    parser.add_argument("--servers", default="envtest,fake")
    scaling = parser.add_argument_group("scaling table (cachescale)")
    scaling.add_argument(
        "--scale-fake",
        default=None,
        metavar="SIZES",
        help="comma-separated list sizes on the fake (default 10000,100000,300000,1000000; --quick 2000; '' none)",
    )
    scaling.add_argument(
        "--scale-envtest",
        default=None,
        metavar="SIZES",
        help="sizes on envtest (default 10000,50000; --quick none)",
    )
    scaling.add_argument("--scale-variants", default=",".join(SCALE_VARIANTS), help=",".join(SCALE_VARIANTS))
    scaling.add_argument(
        "--peer-max", type=int, default=100_000, help="largest size the official informer lists"
    )
    scaling.add_argument("--scale-only", action="store_true", help="only the scaling table")
    args = parser.parse_args(argv)
    variants = [v for v in args.scale_variants.split(",") if v]
    if set(variants) - set(SCALE_VARIANTS) or "ours" not in variants:
        parser.error(f"--scale-variants: choose among {','.join(SCALE_VARIANTS)}, ours included")

    def sizes(text: str | None, default: str) -> list[int]:
        try:
            return [int(x) for x in (default if text is None else text).split(",") if x.strip()]
        except ValueError:
            parser.error(f"sizes must be integers separated by commas, got {text!r}")

    fake_sizes = sizes(args.scale_fake, "2000" if args.quick else "10000,100000,300000,1000000")
    envtest_sizes = sizes(args.scale_envtest, "" if args.quick else "10000,50000")
    n = args.objects or (2000 if args.quick else 10_000)
    m = args.events or (2000 if args.quick else 10_000)
    runs = 1 if args.quick else args.runs
    args.runs = runs
    rows: list[Row] = []
    servers = [s for s in args.servers.split(",") if s]
    unknown = set(servers) - {"envtest", "fake"}
    if unknown:
        parser.error(f"unknown servers {sorted(unknown)}; use envtest and/or fake")
    if args.scale_only:  # the scaling table alone: no micro rows, no data-path servers
        servers = []
    else:
        readline, split = (statistics.median(v) for v in zip(*(framing() for _ in range(3)), strict=True))
        rows.append(Row("[micro] watch framing readline()", readline, "us/line", higher_is_better=False))
        rows.append(
            Row("[micro] watch framing readany+split", split, "us/line", higher_is_better=False, note="used")
        )
        fifo_rows(min(n, 1000), m, max(runs, 3), rows)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for server in servers:
            if server == "envtest" and not os.environ.get("KUBEBUILDER_ASSETS"):
                print("# envtest skipped: KUBEBUILDER_ASSETS is not set", file=sys.stderr)
                continue
            start = envtest_server if server == "envtest" else fake_server
            try:
                with start(tmp) as kubeconfig:
                    count = (args.fake_objects or n) if server == "fake" else n
                    run_server(server, kubeconfig, count, m, runs, rows, others=not args.quick)
            except Exception as exc:  # a missing server is reported, not fatal
                print(f"# {server} skipped: {type(exc).__name__}: {exc}", file=sys.stderr)
            if args.quick and rows:
                break
        if fake_sizes or envtest_sizes:
            if args.quick:
                variants = [v for v in variants if v != "official"]
            run_scaling(tmp, fake_sizes, envtest_sizes, runs, args.peer_max, variants, rows)
    report("informer data path (the machine is shared and loaded: read medians)", rows, args)


if __name__ == "__main__":
    main()
