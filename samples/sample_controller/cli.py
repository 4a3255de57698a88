"""Command line of the sample-controller: flags, environment variables, and which cluster to use.

Every flag can also be set by an environment variable (the flag wins when both are given):

==============================  ============================================  ==========================
flag                            environment variable                          default
==============================  ============================================  ==========================
``--kubeconfig PATH``           ``KUBECONFIG``                                ~/.kube/config if present
``--master URL``                ``SAMPLE_CONTROLLER_MASTER``                  (from the kubeconfig)
``--workers N``                 ``SAMPLE_CONTROLLER_WORKERS``                 2
``--leader-elect``              ``SAMPLE_CONTROLLER_LEADER_ELECT``            off
``--leader-election-namespace``  ``SAMPLE_CONTROLLER_LEADER_ELECTION_NAMESPACE``  the pod's, else default
``--shard``                     ``SAMPLE_CONTROLLER_SHARD``                   off
``--metrics-bind-address``      ``SAMPLE_CONTROLLER_METRICS_BIND_ADDRESS``    ":8080" ("0" embedded)
``--health-probe-bind-address``  ``SAMPLE_CONTROLLER_HEALTH_PROBE_BIND_ADDRESS``  "0" (off)
``--embedded``                  ``SAMPLE_CONTROLLER_EMBEDDED``                off
``--once``                      ``SAMPLE_CONTROLLER_ONCE``                    off
``--timeout SECONDS``           ``SAMPLE_CONTROLLER_TIMEOUT``                 60
``--webhooks``                  ``SAMPLE_CONTROLLER_WEBHOOKS``                off
==============================  ============================================  ==========================

Booleans read from the environment accept 1/true/yes/on and 0/false/no/off. A bad value, from a
flag or a variable, is an argparse error naming it (exit status 2).

Which cluster: ``--embedded`` runs the in-memory API server. Otherwise the Manager loads, like
clientcmd, ``--kubeconfig``, then ``$KUBECONFIG`` (a list of files, merged), then the in-cluster
service account, then ``~/.kube/config``, with ``--master`` overriding the server URL. When none of
these exists the in-memory API server is used, with a message saying so.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["ENV_PREFIX", "Options", "cluster_configured", "parse_args"]

ENV_PREFIX = "SAMPLE_CONTROLLER_"
IN_CLUSTER_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_ADDRESS = re.compile(r"^(?:0|(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.\-]*):\d{1,5})$")

Options = argparse.Namespace


def _address(value: str) -> str:
    if not _ADDRESS.match(value) or (value != "0" and int(value.rsplit(":", 1)[1]) > 65535):
        raise argparse.ArgumentTypeError(
            f'{value!r} is not an address: use "host:port", ":port" or "0" (off)'
        )
    return value


def _workers(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def _seconds(value: str) -> float:
    try:
        s = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not s > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {value}")
    return s


def build_parser(prog: str = "python -m samples.sample_controller") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Kubernetes' sample-controller on pycontroller: each Foo (samplecontroller.k8s.io/v1alpha1) "
            "gets a Deployment of nginx with spec.replicas replicas, and status.availableReplicas follows it. "
            "Without a cluster (or with --embedded) it runs against an in-memory API server, with a "
            "simulated Deployment controller, and prints what happens."
        ),
        epilog="Each flag can also be set by an environment variable: see samples/sample_controller/README.md.",
    )
    parser.add_argument(
        "--kubeconfig",
        metavar="PATH",
        help="Path to a kubeconfig. Only required if out-of-cluster. [$KUBECONFIG]",
    )
    parser.add_argument(
        "--master",
        metavar="URL",
        help="The address of the Kubernetes API server. Overrides any value in kubeconfig. "
        "Only required if out-of-cluster. [$SAMPLE_CONTROLLER_MASTER]",
    )
    parser.add_argument(
        "--workers",
        type=_workers,
        metavar="N",
        help="Concurrent Foo syncs (default 2). [$SAMPLE_CONTROLLER_WORKERS]",
    )
    parser.add_argument(
        "--leader-elect",
        action="store_true",
        default=None,
        help="Run only while holding the 'sample-controller' Lease, so replicas can stand by. "
        "[$SAMPLE_CONTROLLER_LEADER_ELECT]",
    )
    parser.add_argument(
        "--shard",
        action="store_true",
        default=None,
        help="Shard the Foos across the replicas (a shard Lease per pod, in the leader election "
        "namespace; implies --leader-elect for the sharder). See docs/sharding.md. [$SAMPLE_CONTROLLER_SHARD]",
    )
    parser.add_argument(
        "--leader-election-namespace",
        metavar="NS",
        help="Namespace of the Lease (default: the pod's namespace, else 'default'). "
        "[$SAMPLE_CONTROLLER_LEADER_ELECTION_NAMESPACE]",
    )
    parser.add_argument(
        "--metrics-bind-address",
        type=_address,
        metavar="ADDR",
        help='Where /metrics is served; "0" turns it off (default ":8080", "0" with --embedded). '
        "[$SAMPLE_CONTROLLER_METRICS_BIND_ADDRESS]",
    )
    parser.add_argument(
        "--health-probe-bind-address",
        type=_address,
        metavar="ADDR",
        help='Where /healthz and /readyz are served; "0" turns them off (default "0"). '
        "[$SAMPLE_CONTROLLER_HEALTH_PROBE_BIND_ADDRESS]",
    )
    parser.add_argument(
        "--embedded",
        action="store_true",
        default=None,
        help="Run against an in-memory API server with the CRD and example-foo installed. "
        "[$SAMPLE_CONTROLLER_EMBEDDED]",
    )
    parser.add_argument(
        "--once",
        action="store_true",
        default=None,
        help="Exit 0 once every Foo has converged (status.availableReplicas == spec.replicas), "
        "non-zero after --timeout. [$SAMPLE_CONTROLLER_ONCE]",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help="With --once: how long to wait for convergence (default 60). [$SAMPLE_CONTROLLER_TIMEOUT]",
    )
    parser.add_argument(
        "--webhooks",
        action="store_true",
        default=None,
        help="Also serve the Foo validating webhook and the v1alpha1<->v1 conversion webhook on :9443 "
        "(see webhooks.py). [$SAMPLE_CONTROLLER_WEBHOOKS]",
    )
    return parser


def _bool_env(parser: argparse.ArgumentParser, var: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered not in _TRUE | _FALSE:
        parser.error(f"environment variable {var}={raw!r}: expected one of 1/true/yes/on or 0/false/no/off")
    return lowered in _TRUE


def _from_env(parser: argparse.ArgumentParser, args: argparse.Namespace, env: dict[str, str]) -> None:
    """Fill the flags not given on the command line from the environment, validating like argparse."""
    conversions: dict[str, Any] = {
        "master": str,
        "workers": _workers,
        "leader_elect": "bool",
        "shard": "bool",
        "leader_election_namespace": str,
        "metrics_bind_address": _address,
        "health_probe_bind_address": _address,
        "embedded": "bool",
        "once": "bool",
        "timeout": _seconds,
        "webhooks": "bool",
    }
    for dest, convert in conversions.items():
        if getattr(args, dest) is not None:
            continue
        var = ENV_PREFIX + dest.upper()
        raw = env.get(var)
        if raw is None:
            continue
        if convert == "bool":
            lowered = raw.strip().lower()
            if lowered not in _TRUE | _FALSE:
                parser.error(
                    f"environment variable {var}={raw!r}: expected one of 1/true/yes/on or 0/false/no/off"
                )
            setattr(args, dest, lowered in _TRUE)
            continue
        try:
            setattr(args, dest, convert(raw))
        except argparse.ArgumentTypeError as exc:
            parser.error(f"environment variable {var}={raw!r}: {exc}")


def cluster_configured(args: argparse.Namespace, env: dict[str, str]) -> bool:
    """True when a cluster is configured: flags, ``$KUBECONFIG``, ``~/.kube/config`` or in-cluster."""
    if args.kubeconfig or args.master or env.get("KUBECONFIG"):
        return True
    home = env.get("HOME")
    if home and (Path(home) / ".kube" / "config").exists():
        return True
    return bool(env.get("KUBERNETES_SERVICE_HOST")) and IN_CLUSTER_TOKEN.exists()


def parse_args(argv: Sequence[str] | None = None, env: dict[str, str] | None = None) -> argparse.Namespace:
    """Parse flags and environment into options; argparse errors exit with status 2.

    Adds ``args.embedded`` (resolved: True when asked or when no cluster is configured),
    ``args.embedded_reason`` and fills every default."""
    env = dict(os.environ) if env is None else env
    parser = build_parser()
    args = parser.parse_args(argv)
    _from_env(parser, args, env)
    # Only --kubeconfig is resolved here; $KUBECONFIG (a merged list), the in-cluster service account
    # and ~/.kube/config are loaded by the Manager in clientcmd's order.
    if args.kubeconfig and not args.embedded and not Path(args.kubeconfig).expanduser().is_file():
        parser.error(f"--kubeconfig {args.kubeconfig!r}: no such file")
    args.embedded_reason = None
    if args.embedded:
        args.embedded_reason = "--embedded"
    elif not cluster_configured(args, env):
        args.embedded = True
        args.embedded_reason = "no cluster configured (no --kubeconfig, $KUBECONFIG, ~/.kube/config or in-cluster service account)"
    args.embedded = bool(args.embedded)
    args.once = bool(args.once)
    args.webhooks = bool(args.webhooks)
    args.shard = bool(args.shard)
    args.leader_elect = bool(args.leader_elect) or args.shard
    if args.workers is None:
        args.workers = 2
    if args.timeout is None:
        args.timeout = 60.0
    if args.metrics_bind_address is None:
        args.metrics_bind_address = "0" if args.embedded else ":8080"
    if args.health_probe_bind_address is None:
        args.health_probe_bind_address = "0"
    if args.leader_election_namespace is None:
        from pycontroller.config import pod_namespace  # imported late: --help stays fast

        args.leader_election_namespace = pod_namespace() or "default"
    return args
