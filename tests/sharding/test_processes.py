"""Replicas as separate processes (benchmarks/_sharding_replica.py) on both API servers: they
join, one dies by SIGKILL, one leaves by SIGTERM; the reconciles they report never overlap."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks._sharding_replica import overlaps, read_events
from pycontroller.client import RestClient
from tests.sharding.cluster import CONFIGMAPS, DRAIN_LABEL, SHARD_LABEL, eventually

pytestmark = pytest.mark.asyncio
ROOT = Path(__file__).resolve().parents[2]


LEASE = "6,4,1"  # lease_duration,renew_deadline,retry_period: room for a loaded 2-core machine


class Proc:
    """A replica process, restarted when it exits with an error (a lost Lease), like a pod."""

    def __init__(self, tmp: Path, kubeconfig: Path, namespace: str, name: str) -> None:
        self.name = name
        self.events = tmp / f"{name}.events"
        self.stats = tmp / f"{name}.json"
        self.log = (tmp / f"{name}.log").open("ab")
        self.args = (kubeconfig, namespace)
        self.restarts = 0
        self.stopped = False
        self.start()

    def start(self) -> None:
        kubeconfig, namespace = self.args
        name = self.name
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "benchmarks._sharding_replica",
                "--kubeconfig", str(kubeconfig), "--namespace", namespace, "--name", name,
                "--events", str(self.events), "--stats", str(self.stats), "--work-ms", "1", "--lease", LEASE,
            ],
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def supervise(self) -> None:
        if not self.stopped and self.proc.poll() not in (None, 0):
            self.restarts += 1
            self.start()

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        """Signal the process and wait for it off the loop (the fake API server shares the loop)."""
        self.stopped = True
        if self.alive:
            os.kill(self.proc.pid, sig)
            try:
                await asyncio.to_thread(self.proc.wait, 30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                await asyncio.to_thread(self.proc.wait)
        self.log.close()


def last_reconciled(procs: list[Proc]) -> dict[tuple[str, str], str]:
    events = read_events({p.name: p.events for p in procs})
    out: dict[tuple[str, str], str] = {}
    for key, spans in events.items():
        for _, _, replica, rv in sorted(spans):
            out[(replica, key)] = rv
    return out


@pytest.mark.timeout(600)
async def test_replica_processes_never_overlap_and_converge_after_a_kill_and_a_leave(
    rest_client: RestClient, namespace: str, kubeconfig: Path, tmp_path: Path
) -> None:
    procs = [Proc(tmp_path, kubeconfig, namespace, f"proc-{i}") for i in range(2)]
    live = list(procs)

    async def converged() -> bool:
        for p in live:
            p.supervise()
        items = (await rest_client.list(CONFIGMAPS, namespace))["items"]
        seen = last_reconciled(procs)
        names = {p.name for p in live}
        for obj in items:
            meta = obj["metadata"]
            labels = meta.get("labels") or {}
            shard = labels.get(SHARD_LABEL)
            if shard not in names or DRAIN_LABEL in labels:
                return False
            if seen.get((shard, f"{namespace}/{meta['name']}")) != meta["resourceVersion"]:
                return False
        return True

    try:
        for i in range(12):
            await rest_client.create(
                CONFIGMAPS, {"metadata": {"name": f"cm-{i}"}, "data": {"v": "0"}}, namespace
            )
        await eventually(converged, timeout=100, interval=0.25, what="two processes")
        third = Proc(tmp_path, kubeconfig, namespace, "proc-2")
        procs.append(third)
        live.append(third)

        async def third_took_a_share() -> bool:
            return any(r == "proc-2" for r, _ in last_reconciled(procs)) and await converged()

        await eventually(third_took_a_share, timeout=100, interval=0.25, what="a third process joined")
        live.remove(procs[0])
        await procs[0].stop(signal.SIGKILL)
        for i in range(3):
            await rest_client.patch(CONFIGMAPS, f"cm-{i}", {"data": {"v": str(time.time())}}, namespace)
        await eventually(converged, timeout=100, interval=0.25, what="after a SIGKILL")
        live.remove(procs[1])
        await procs[1].stop(signal.SIGTERM)
        assert procs[1].proc.returncode == 0
        await eventually(converged, timeout=100, interval=0.25, what="after a SIGTERM")
        assert overlaps(read_events({p.name: p.events for p in procs})) == []
    finally:
        for p in procs:
            await p.stop()
