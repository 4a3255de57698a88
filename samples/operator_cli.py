"""A small command line shared by the copy and load-test operators.

Flags (each also read from ``<PREFIX>_<FLAG>``, e.g. ``COPY_OPERATOR_LEADER_ELECT=true``; the kubeconfig
from ``$KUBECONFIG``): ``--kubeconfig``, ``--master``, ``--workers`` (default 2), ``--leader-elect``,
``--leader-election-namespace``, ``--metrics-bind-address`` (default ":8080"),
``--health-probe-bind-address`` (default "0", off). Bad values are argparse errors (exit 2).
Unlike the sample-controller, these need a cluster: a kubeconfig, ``~/.kube/config`` or in-cluster;
``--install-crd`` creates the operator's CRD first (handy with the in-memory API server).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from samples.sample_controller.cli import _address, _bool_env, _workers

__all__ = ["operator_main"]


def parse_operator_args(
    prog: str, env_prefix: str, description: str, argv: Sequence[str] | None, env: dict[str, str]
) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--kubeconfig", metavar="PATH", help="Path to a kubeconfig. [$KUBECONFIG]")
    parser.add_argument(
        "--master",
        metavar="URL",
        help=f"API server address, overriding the kubeconfig. [${env_prefix}MASTER]",
    )
    parser.add_argument(
        "--workers",
        type=_workers,
        metavar="N",
        help=f"Concurrent reconciles (default 2). [${env_prefix}WORKERS]",
    )
    parser.add_argument(
        "--leader-elect",
        action="store_true",
        default=None,
        help=f"Hold a Lease while running. [${env_prefix}LEADER_ELECT]",
    )
    parser.add_argument(
        "--leader-election-namespace",
        metavar="NS",
        help=f"Namespace of the Lease. [${env_prefix}LEADER_ELECTION_NAMESPACE]",
    )
    parser.add_argument(
        "--metrics-bind-address",
        type=_address,
        metavar="ADDR",
        help=f'/metrics address, "0" off (default ":8080"). [${env_prefix}METRICS_BIND_ADDRESS]',
    )
    parser.add_argument(
        "--health-probe-bind-address",
        type=_address,
        metavar="ADDR",
        help=f'/healthz and /readyz address, "0" off (default). [${env_prefix}HEALTH_PROBE_BIND_ADDRESS]',
    )
    parser.add_argument(
        "--install-crd",
        action="store_true",
        default=None,
        help=f"Create the operator's CRD (artifacts/crd.yaml) at start if it is missing; handy against "
        f"the in-memory API server (python -m pycontroller.testing serve). [${env_prefix}INSTALL_CRD]",
    )
    args = parser.parse_args(argv)
    conversions: dict[str, Callable[[str], Any] | None] = {
        "master": str,
        "workers": _workers,
        "leader_elect": None,
        "install_crd": None,
        "leader_election_namespace": str,
        "metrics_bind_address": _address,
        "health_probe_bind_address": _address,
    }
    for dest, convert in conversions.items():
        var = env_prefix + dest.upper()
        if getattr(args, dest) is not None or var not in env:
            continue
        if convert is None:
            setattr(args, dest, _bool_env(parser, var, env[var]))
            continue
        try:
            setattr(args, dest, convert(env[var]))
        except argparse.ArgumentTypeError as exc:
            parser.error(f"environment variable {var}={env[var]!r}: {exc}")
    # $KUBECONFIG, in-cluster and ~/.kube/config are loaded by the Manager in clientcmd's order.
    if args.kubeconfig and not Path(args.kubeconfig).expanduser().is_file():
        parser.error(f"--kubeconfig {args.kubeconfig!r}: no such file")
    args.leader_elect = bool(args.leader_elect)
    args.install_crd = bool(args.install_crd)
    args.workers = args.workers or 2
    args.metrics_bind_address = args.metrics_bind_address or ":8080"
    args.health_probe_bind_address = args.health_probe_bind_address or "0"
    if args.leader_election_namespace is None:
        from pycontroller.config import pod_namespace  # imported late: --help stays fast

        args.leader_election_namespace = pod_namespace() or "default"
    return args


def operator_main(
    *,
    prog: str,
    env_prefix: str,
    component: str,
    description: str,
    add: Callable[..., Any],
    crd: Path,
    argv: Sequence[str] | None = None,
) -> int:
    """Parse flags, build a Manager on the configured cluster, ``add(mgr, client, recorder, ...)``, run.

    With ``--install-crd``, ``crd`` (a YAML file) is created first unless it exists."""
    args = parse_operator_args(prog, env_prefix, description, argv, dict(os.environ))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import yaml  # type: ignore[import-untyped]

    from pycontroller.errors import PyControllerError
    from samples.sample_controller.app import new_manager, new_recorder

    crd_object = yaml.safe_load(crd.read_text()) if args.install_crd else None

    async def install_crd_file(client: Any) -> None:
        from pycontroller.errors import AlreadyExistsError

        with contextlib.suppress(AlreadyExistsError):
            await client.request(
                "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body=crd_object
            )

    async def run() -> int:
        mgr = new_manager(args, leader_election_id=component)
        if args.install_crd:
            try:
                await install_crd_file(mgr.client)
            except BaseException:
                await mgr.client.api_client.close()  # the Manager never ran, so it will not close it
                raise
        add(mgr, mgr.client, new_recorder(mgr, mgr.client, component), max_concurrent_reconciles=args.workers)
        await mgr.run()
        return 0

    try:
        return asyncio.run(run())
    except KeyboardInterrupt:
        return 130
    except PyControllerError as exc:
        print(f"{component}: {exc}", file=sys.stderr)
        return 1
