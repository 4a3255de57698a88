"""WebhookServer throughput: AdmissionReviews per second and latency through HTTPS.

The webhook server runs in a child process (its own core and event loop) with a trivial validator
(allows everything); this process is the client, like the API server would be: C concurrent callers,
each on its own keep-alive TLS connection, POST an AdmissionReview (a ~1 kB ConfigMap) and decode
the answer. Rows: reviews/s and p50/p99 latency at 1 and 32 concurrent callers, and the same load
against a bare aiohttp HTTPS handler answering a constant body (the baseline: what TLS and HTTP
cost without our review handling).

    python benchmarks/webhook.py [--quick] [--runs N] [--json] [--requests N]

Targets (issue 15): >= 3,000 reviews/s and p99 < 20 ms at 32 concurrent callers. Throughput is
reported per second of the server process's CPU time (the machine is shared, so wall time mostly
measures the other tenants; the wall-time rate and the load average are shown too), and as a ratio
to the bare aiohttp baseline measured in the same invocation.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import ssl
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import orjson

from benchmarks._harness import Row, parse_args, report


def _review() -> bytes:
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "bench", "namespace": "default", "labels": {"app": "bench"}},
        "data": {"payload": "x" * 800},
    }
    return orjson.dumps(
        {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": str(uuid.uuid4()),
                "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
                "resource": {"group": "", "version": "v1", "resource": "configmaps"},
                "operation": "CREATE",
                "namespace": "default",
                "name": "bench",
                "object": obj,
                "userInfo": {"username": "admin"},
            },
        }
    )


def _server_main(conn: Any) -> None:
    from aiohttp import web

    from pycontroller.webhook import WebhookServer, generate_self_signed

    async def main() -> None:
        server = WebhookServer(host="127.0.0.1", port=0, self_signed=True)
        path = server.add_validator("v1", "ConfigMap", lambda request: None)
        await server.start()
        # the baseline: bare aiohttp over HTTPS, a constant answer, same certificate kind
        bundle = generate_self_signed()
        with tempfile.TemporaryDirectory() as tmp:
            bundle.write(tmp)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(f"{tmp}/tls.crt", f"{tmp}/tls.key")
            answer = b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"x","allowed":true}}'

            async def constant(request: web.Request) -> web.Response:
                await request.read()
                return web.Response(body=answer, content_type="application/json")

            app = web.Application()
            app.router.add_post("/constant", constant)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
            await site.start()
            base_port = runner.addresses[0][1]
            conn.send(
                (
                    server.url + path,
                    server.ca_bundle,
                    f"https://127.0.0.1:{base_port}/constant",
                    bundle.ca_cert,
                )
            )
            loop = asyncio.get_running_loop()
            while await loop.run_in_executor(None, conn.recv) == "cpu":
                conn.send(time.process_time())  # the server's CPU seconds so far
            await runner.cleanup()
        await server.stop()

    asyncio.run(main())


async def _load(
    url: str, ca: bytes, requests: int, concurrency: int, conn: Any
) -> tuple[float, list[float], float]:
    """(reviews per wall second, latencies in seconds, reviews per server CPU second)."""
    ctx = ssl.create_default_context(cadata=ca.decode())
    body = _review()
    latencies: list[float] = []
    per_caller = max(1, requests // concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency, ssl=ctx)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def caller(count: int) -> None:
            for _ in range(count):
                started = time.perf_counter()
                async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
                    answer = orjson.loads(await resp.read())
                    if resp.status != 200 or not answer["response"]["allowed"]:
                        raise RuntimeError(f"unexpected answer {resp.status}: {answer}")
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(caller(2) for _ in range(concurrency)))  # warm: connections + handshakes
        latencies.clear()
        conn.send("cpu")
        cpu_before = conn.recv()
        started = time.perf_counter()
        await asyncio.gather(*(caller(per_caller) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        conn.send("cpu")
        cpu = conn.recv() - cpu_before
    return len(latencies) / elapsed, latencies, len(latencies) / max(cpu, 1e-9)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> None:
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--requests", type=int, default=6000, help="reviews per run (default 6000)")

    args = parse_args("webhook server", argv, add_arguments=add_arguments)
    requests = 200 if args.quick else args.requests
    if requests < 32:
        raise SystemExit("--requests must be at least 32")
    ctx = mp.get_context("spawn")
    conn, child = ctx.Pipe()
    proc = ctx.Process(target=_server_main, args=(child,), daemon=True)
    proc.start()
    try:
        if not conn.poll(120):
            raise RuntimeError("the webhook server process did not start")
        url, ca, base_url, base_ca = conn.recv()
        rows: list[Row] = []
        for concurrency in (1, 32):
            n = requests // 4 if concurrency == 1 else requests
            results = [asyncio.run(_load(url, ca, n, concurrency, conn)) for _ in range(args.runs)]
            base = [asyncio.run(_load(base_url, base_ca, n, concurrency, conn)) for _ in range(args.runs)]
            rates = [r for r, _, _ in results]
            cpu_rates = [c for _, _, c in results]
            base_cpu_rates = [c for _, _, c in base]
            base_rates = [r for r, _, _ in base]
            p50 = [_quantile(lat, 0.50) * 1000 for _, lat, _ in results]
            p99 = [_quantile(lat, 0.99) * 1000 for _, lat, _ in results]
            rate = statistics.median(rates)
            cpu_rate = statistics.median(cpu_rates)
            base_rate = statistics.median(base_rates)
            base_cpu_rate = statistics.median(base_cpu_rates)
            callers = f"{concurrency} caller{'s' if concurrency > 1 else ''}"
            rows.append(
                Row(
                    f"reviews per server CPU-second, {callers}",
                    cpu_rate,
                    "reviews/s",
                    target=3000.0 if concurrency == 32 else None,
                    runs=cpu_rates,
                    note=f"{cpu_rate / base_cpu_rate:.2f}x of bare aiohttp HTTPS ({base_cpu_rate:.0f}/s)",
                )
            )
            rows.append(
                Row(
                    f"  reviews per wall second, {callers}",
                    rate,
                    "reviews/s",
                    runs=rates,
                    note=f"{rate / base_rate:.2f}x of bare aiohttp HTTPS; shared machine, see the load",
                )
            )
            rows.append(Row(f"  p50 latency, {concurrency}", statistics.median(p50), "ms", None, False, p50))
            rows.append(
                Row(
                    f"  p99 latency, {concurrency}",
                    statistics.median(p99),
                    "ms",
                    target=20.0 if concurrency == 32 else None,
                    higher_is_better=False,
                    runs=p99,
                )
            )
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        rows.append(Row("machine load average (1 min)", load, "runnable"))
        report("webhook server (HTTPS, trivial validator)", rows, args)
    finally:
        conn.send("stop")
        proc.join(10)
        if proc.is_alive():
            proc.kill()


if __name__ == "__main__":
    main()
