"""FakeAPIServer throughput: list, watch fan-out, creates through kubernetes-asyncio, server-side applies.

The server runs in a child process (its own core and event loop); this process is the client.

* list: N ConfigMaps seeded in the server, one unpaginated list read with raw aiohttp and decoded
  with orjson (cyclic GC paused during the decode); objects/s = N / wall time of request + decode.
  Each object carries a managedFields entry, as every object on a real server does (the run fails
  if one does not); the row's note gives the JSON size per object.
* watch fan-out: W watchers (raw aiohttp, lines decoded with orjson) open; the server then writes
  M objects as fast as it can; events/s delivered = W*M / time from the first write to the last
  event at the last watcher. The source rate (M / that time) is shown too.
* creates: ConfigMaps created through kubernetes-asyncio's typed CoreV1Api, C concurrent callers.
* applies: server-side applies (raw aiohttp PATCH, application/apply-patch+yaml with a JSON body)
  of ConfigMaps, each changing the object: A applies spread over 100 objects, C concurrent callers.

    python benchmarks/apiserver.py [--quick] [--runs N] [--json] [--objects N] [--events M]
                                   [--watchers W] [--creates C] [--applies A]

Targets (issue 3): list >= 100k objects/s; watch fan-out >= 100k events/s delivered to 10 watchers.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing as mp
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import orjson

from benchmarks._harness import Row, median_of, parse_args, report

NS = "default"
PAYLOAD = "x" * 330  # ~600 bytes of JSON per ConfigMap before managedFields, like benchmarks/informer.py


def _cm(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": "bench", "shard": name[-1]}},
        "data": {"payload": PAYLOAD},
    }


# -- the server process -------------------------------------------------------------------------------


def _server_main(conn: Any, objects: int, events: int, watchers: int) -> None:
    from pycontroller.testing import FakeAPIServer

    async def main() -> None:
        server = FakeAPIServer(
            history_size=max(10_000, events + 10), watch_queue_limit=max(100_000, 2 * events)
        )
        for i in range(objects):
            server.add_object(_cm(f"seed-{i:07d}"))
        await server.start()
        conn.send(server.port)
        loop = asyncio.get_running_loop()
        while True:
            command = await loop.run_in_executor(None, conn.recv)
            if command == "stop":
                break
            if command == "touch":  # one write to the table: the next list rebuilds its body
                name = f"touch-{time.monotonic_ns()}"
                server.add_object({**_cm(name), "metadata": {"name": name, "namespace": "kube-system"}})
                conn.send("ok")
            if command == "events":
                await server.wait_for_watches(watchers, timeout=60)
                conn.send("go")
                for i in range(events):
                    server.add_object(_cm(f"ev-{command}-{time.monotonic_ns()}-{i}"))
                    if i % 200 == 199:
                        await asyncio.sleep(0)  # let the writers flush
                conn.send("done")
        await server.stop()

    asyncio.run(main())


class ServerProcess:
    def __init__(self, objects: int, events: int, watchers: int) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_server_main, args=(child, objects, events, watchers), daemon=True)
        self.proc.start()
        if not self.conn.poll(300):
            raise RuntimeError("the fake API server process did not start")
        self.url = f"http://127.0.0.1:{self.conn.recv()}"

    def close(self) -> None:
        self.conn.send("stop")
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()


# -- measurements ---------------------------------------------------------------------------------------


async def _list_once(url: str, expect: int) -> float:
    async with aiohttp.ClientSession(read_bufsize=1 << 22) as http:  # big reads for a big body
        start = time.perf_counter()
        async with http.get(f"{url}/api/v1/namespaces/{NS}/configmaps") as resp:
            data = await resp.read()
        gc.disable()  # the client's cyclic GC would otherwise cost more than the decode itself
        try:
            body = orjson.loads(data)
        finally:
            gc.enable()
        elapsed = time.perf_counter() - start
    if len(body["items"]) != expect:
        raise AssertionError(f"listed {len(body['items'])} objects, expected {expect}")
    if not body["items"][0]["metadata"].get("managedFields"):
        raise AssertionError("listed objects carry no managedFields: they would be smaller than real ones")
    return expect / elapsed


async def _object_size(url: str) -> int:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/api/v1/namespaces/{NS}/configmaps?limit=1") as resp:
            return len(orjson.dumps(orjson.loads(await resp.read())["items"][0]))


async def _watch_once(server: ServerProcess, watchers: int, events: int) -> tuple[float, float]:
    async with aiohttp.ClientSession() as http:
        rv = orjson.loads(
            await (await http.get(f"{server.url}/api/v1/namespaces/{NS}/configmaps?limit=1")).read()
        )["metadata"]["resourceVersion"]
        url = f"{server.url}/api/v1/namespaces/{NS}/configmaps?watch=1&resourceVersion={rv}"
        responses = [await http.get(url) for _ in range(watchers)]
        counts = [0] * watchers

        async def consume(i: int, resp: aiohttp.ClientResponse) -> None:
            buf = b""
            async for chunk in resp.content.iter_any():
                buf += chunk
                lines = buf.split(b"\n")
                buf = lines.pop()
                for line in lines:
                    orjson.loads(line)
                counts[i] += len(lines)
                if counts[i] >= events:
                    return

        tasks = [asyncio.create_task(consume(i, r)) for i, r in enumerate(responses)]
        loop = asyncio.get_running_loop()
        server.conn.send("events")
        await loop.run_in_executor(None, server.conn.recv)  # "go": all watchers registered
        start = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*tasks), 300)
        elapsed = time.perf_counter() - start
        await loop.run_in_executor(None, server.conn.recv)  # "done"
        for r in responses:
            r.close()
    return watchers * events / elapsed, events / elapsed


async def _creates_once(url: str, creates: int, concurrency: int) -> float:
    from kubernetes_asyncio import client as k8s

    config = k8s.Configuration(host=url)
    async with k8s.ApiClient(configuration=config) as api_client:
        core = k8s.CoreV1Api(api_client)
        prefix = f"cr-{time.monotonic_ns()}"
        queue = list(range(creates))

        async def worker() -> None:
            while queue:
                i = queue.pop()
                body = k8s.V1ConfigMap(
                    metadata=k8s.V1ObjectMeta(name=f"{prefix}-{i}"), data={"payload": PAYLOAD}
                )
                await core.create_namespaced_config_map(NS, body)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return creates / (time.perf_counter() - start)


async def _applies_once(url: str, applies: int, concurrency: int) -> float:
    prefix = f"ap-{time.monotonic_ns()}"
    queue = list(range(applies))
    headers = {"Content-Type": "application/apply-patch+yaml"}
    async with aiohttp.ClientSession() as http:

        async def worker() -> None:
            while queue:
                i = queue.pop()
                name = f"{prefix}-{i % 100}"
                body = {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": name, "labels": {"app": "bench"}},
                    "data": {"payload": PAYLOAD, "counter": str(i)},
                }
                async with http.patch(
                    f"{url}/api/v1/namespaces/{NS}/configmaps/{name}?fieldManager=bench",
                    data=orjson.dumps(body),
                    headers=headers,
                ) as resp:
                    if resp.status >= 300:
                        raise AssertionError(f"apply answered {resp.status}: {await resp.text()}")
                    await resp.read()

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return applies / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--objects", type=int, help="objects listed (default 100000; 20000 with --quick)")
        parser.add_argument("--events", type=int, help="writes fanned out (default 20000; 2000 with --quick)")
        parser.add_argument("--watchers", type=int, default=10)
        parser.add_argument("--creates", type=int, help="creates timed (default 2000; 300 with --quick)")
        parser.add_argument("--applies", type=int, help="applies timed (default 2000; 300 with --quick)")

    opts = args = parse_args("fake API server throughput", argv, add_arguments=add_arguments)
    if opts.objects is None:
        opts.objects = 20_000 if args.quick else 100_000
    if opts.events is None:
        opts.events = 2_000 if args.quick else 20_000
    if opts.creates is None:
        opts.creates = 300 if args.quick else 2_000
    if opts.applies is None:
        opts.applies = 300 if args.quick else 2_000
    rows: list[Row] = []

    server = ServerProcess(opts.objects, opts.events, opts.watchers)
    try:
        asyncio.run(_list_once(server.url, opts.objects))  # warm up: item bytes are built on first list
        value, runs = median_of(args.runs, lambda: asyncio.run(_list_once(server.url, opts.objects)))
        size = asyncio.run(_object_size(server.url))
        rows.append(
            Row(
                f"list {opts.objects} configmaps (aiohttp+orjson)",
                value,
                "objects/s",
                100_000,
                runs=runs,
                note=f"{size} bytes of JSON per object, managedFields included",
            )
        )

        def list_after_write() -> float:
            server.conn.send("touch")
            server.conn.recv()
            return asyncio.run(_list_once(server.url, opts.objects))

        value, runs = median_of(args.runs, list_after_write)
        rows.append(
            Row(
                f"list {opts.objects} configmaps, body rebuilt",
                value,
                "objects/s",
                100_000,
                runs=runs,
                note="the first list after a write",
            )
        )

        results: list[tuple[float, float]] = []

        def watch_run() -> float:
            delivered, source = asyncio.run(_watch_once(server, opts.watchers, opts.events))
            results.append((delivered, source))
            return delivered

        value, runs = median_of(args.runs, watch_run)
        rows.append(
            Row(
                f"watch fan-out to {opts.watchers} watchers",
                value,
                "events/s",
                100_000,
                runs=runs,
                note=f"source rate {sorted(s for _, s in results)[len(results) // 2]:.0f} writes/s",
            )
        )
        for concurrency in (1, 10):
            value, runs = median_of(
                args.runs, lambda c=concurrency: asyncio.run(_creates_once(server.url, opts.creates, c))
            )
            rows.append(
                Row(
                    f"creates via kubernetes-asyncio, {concurrency} concurrent", value, "creates/s", runs=runs
                )
            )
        for concurrency in (1, 10):
            value, runs = median_of(
                args.runs, lambda c=concurrency: asyncio.run(_applies_once(server.url, opts.applies, c))
            )
            rows.append(
                Row(
                    f"server-side applies (aiohttp), {concurrency} concurrent",
                    value,
                    "applies/s",
                    runs=runs,
                    note="each apply changes one of 100 objects",
                )
            )
    finally:
        server.close()
    report("fake API server", rows, args)


if __name__ == "__main__":
    main()
