"""One replica of a sharded ConfigMap controller, as its own process (benchmarks and tests).

    python -m benchmarks._sharding_replica --kubeconfig K --namespace N --name replica-0 \
        --events E --stats S [--work-ms 2] [--lease 3,2,0.5]

Reconciles the ConfigMaps of namespace N labelled for its shard; each reconcile burns ``--work-ms``
of CPU in Python. Every reconcile appends two lines to the events file, written at once (a killed
process loses nothing it reported)::

    enter <key> <monotonic ns>
    exit <key> <monotonic ns> <resourceVersion>

CLOCK_MONOTONIC is one clock for every process of the machine, so a reader can check that no two
replicas were ever inside one key at once. The stats file (JSON, rewritten every 0.5 s) holds the
number of cached objects, reconciles, the RSS and whether the shard is ready. SIGTERM is a clean
shutdown (the shard Lease is released); SIGKILL is a death.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

from pycontroller import Manager
from pycontroller.sharding import RingResource, ShardingOptions

RING = "cms"


def rss_bytes() -> int:
    """The process's resident set size now (Linux /proc), 0 elsewhere."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def deep_size(obj: Any) -> int:
    """Bytes held by a decoded JSON value (dicts, lists, strings, numbers), counted once each."""
    import sys

    seen: set[int] = set()
    stack = [obj]
    total = 0
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        if isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, list):
            stack.extend(o)
    return total


def burn(ms: float) -> None:
    """``ms`` milliseconds of pure-Python CPU work, counted on this thread's CPU clock (not the wall
    clock: a process that shares its core does the same work per reconcile, only slower)."""
    end = time.thread_time() + ms / 1000
    x = 0
    while time.thread_time() < end:
        for i in range(200):
            x += i * i


async def main(args: argparse.Namespace) -> None:
    lease_duration, renew_deadline, retry_period = (float(x) for x in args.lease.split(","))
    events = os.open(args.events, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    baseline = rss_bytes()
    mgr = Manager(
        kubeconfig=args.kubeconfig,
        metrics_bind_address="0",
        leader_election=True,
        leader_election_id=f"sharder-{RING}",
        leader_election_namespace=args.namespace,
        leader_election_release_on_cancel=True,
        lease_duration=lease_duration,
        renew_deadline=renew_deadline,
        retry_period=retry_period,
        identity=args.name,
        namespace=args.namespace,
        sharding=ShardingOptions(
            ring=RING,
            resources=[RingResource("", "v1", "configmaps", "ConfigMap")],
            shard_name=args.name,
            lease_namespace=args.namespace,
            namespaces=[args.namespace],
            max_concurrent_writes=args.max_concurrent_writes,
            lease_duration=lease_duration,
            renew_deadline=renew_deadline,
            retry_period=retry_period,
        ),
    )
    informer = mgr.informer_for("", "v1", "configmaps")
    reconciles = 0
    first_cpu: float | None = None  # process CPU seconds at the first reconcile

    async def reconcile(key: str) -> None:
        nonlocal reconciles, first_cpu
        if first_cpu is None:
            first_cpu = time.process_time()
        os.write(events, f"enter {key} {time.monotonic_ns()}\n".encode())
        obj = informer.indexer.get_by_key(key)
        rv = obj["metadata"]["resourceVersion"] if obj is not None else "-"
        try:
            burn(args.work_ms)
            await asyncio.sleep(0)
            reconciles += 1
        finally:
            os.write(events, f"exit {key} {time.monotonic_ns()} {rv}\n".encode())

    mgr.add(mgr.sharding.controller(f"cm-{args.name}", reconcile, informer, max_concurrent_reconciles=2))

    async def stats() -> None:
        path = Path(args.stats)
        sized = (-1, 0)
        while True:
            cached = len(informer.indexer.list_keys())
            if cached != sized[0]:
                sized = (cached, deep_size(informer.indexer.list()))
            data: dict[str, Any] = {
                "name": args.name,
                "cached": cached,
                "cache_bytes": sized[1],
                "ring": len(mgr.sharding.sharder.ring.shards),
                "reconciles": reconciles,
                "rss": rss_bytes(),
                "rss_baseline": baseline,
                "ready": mgr.sharding.shard.is_ready(),
                "leader": bool(mgr.elector is not None and mgr.elector.is_leader()),
                "assigned": mgr.sharding.sharder.assigned,
                "drained": mgr.sharding.sharder.drained,
                "moved_directly": mgr.sharding.sharder.moved_directly,
                "cpu": time.process_time(),
                "cpu_first_reconcile": first_cpu,
            }
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data))
            tmp.replace(path)
            await asyncio.sleep(0.5)

    mgr.add(stats, need_leader_election=False)
    try:
        await mgr.run()
    finally:
        os.close(events)


def read_events(paths: dict[str, Path]) -> dict[str, list[tuple[int, int, str, str]]]:
    """Per key, the reconciles every replica reported: ``(enter_ns, exit_ns, replica, rv)``; one
    still inside (entered, no exit: killed mid-reconcile) ends at the reading time."""
    out: dict[str, list[tuple[int, int, str, str]]] = {}
    now = time.monotonic_ns()
    for replica, path in paths.items():
        if not path.exists():
            continue
        inside: dict[str, list[int]] = {}
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) < 3:
                continue  # a torn last line of a killed process
            if parts[0] == "enter":
                inside.setdefault(parts[1], []).append(int(parts[2]))
            elif parts[0] == "exit" and len(parts) == 4 and inside.get(parts[1]):
                start = inside[parts[1]].pop(0)
                out.setdefault(parts[1], []).append((start, int(parts[2]), replica, parts[3]))
        for key, starts in inside.items():
            for start in starts:
                out.setdefault(key, []).append((start, now, replica, "-"))
    return out


def overlaps(events: dict[str, list[tuple[int, int, str, str]]]) -> list[str]:
    """Every moment two replicas were inside one key's reconcile."""
    found = []
    for key, spans in events.items():
        spans = sorted(spans)
        for i, b in enumerate(spans):
            for a in spans[:i]:
                if b[0] < a[1] and a[2] != b[2]:
                    found.append(f"{key}: {a[2]} and {b[2]} overlapped")
    return found


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="one replica of a sharded ConfigMap controller")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--events", required=True)
    parser.add_argument("--stats", required=True)
    parser.add_argument("--work-ms", type=float, default=0.0)
    parser.add_argument("--lease", default="3,2,0.5", help="lease_duration,renew_deadline,retry_period")
    parser.add_argument("--max-concurrent-writes", type=int, default=8, help="the sharder's writes in flight")
    parser.add_argument("--profile", default=None, help="write a cProfile of the run here (at a clean exit)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("aiohttp").setLevel(logging.WARNING)
    options = parse()
    if options.profile:
        import cProfile

        with cProfile.Profile() as profile:
            try:
                asyncio.run(main(options))
            finally:
                profile.dump_stats(options.profile)
    else:
        asyncio.run(main(options))
