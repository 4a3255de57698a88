"""Sharding one controller across replicas: what each replica holds and does, and what moves.

Processes: the in-memory API server in its own process (or envtest's kube-apiserver + etcd), and
1, 2, 3 replicas of a sharded ConfigMap controller, each its own process
(``benchmarks/_sharding_replica.py``: the Manager with ``sharding=ShardingOptions(...)``). Per
replica count it measures:

* cached objects and the memory they retain (deep size of the cached dicts), and the process's
  RSS growth after sync, per replica;
* reconciles/s of a CPU-bound reconcile (``--work-ms`` of Python work per object) over the initial
  sync of ``--objects`` objects, created already labelled for their shards (so the sharder's own
  speed is not in the number); ratio to 1 replica;
* assignment delay of new, unlabelled objects: from the create's answer to the shard label appearing
  in a watch (p50/p99);
* with 2 replicas, a third joins; with 3, one is killed (SIGKILL): time until every object is on a
  live shard again without drain label, and how many objects moved; and whether two replicas were
  ever inside one object's reconcile (from the replicas' enter/exit records: must be 0).

Plus a simulation (no processes): rings of 10, 100, 1000 shards with 1M keys: load max/mean, and the
fraction of keys moved when one shard joins or leaves (ideal: 1/(N+1) and 1/N).

    python benchmarks/sharding.py                     # 10k objects, fake and envtest, 1M keys
    python benchmarks/sharding.py --quick --json      # smoke: 200 objects, fake, 1-2 replicas
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import Row, parse_args, report
from benchmarks._sharding_replica import RING, overlaps, read_events
from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.sharding import HashRing, object_key, shard_label
from pycontroller.sharding.options import DEFAULT_DOMAIN, drain_label

CONFIGMAPS = GroupVersionResource("", "v1", "configmaps")
SHARD = shard_label(DEFAULT_DOMAIN, RING)
DRAIN = drain_label(DEFAULT_DOMAIN, RING)
LEASE = "6,4,1"  # lease_duration, renew_deadline, retry_period (a loaded 2-core machine)
ROOT = Path(__file__).resolve().parent.parent


# -- simulation ---------------------------------------------------------------------------------------


def simulate(rows: list[Row], keys: int, sizes: list[int]) -> None:
    names = [f"/ConfigMap/ns-{i % 100}/object-{i}" for i in range(keys)]
    for size in sizes:
        shards = [f"shard-{i}" for i in range(size)]
        ring = HashRing(shards)
        before = [ring.shard_for(k) for k in names]
        load = Counter(before)
        mean = keys / size
        rows.append(
            Row(
                f"[sim {size} shards] load max/mean",
                max(load.values()) / mean,
                "ratio",
                higher_is_better=False,
            )
        )
        joined = ring.with_shards([*shards, "shard-new"])
        moved = sum(1 for k, b in zip(names, before, strict=True) if joined.shard_for(k) != b)
        rows.append(
            Row(
                f"[sim {size} shards] moved on join",
                moved / keys,
                "fraction",
                note=f"ideal {1 / (size + 1):.4f}",
            )
        )
        left = ring.with_shards(shards[1:])
        moved = sum(1 for k, b in zip(names, before, strict=True) if left.shard_for(k) != b)
        rows.append(
            Row(f"[sim {size} shards] moved on leave", moved / keys, "fraction", note=f"ideal {1 / size:.4f}")
        )


# -- servers and replicas ----------------------------------------------------------------------------


@contextmanager
def server(kind: str, tmp: Path) -> Iterator[tuple[Path, list[int]]]:
    """The server's kubeconfig and the pids of its processes (for their CPU time)."""
    if kind == "envtest":
        from pycontroller.testing.envtest import EnvTest

        env = EnvTest()
        env.start_sync()
        try:
            pids = [p.pid for p in getattr(env, "_procs", {}).values()]
            yield env.write_kubeconfig(tmp / "envtest.kubeconfig"), pids
        finally:
            env.stop_sync()
    else:
        from pycontroller.testing.serve_process import fake_api_server_process

        with fake_api_server_process(tmp) as served:
            yield served.kubeconfig, [served.process.pid]


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def runqueue_wait(pid: int) -> float:
    """Seconds the process's main thread has spent runnable but waiting for a core (Linux
    /proc/<pid>/schedstat): the time other processes of the machine took from it. NaN when unreadable."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process so far (Linux /proc), NaN when unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / _TICK


async def rest_client(kubeconfig: Path) -> RestClient:
    from kubernetes_asyncio import client, config

    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    return RestClient(client.ApiClient(cfg), owns_api_client=True)


class Replica:
    """A replica process; :meth:`supervise` restarts it after an error exit (a lost Lease), as a
    Deployment would."""

    def __init__(
        self,
        tmp: Path,
        kubeconfig: Path,
        namespace: str,
        name: str,
        work_ms: float,
        profile: bool = False,
        writes: int = 8,
    ) -> None:
        self.name = name
        self.profile = tmp / f"{namespace}-{name}.prof" if profile else None
        self.writes = writes
        self.events = tmp / f"{namespace}-{name}.events"
        self.stats_path = tmp / f"{namespace}-{name}.json"
        self.log = (tmp / f"{namespace}-{name}.log").open("ab")
        self.args = (kubeconfig, namespace, work_ms)
        self.restarts = 0
        self.stopped = False
        self.start()

    def supervise(self) -> None:
        if not self.stopped and self.proc.poll() not in (None, 0):
            self.restarts += 1
            self.start()

    def start(self) -> None:
        kubeconfig, namespace, work_ms = self.args
        name = self.name
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "benchmarks._sharding_replica", "--kubeconfig", str(kubeconfig),
                "--namespace", namespace, "--name", name, "--events", str(self.events),
                "--stats", str(self.stats_path), "--work-ms", str(work_ms), "--lease", LEASE,
                "--max-concurrent-writes", str(self.writes),
                *(["--profile", str(self.profile)] if self.profile else []),
            ],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def stats(self) -> dict[str, Any]:
        import json

        try:
            data: dict[str, Any] = json.loads(self.stats_path.read_text())
            return data
        except (OSError, ValueError):
            return {}

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class EventTail:
    """The keys a replica finished reconciling, read incrementally from its events file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""
        self.keys: set[str] = set()

    def poll(self) -> set[str]:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return self.keys
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            if line.startswith(b"exit "):
                self.keys.add(line.split()[1].decode())
        return self.keys


_replicas: list[Replica] = []


async def wait_for(check: Any, timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while True:
        for r in _replicas:
            r.supervise()
        if await check():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout}s")
        await asyncio.sleep(interval)


async def list_labels(rest: RestClient, namespace: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    token = None
    while True:
        page = await rest.list(CONFIGMAPS, namespace, limit=2000, **{"continue": token})
        for obj in page["items"]:
            out[obj["metadata"]["name"]] = obj["metadata"].get("labels") or {}
        token = page["metadata"].get("continue")
        if not token:
            return out


async def create_many(
    rest: RestClient, namespace: str, objs: list[dict[str, Any]], concurrency: int = 16
) -> None:
    it = iter(objs)

    async def worker() -> None:
        for obj in it:
            await rest.create(CONFIGMAPS, obj, namespace)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def q(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))] if values else float("nan")


async def run_replicas(
    kind: str,
    kubeconfig: Path,
    server_pids: list[int],
    tmp: Path,
    n: int,
    args: Any,
    rows: list[Row],
    base: dict[str, float],
) -> None:
    rest = await rest_client(kubeconfig)
    namespace = f"bench-{kind}-{n}-{os.getpid()}"
    await rest.request("POST", "/api/v1/namespaces", body={"metadata": {"name": namespace}})
    names = [f"replica-{i}" for i in range(n)]
    ring = HashRing(names)
    objs = []
    for i in range(args.objects):
        obj = {"metadata": {"name": f"cm-{i:06d}"}, "data": {"payload": "x" * 300}}
        obj["metadata"]["labels"] = {
            SHARD: ring.shard_for(
                object_key("", "ConfigMap", obj | {"metadata": obj["metadata"] | {"namespace": namespace}})
            )
            or ""
        }
        objs.append(obj)
    await create_many(rest, namespace, objs)
    replicas = [
        Replica(tmp, kubeconfig, namespace, name, args.work_ms, args.profile, args.max_concurrent_writes)
        for name in names
    ]
    _replicas[:] = replicas
    label = f"[{kind} {n} replica{'s' if n > 1 else ''}]"
    try:
        server_cpu: list[float] = []
        waits: list[list[float]] = []

        tails = [EventTail(r.events) for r in replicas]

        async def synced() -> bool:
            # Read only what the replicas appended since the last look: parsing every events file
            # whole ten times a second would take the CPU the replicas are measured with.
            done: set[str] = set().union(*(t.poll() for t in tails))
            if done and not server_cpu:  # at the first reconcile
                server_cpu.append(sum(cpu_seconds(p) for p in server_pids))
                waits.append([runqueue_wait(r.proc.pid) for r in replicas])
            return len(done) >= args.objects

        await wait_for(synced, 600, f"{label} initial sync", interval=0.1)
        server_cpu.append(sum(cpu_seconds(p) for p in server_pids))
        waits.append([runqueue_wait(r.proc.pid) for r in replicas])
        replica_cpu = [cpu_seconds(r.proc.pid) for r in replicas]
        events = read_events({r.name: r.events for r in replicas})
        # The window: from the first reconcile any replica started to the last one any replica
        # ended: the whole system's reconcile phase, the same definition for every replica count.
        starts = [s[0] for spans in events.values() for s in spans]
        ends = [s[1] for spans in events.values() for s in spans]
        window = (max(ends) - min(starts)) / 1e9
        rate = args.objects / window
        base.setdefault(kind, rate)
        per_replica = {
            r: (
                min(s[0] for v in events.values() for s in v if s[2] == r),
                max(s[1] for v in events.values() for s in v if s[2] == r),
            )
            for r in {s[2] for v in events.values() for s in v}
        }
        skew = (max(a for a, _ in per_replica.values()) - min(a for a, _ in per_replica.values())) / 1e9
        stats = [r.stats() for r in replicas]
        phase_cpu = [
            total - (st.get("cpu_first_reconcile") or 0.0)
            for total, st in zip(replica_cpu, stats, strict=True)
        ]
        rows.append(
            Row(
                f"{label} reconcile phase: window",
                window,
                "s",
                higher_is_better=False,
                note=f"replicas' first reconciles {skew:.2f} s apart",
            )
        )
        rows.append(
            Row(
                f"{label} reconcile phase: CPU per replica",
                max(phase_cpu),
                "s",
                higher_is_better=False,
                note="max; all: "
                + ", ".join(f"{c:.1f}" for c in phase_cpu)
                + f"; {args.objects * args.work_ms / 1000 / n:.1f} s of it is the reconciles' own work",
            )
        )
        rows.append(
            Row(
                f"{label} reconcile phase: replicas waiting for a core",
                max(b - a for a, b in zip(waits[0], waits[-1], strict=True)),
                "s",
                higher_is_better=False,
                note="max per replica: runnable, but the cores were busy (other processes, the server)",
            )
        )
        rows.append(
            Row(
                f"{label} reconcile phase: CPU of the API server",
                server_cpu[-1] - server_cpu[0],
                "s",
                higher_is_better=False,
            )
        )
        cached = max(s["cached"] for s in stats)
        mem = max(s["rss"] - s["rss_baseline"] for s in stats) / 2**20
        cache = max(s["cache_bytes"] for s in stats) / 2**20
        base.setdefault(f"{kind}-mem", mem)
        base.setdefault(f"{kind}-cache", cache)
        rows.append(
            Row(
                f"{label} cached objects, max per replica",
                cached,
                "objects",
                target=1.2 * args.objects / n,
                higher_is_better=False,
            )
        )
        rows.append(
            Row(
                f"{label} cached objects' memory, max per replica",
                cache,
                "MiB",
                target=1.2 * base[f"{kind}-cache"] / n,
                higher_is_better=False,
                note="deep size of the cached dicts",
            )
        )
        rows.append(
            Row(
                f"{label} RSS growth after sync, max per replica",
                mem,
                "MiB",
                higher_is_better=False,
                note="the whole process, not only the cache",
            )
        )
        rows.append(
            Row(
                f"{label} reconciles/s ({args.work_ms:g} ms CPU each)",
                rate,
                "1/s",
                target=1.7 * base[kind] if n == 2 else None,
                note=f"{rate / base[kind]:.2f}x 1 replica; the ring's split "
                f"({max(s['cached'] for s in stats) / args.objects:.1%} on the busiest) bounds it at "
                f"{args.objects / max(s['cached'] for s in stats):.2f}x",
            )
        )
        if args.throughput_only:
            return

        # assignment delay: new, unlabelled objects, until their label shows up in a watch
        created: dict[str, float] = {}
        labelled: dict[str, float] = {}
        from pycontroller.cache.informer import SharedIndexInformer

        watcher = SharedIndexInformer(rest, CONFIGMAPS, namespace=namespace, label_selector=SHARD)

        class Seen:
            def on_add(self, obj: Any, is_in_initial_list: bool = False) -> None:
                labelled.setdefault(obj["metadata"]["name"], time.monotonic())

            def on_update(self, old: Any, new: Any) -> None:
                self.on_add(new)

            def on_delete(self, obj: Any) -> None:
                pass

        watcher.add_event_handler(Seen())
        watcher.start()
        await watcher.wait_for_sync(60)
        for i in range(args.new_objects):
            name = f"new-{i:05d}"
            await rest.create(CONFIGMAPS, {"metadata": {"name": name}}, namespace)
            created[name] = time.monotonic()

        async def all_labelled() -> bool:
            return all(k in labelled for k in created)

        await wait_for(all_labelled, 120, f"{label} assignment", interval=0.05)
        delays = [max(0.0, labelled[k] - created[k]) * 1000 for k in created]
        rows.append(Row(f"{label} assignment delay p50", q(delays, 0.5), "ms", higher_is_better=False))
        rows.append(Row(f"{label} assignment delay p99", q(delays, 0.99), "ms", higher_is_better=False))

        if n in (2, 3):
            before = await list_labels(rest, namespace)
            if n == 2:
                replicas.append(
                    Replica(
                        tmp,
                        kubeconfig,
                        namespace,
                        "replica-joined",
                        args.work_ms,
                        writes=args.max_concurrent_writes,
                    )
                )
                _replicas[:] = replicas
                what, live = "a replica joins", {r.name for r in replicas}
            else:
                victim = replicas[-1]
                victim.stopped = True
                victim.proc.kill()
                victim.proc.wait()
                what, live = "a replica dies (SIGKILL)", {r.name for r in replicas} - {victim.name}
            t0 = time.monotonic()
            server_at_t0 = sum(cpu_seconds(p) for p in server_pids)
            target = HashRing(live)
            want = {name: target.shard_for(f"/ConfigMap/{namespace}/{name}") for name in before}

            async def settled() -> bool:
                # From the watch's cache (the labelled objects), not by listing 10k objects again
                # and again: that would load the server the moves need.
                for name, shard in want.items():
                    obj = watcher.indexer.get_by_key(f"{namespace}/{name}")
                    labels = (obj["metadata"].get("labels") or {}) if obj is not None else {}
                    if labels.get(SHARD) != shard or DRAIN in labels:
                        return False
                return True

            await wait_for(settled, 600, f"{label} {what}", interval=0.1)
            took = time.monotonic() - t0
            server_move_cpu = sum(cpu_seconds(p) for p in server_pids) - server_at_t0
            after = await list_labels(rest, namespace)
            moved = sum(1 for k in before if before[k].get(SHARD) != after.get(k, {}).get(SHARD))
            total = len(before)
            rows.append(
                Row(
                    f"{label} {what}: time to settle",
                    took,
                    "s",
                    higher_is_better=False,
                    note=f"lease {LEASE}",
                )
            )
            rows.append(
                Row(
                    f"{label} {what}: CPU of the API server until settled",
                    server_move_cpu,
                    "s",
                    higher_is_better=False,
                )
            )
            rows.append(
                Row(
                    f"{label} {what}: objects moved",
                    moved / total,
                    "fraction",
                    note=f"{moved}/{total}, ideal {1 / len(live) if n == 2 else 1 / n:.3f}",
                )
            )
        await watcher.stop()
        events = read_events({r.name: r.events for r in replicas})
        rows.append(
            Row(
                f"{label} moments two replicas reconciled one object",
                len(overlaps(events)),
                "count",
                target=0,
                higher_is_better=False,
            )
        )
    finally:
        for r in replicas:
            r.stop()
        try:
            await rest.request("DELETE", f"/api/v1/namespaces/{namespace}")
        finally:
            await rest.close()


def main(argv: list[str] | None = None) -> None:
    def flags(parser: Any) -> None:
        parser.add_argument("--objects", type=int, default=None, help="objects per run (10000; --quick 200)")
        parser.add_argument("--replicas", default=None, help="replica counts, e.g. 1,2,3 (--quick: 1,2)")
        parser.add_argument("--servers", default=None, help="fake,envtest (--quick: fake)")
        parser.add_argument("--work-ms", type=float, default=2.0, help="CPU per reconcile (2 ms)")
        parser.add_argument(
            "--new-objects", type=int, default=None, help="objects for the assignment delay (200)"
        )
        parser.add_argument("--keys", type=int, default=None, help="simulated keys (1M; --quick 20k)")
        parser.add_argument("--ring-sizes", default="10,100,1000", help="simulated ring sizes")
        parser.add_argument(
            "--simulate-only", action="store_true", help="no processes, just the ring simulation"
        )
        parser.add_argument(
            "--throughput-only", action="store_true", help="only the initial sync (no assignment, no moves)"
        )
        parser.add_argument(
            "--profile", action="store_true", help="cProfile each replica (files kept in --keep-dir)"
        )
        parser.add_argument(
            "--max-concurrent-writes",
            type=int,
            default=8,
            help="the sharder's label writes in flight (ShardingOptions.max_concurrent_writes; 1 = one at a time)",
        )
        parser.add_argument("--keep-dir", default=None, help="keep replica logs, events and profiles here")

    args = parse_args("sharding", argv, add_arguments=flags)
    args.objects = args.objects or (200 if args.quick else 10_000)
    args.new_objects = args.new_objects or (20 if args.quick else 200)
    keys = args.keys or (20_000 if args.quick else 1_000_000)
    sizes = [int(s) for s in args.ring_sizes.split(",") if s]
    counts = [int(s) for s in (args.replicas or ("1,2" if args.quick else "1,2,3")).split(",") if s]
    servers = [s for s in (args.servers or ("fake" if args.quick else "fake,envtest")).split(",") if s]
    if set(servers) - {"fake", "envtest"}:
        raise SystemExit("--servers takes fake and/or envtest")
    rows: list[Row] = []
    simulate(rows, keys, sizes)
    if not args.simulate_only:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(args.keep_dir or tmp_name)
            tmp.mkdir(parents=True, exist_ok=True)
            for kind in servers:
                if kind == "envtest" and not os.environ.get("KUBEBUILDER_ASSETS"):
                    print("# envtest skipped: KUBEBUILDER_ASSETS is not set", file=sys.stderr)
                    continue
                base: dict[str, float] = {}
                with server(kind, tmp) as (kubeconfig, pids):
                    for n in counts:
                        try:
                            asyncio.run(run_replicas(kind, kubeconfig, pids, tmp, n, args, rows, base))
                        except Exception as exc:  # reported, and the other runs still measured
                            print(f"# [{kind} {n}] failed: {type(exc).__name__}: {exc}", file=sys.stderr)
                            rows.append(Row(f"[{kind} {n} replicas] FAILED: {exc}", 0, "-"))
    report("sharding (one run each; the machine is shared: read ratios)", rows, args)


if __name__ == "__main__":
    main()
