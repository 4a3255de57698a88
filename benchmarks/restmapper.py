"""The RESTMapper on the hot path: what resolving kinds costs once it has been resolved.

    .venv/bin/python benchmarks/restmapper.py [--runs N] [--json] [--quick]

(a) enqueue_owner events per second, the owner's scope learnt from the mapper, against the same
    handler told its scope up front (the pre-mapper path): the ratio should be ~1 (no look-up per
    event);
(b) ``RestClient.resource()`` of an ``(api_version, kind)`` pair already resolved, against a
    GroupVersionResource given directly (a dictionary look-up against an isinstance check; both
    well under 1% of the ~110-140 us of client CPU one request costs);
(c) discovery requests made while (a) and (b) ran after the first answer: must be 0.

Everything runs in-process against the in-memory API server. Rates are per second of CPU time
(the machine is shared). Each row is the median of ``--runs`` runs.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import warnings
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._harness import Row, median_of, parse_args, report
from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.handler import enqueue_owner

clock_ = time.process_time


def _dependents(n: int) -> list[dict[str, Any]]:
    return [
        {
            "metadata": {
                "name": f"d{i}",
                "namespace": "ns",
                "ownerReferences": [
                    {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"o{i % 50}", "controller": True}
                ],
            }
        }
        for i in range(n)
    ]


def _events_per_second(handler: Any, objs: list[dict[str, Any]]) -> float:
    keys: list[str] = []
    enqueue = keys.append
    start = clock_()
    for obj in objs:
        handler.create(obj, enqueue)
    elapsed = clock_() - start
    assert len(keys) == len(objs)
    return len(objs) / elapsed


async def measure(args: Any) -> list[Row]:
    from pycontroller.testing import FakeAPIServer

    n = 20_000 if args.quick else 200_000
    calls = 20_000 if args.quick else 200_000
    server = FakeAPIServer()
    await server.start()
    rest = RestClient(server.new_client(), owns_api_client=True)
    try:
        mapper = rest.rest_mapper
        resolved = enqueue_owner("apps/v1", "Deployment", mapper=mapper)
        await resolved.prepare(mapper)  # type: ignore[attr-defined]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            told = enqueue_owner("apps/v1", "Deployment", cluster_scoped=False)
        objs = _dependents(n)
        fetches = mapper.fetches

        mapped, mapped_runs = median_of(args.runs, lambda: _events_per_second(resolved, objs))
        base, base_runs = median_of(args.runs, lambda: _events_per_second(told, objs))

        gvr = GroupVersionResource("apps", "v1", "deployments")
        pair = ("apps/v1", "Deployment")
        await rest.resource(pair)

        async def per_call(target: Any) -> float:
            start = clock_()
            for _ in range(calls):
                await rest.resource(target)
            return (clock_() - start) / calls * 1e9

        by_kind_runs = [await per_call(pair) for _ in range(args.runs)]
        by_gvr_runs = [await per_call(gvr) for _ in range(args.runs)]
        by_kind = sorted(by_kind_runs)[len(by_kind_runs) // 2]
        by_gvr = sorted(by_gvr_runs)[len(by_gvr_runs) // 2]
        extra_fetches = mapper.fetches - fetches  # apps/v1 was read once, by prepare()
    finally:
        await rest.close()
        await server.stop()
    return [
        Row("(a) enqueue_owner, scope from the mapper", mapped, "events/s", runs=mapped_runs),
        Row("(a) enqueue_owner, scope given (baseline)", base, "events/s", runs=base_runs),
        Row("(a) ratio mapper / baseline", mapped / base, "x", target=0.9),
        Row("(b) resource(('apps/v1','Deployment')), cached", by_kind, "ns/call", runs=by_kind_runs),
        Row("(b) resource(GroupVersionResource)", by_gvr, "ns/call", runs=by_gvr_runs),
        Row(
            "(c) discovery requests after the first answer",
            float(extra_fetches),
            "requests",
            target=0,
            higher_is_better=False,
        ),
    ]


def main() -> None:
    args = parse_args("RESTMapper on the hot path")
    rows = asyncio.run(measure(args))
    report("RESTMapper on the hot path", rows, args)


if __name__ == "__main__":
    main()
