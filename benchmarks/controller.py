"""Controller throughput and event-to-reconcile latency, pycontroller vs kopf, on the fake API server.

    python benchmarks/controller.py [--runs 3] [--json] [--quick] [--large] [--no-kopf]

The fake API server runs in its own process (``python -m pycontroller.testing serve``), and so does
each controller under test, so the child's CPU time (``time.process_time``) is the controller's
alone. The parent creates the objects. Workload: ConfigMaps in a fresh namespace per run.

* backlog: N objects exist before the controller starts; reconciles/s from ``run()`` to the N-th
  reconcile (list, informer, handler, queue, workers), and child CPU per reconcile.
* live: the controller runs, the parent creates N objects paced at ``--rate`` (1000/s); latency from
  just before each create request (its time is written in an annotation) to its reconcile, p50/p99
  (this includes the server and the creator, so it suffers most on a loaded machine), and, for
  pycontroller, from the watch event reaching the controller's handler to the reconcile starting.
* builder: the same controller made by ``mgr.controller(...).for_("v1", "ConfigMap").complete()``,
  its backlog runs alternating with the hand-wired one's (same run, same machine): rate and CPU.
* modes: ``noop`` (reconcile reads the cache only) and ``write`` (one PATCH of an annotation per
  object; the follow-up event is reconciled as a no-op).
* API writes by the controller are counted from the server's resourceVersion (creations excluded):
  a no-op reconcile should cost none.

kopf runs the same work as ``@kopf.on.create`` (and ``on.resume``) handlers with its default settings
(it stores progress in annotations, one extra PATCH per object, and posts Events). Sizes: N=1000
(10000 with ``--large``); workers 1, 4 and 16 for pycontroller.

``--priority`` instead measures the opt-in low-priority lane: 50 objects created while 3000 listed
ones are being reconciled (2 ms each), their create-to-reconcile latency with and without it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import Row, report
from pycontroller.testing.serve_process import fake_api_server_process

ANNOTATION = "bench.pycontroller.io/t0"
DONE = "bench.pycontroller.io/done"


# -- the fake server, in its own process ----------------------------------------------------------------


@contextmanager
def fake_server(tmp: Path) -> Iterator[Path]:
    """The in-memory API server in a child process (its kubeconfig path), so CPU is measured apart."""
    with fake_api_server_process(tmp) as served:
        yield served.kubeconfig


async def _client(kubeconfig: Path) -> Any:
    from pycontroller.client import RestClient
    from pycontroller.config import load_configuration, new_api_client

    return RestClient(new_api_client(load_configuration(kubeconfig=str(kubeconfig))), owns_api_client=True)


def _gvr(resource: str) -> Any:
    from pycontroller.client import GroupVersionResource

    return GroupVersionResource("", "v1", resource)


async def _server_rv(client: Any) -> int:
    listing = await client.list(_gvr("namespaces"), limit=1)
    return int(listing["metadata"]["resourceVersion"])


def _configmap(i: int, prefix: str = "cm") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{prefix}-{i:06d}", "annotations": {ANNOTATION: repr(time.time())}},
        "data": {"index": str(i)},
    }


async def create_objects(
    kubeconfig: Path, namespace: str, count: int, rate: float | None, prefix: str = "cm"
) -> None:
    """Create ``count`` ConfigMaps, as fast as 32 concurrent requests allow or paced at ``rate``/s."""
    client = await _client(kubeconfig)
    gvr = _gvr("configmaps")
    try:
        if rate is None:
            queue = iter(range(count))

            async def worker() -> None:
                for i in queue:
                    await client.create(gvr, _configmap(i, prefix), namespace)

            await asyncio.gather(*(worker() for _ in range(32)))
            return
        start = time.perf_counter()
        tasks = []
        for i in range(count):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(client.create(gvr, _configmap(i, prefix), namespace)))
        await asyncio.gather(*tasks)
    finally:
        await client.close()


async def make_namespace(kubeconfig: Path) -> str:
    client = await _client(kubeconfig)
    name = f"bench-{uuid.uuid4().hex[:8]}"
    try:
        await client.create(
            _gvr("namespaces"), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        )
    finally:
        await client.close()
    return name


async def server_rv(kubeconfig: Path) -> int:
    client = await _client(kubeconfig)
    try:
        return await _server_rv(client)
    finally:
        await client.close()


# -- the children: one controller each -------------------------------------------------------------------


class Tally:
    """Counts first reconciles per object and their latencies; says when all N were seen."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.seen: set[str] = set()
        self.latencies: list[float] = []
        self.event_latencies: list[float] = []
        self.arrivals: dict[str, float] = {}
        self.last = 0.0
        self.done = asyncio.Event()

    def record(self, key: str, t0: str | None, started: float | None = None) -> None:
        if key in self.seen:
            return
        now = time.time()
        self.seen.add(key)
        arrived = self.arrivals.pop(key, None)
        if arrived is not None and started is not None:
            self.event_latencies.append(started - arrived)
        if t0:
            self.latencies.append(now - float(t0))
        self.last = time.perf_counter()
        if len(self.seen) >= self.count:
            self.done.set()


def _emit(result: dict[str, Any]) -> None:
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


async def child_ours(args: argparse.Namespace) -> None:
    from pycontroller import metrics as _metrics  # noqa: F401 - registers the collector
    from pycontroller.controller import Controller
    from pycontroller.handler import EventHandler
    from pycontroller.manager import Manager

    tally = Tally(args.count)
    mgr = Manager(
        kubeconfig=args.kubeconfig, namespace=args.namespace, metrics_bind_address="0", handle_signals=False
    )
    informer: Any = None
    gvr = _gvr("configmaps")
    client = mgr.client
    write = args.mode == "write"

    class TimedEnqueue(EventHandler):
        """enqueue_object() that notes when each object's first event reached the controller."""

        def create(self, obj: Any, enqueue: Any) -> None:
            key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
            tally.arrivals.setdefault(key, time.perf_counter())
            enqueue(key)

        def update(self, old: Any, new: Any, enqueue: Any) -> None:
            self.create(new, enqueue)

    slow = args.mode.startswith("slow")

    async def reconcile(key: str) -> None:
        started = time.perf_counter()
        obj = informer.indexer.get_by_key(key)
        if obj is None:
            return
        annotations = obj["metadata"].get("annotations") or {}
        if slow:
            await asyncio.sleep(0.002)  # an API round trip's worth of waiting
            # Only the objects created after start count for latency.
            tally.record(key, annotations.get(ANNOTATION) if "/new-" in key else None, started)
            return
        if write and DONE not in annotations:
            meta = obj["metadata"]
            await client.patch(
                gvr, meta["name"], {"metadata": {"annotations": {DONE: "1"}}}, meta["namespace"]
            )
        tally.record(key, annotations.get(ANNOTATION), started)

    if args.child == "builder":
        # The same work, wired by the Builder: the shared informer of the kind, enqueue_object(),
        # the Controller added to the Manager. Only the handler differs (no arrival timestamps).
        informer = mgr.informer_for("v1", "ConfigMap")
        ctl = (
            mgr.controller(f"bench-{uuid.uuid4().hex[:6]}")
            .for_("v1", "ConfigMap")
            .with_options(
                max_concurrent_reconciles=args.workers, low_priority_initial=args.mode == "slow-low"
            )
            .complete(reconcile)
        )
    else:
        informer = mgr.informer_for("", "v1", "configmaps")
        ctl = Controller(
            f"bench-{uuid.uuid4().hex[:6]}",
            reconcile,
            max_concurrent_reconciles=args.workers,
            skip_name_validation=True,
            low_priority_initial=args.mode == "slow-low",
        )
        ctl.watch(informer, None if slow else TimedEnqueue())
        mgr.add(ctl)
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    run = asyncio.create_task(mgr.run())
    while not (mgr._caches_synced and ctl._workers):  # noqa: ASYNC110 - polling private state, bench only
        await asyncio.sleep(0.005)
    print("READY", flush=True)
    await tally.done.wait()
    cpu = time.process_time() - cpu0
    _emit(
        {
            "elapsed": tally.last - t0,
            "cpu": cpu,
            "latencies": tally.latencies,
            "event_latencies": tally.event_latencies,
            "count": len(tally.seen),
        }
    )
    mgr.request_shutdown()
    await run


def child_kopf(args: argparse.Namespace) -> None:
    import logging

    import kopf

    logging.getLogger("kopf").setLevel(logging.WARNING)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    tally = Tally(args.count)
    write = args.mode == "write"
    cpu0 = time.process_time()
    t0 = time.perf_counter()

    @kopf.on.startup()
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.level = logging.WARNING
        settings.watching.server_timeout = 600

    @kopf.on.resume("", "v1", "configmaps")
    @kopf.on.create("", "v1", "configmaps")
    def handler(body: Any, patch: Any, meta: Any, **_: Any) -> None:
        annotations = dict(meta.get("annotations") or {})
        if write:
            patch.metadata.annotations[DONE] = "1"
        tally.record(f"{meta['namespace']}/{meta['name']}", annotations.get(ANNOTATION))

    ready = asyncio.Event()

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(
            kopf.operator(namespaces=[args.namespace], standalone=True, ready_flag=ready, stop_flag=stop)
        )
        await ready.wait()
        print("READY", flush=True)
        await tally.done.wait()
        cpu = time.process_time() - cpu0
        _emit(
            {"elapsed": tally.last - t0, "cpu": cpu, "latencies": tally.latencies, "count": len(tally.seen)}
        )
        stop.set()
        try:
            await asyncio.wait_for(task, 10)
        except Exception:
            pass

    loop.run_until_complete(main())
    os._exit(0)


# -- one measurement ---------------------------------------------------------------------------------------


def run_child(
    kubeconfig: Path,
    system: str,
    workers: int,
    count: int,
    mode: str,
    live: bool,
    rate: float,
    new_after_start: int = 0,
) -> dict[str, Any]:
    namespace = asyncio.run(make_namespace(kubeconfig))
    if not live:
        asyncio.run(create_objects(kubeconfig, namespace, count, None))
    rv0 = asyncio.run(server_rv(kubeconfig))
    env = dict(os.environ, KUBECONFIG=str(kubeconfig))
    proc = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--child",
            system,
            "--kubeconfig",
            str(kubeconfig),
            "--namespace",
            namespace,
            "--count",
            str(count + new_after_start),
            "--workers",
            str(workers),
            "--mode",
            mode,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline()
        if not line.startswith("READY"):
            raise RuntimeError(
                f"{system} child did not start: {line!r} {proc.stderr.read()[-2000:] if proc.stderr else ''}"
            )
        if live:
            asyncio.run(create_objects(kubeconfig, namespace, count, rate))
        if new_after_start:
            asyncio.run(create_objects(kubeconfig, namespace, new_after_start, 200.0, prefix="new"))
        result = None
        for line in proc.stdout:
            if line.startswith("RESULT "):
                result = json.loads(line[7:])
                break
        if result is None:
            raise RuntimeError(
                f"{system} child gave no result: {proc.stderr.read()[-2000:] if proc.stderr else ''}"
            )
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    rv1 = asyncio.run(server_rv(kubeconfig))
    result["writes"] = rv1 - rv0 - (count if live else 0) - new_after_start
    return result


def measure_priority(args: argparse.Namespace, kubeconfig: Path) -> list[Row]:
    """New objects created while a long initial list is reconciled (2 ms each, 4 workers): their
    create-to-reconcile latency with the plain queue and with the low-priority lane."""
    n = 300 if args.quick else 3000
    rows = []
    for mode, label in (("slow", "fifo"), ("slow-low", "low-priority initial list")):
        runs = [
            run_child(kubeconfig, "ours", 4, n, mode, False, args.rate, new_after_start=50)
            for _ in range(args.runs)
        ]
        for q in (0.5, 0.99):
            rows.append(
                Row(
                    f"new objects behind N={n} backlog p{int(q * 100)} ({label})",
                    _latency_ms(runs, q),
                    "ms",
                    higher_is_better=False,
                    note="2 ms reconciles, 4 workers, 50 creates at 200/s after start",
                )
            )
    return rows


def _latency_ms(runs: list[dict[str, Any]], q: float, key: str = "latencies") -> float:
    """The median over runs of each run's q-quantile latency (``key``), in milliseconds."""
    return statistics.median(_pct(r[key], q) for r in runs) * 1e3


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(args: argparse.Namespace, kubeconfig: Path) -> list[Row]:
    sizes = [10_000] if args.large else [100 if args.quick else 1000]
    worker_counts = [1, 4, 16]
    rows: list[Row] = []
    for n in sizes:
        for mode in ("noop", "write"):
            kopf_rate = None
            if not args.no_kopf:
                runs = [run_child(kubeconfig, "kopf", 1, n, mode, False, args.rate) for _ in range(args.runs)]
                kopf_rate = statistics.median(n / r["elapsed"] for r in runs)
                kopf_cpu = statistics.median(r["cpu"] / n for r in runs)
                rows.append(
                    Row(
                        f"kopf backlog {mode} N={n}",
                        kopf_rate,
                        "reconciles/s",
                        runs=[n / r["elapsed"] for r in runs],
                    )
                )
                rows.append(
                    Row(f"kopf CPU {mode} N={n}", kopf_cpu * 1e3, "ms/object", higher_is_better=False)
                )
                rows.append(
                    Row(
                        f"kopf API writes {mode} N={n}",
                        statistics.median(r["writes"] / n for r in runs),
                        "writes/object",
                        higher_is_better=False,
                    )
                )
                live = [run_child(kubeconfig, "kopf", 1, n, mode, True, args.rate) for _ in range(args.runs)]
                rows.append(
                    Row(
                        f"kopf live p50 {mode} N={n}",
                        _latency_ms(live, 0.5),
                        "ms",
                        higher_is_better=False,
                    )
                )
                rows.append(
                    Row(
                        f"kopf live p99 {mode} N={n}",
                        _latency_ms(live, 0.99),
                        "ms",
                        higher_is_better=False,
                    )
                )
            for workers in worker_counts:
                # Hand-wired and Builder-made controllers alternate, so both see the same machine.
                runs, built = [], []
                for _ in range(args.runs):
                    runs.append(run_child(kubeconfig, "ours", workers, n, mode, False, args.rate))
                    built.append(run_child(kubeconfig, "builder", workers, n, mode, False, args.rate))
                rate = statistics.median(n / r["elapsed"] for r in runs)
                built_rate = statistics.median(n / r["elapsed"] for r in built)
                rows.append(
                    Row(
                        f"builder backlog {mode} N={n} w={workers}",
                        built_rate,
                        "reconciles/s",
                        runs=[n / r["elapsed"] for r in built],
                        note=f"{built_rate / rate:.2f}x hand-wired (same run)",
                    )
                )
                rows.append(
                    Row(
                        f"builder CPU {mode} N={n} w={workers}",
                        statistics.median(r["cpu"] / n for r in built) * 1e3,
                        "ms/object",
                        higher_is_better=False,
                        note=f"hand-wired {statistics.median(r['cpu'] / n for r in runs) * 1e3:.3f}",
                    )
                )
                note = f"{rate / kopf_rate:.1f}x kopf" if kopf_rate else ""
                rows.append(
                    Row(
                        f"ours backlog {mode} N={n} w={workers}",
                        rate,
                        "reconciles/s",
                        target=5 * kopf_rate if kopf_rate else None,
                        runs=[n / r["elapsed"] for r in runs],
                        note=note,
                    )
                )
                cpu = statistics.median(r["cpu"] / n for r in runs)
                rows.append(
                    Row(
                        f"ours CPU {mode} N={n} w={workers}",
                        cpu * 1e3,
                        "ms/object",
                        target=0.3 if mode == "noop" else None,
                        higher_is_better=False,
                    )
                )
                writes = statistics.median(r["writes"] / n for r in runs)
                rows.append(
                    Row(
                        f"ours API writes {mode} N={n} w={workers}",
                        writes,
                        "writes/object",
                        target=0.0 if mode == "noop" else 1.0,
                        higher_is_better=False,
                    )
                )
                live = [
                    run_child(kubeconfig, "ours", workers, n, mode, True, args.rate) for _ in range(args.runs)
                ]
                rows.append(
                    Row(
                        f"ours live p50 {mode} N={n} w={workers}",
                        _latency_ms(live, 0.5),
                        "ms",
                        higher_is_better=False,
                    )
                )
                rows.append(
                    Row(
                        f"ours event->reconcile p99 {mode} N={n} w={workers}",
                        _latency_ms(live, 0.99, "event_latencies"),
                        "ms",
                        target=50.0,
                        higher_is_better=False,
                        note="in-process: handler to reconcile start",
                    )
                )
                rows.append(
                    Row(
                        f"ours live p99 {mode} N={n} w={workers}",
                        _latency_ms(live, 0.99),
                        "ms",
                        higher_is_better=False,
                        note=f"at {args.rate:g} creates/s",
                    )
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quick", action="store_true", help="N=100, for a smoke run")
    parser.add_argument("--large", action="store_true", help="N=10000 instead of 1000")
    parser.add_argument("--no-kopf", action="store_true", help="skip the kopf comparison")
    parser.add_argument("--rate", type=float, default=1000.0, help="creates/s in the live phase")
    parser.add_argument(
        "--priority",
        action="store_true",
        help="only the low-priority-lane comparison (initial list vs new work)",
    )
    parser.add_argument("--child", choices=["ours", "builder", "kopf"], help=argparse.SUPPRESS)
    parser.add_argument("--kubeconfig", help=argparse.SUPPRESS)
    parser.add_argument("--namespace", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="noop", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child in ("ours", "builder"):
        asyncio.run(child_ours(args))
        return
    if args.child == "kopf":
        child_kopf(args)
        return
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    with tempfile.TemporaryDirectory() as tmp, fake_server(Path(tmp)) as kubeconfig:
        rows = measure_priority(args, kubeconfig) if args.priority else measure(args, kubeconfig)
    report(
        "controller: pycontroller vs kopf on the fake API server (separate processes; machine shared)",
        rows,
        args,
    )


if __name__ == "__main__":
    main()
