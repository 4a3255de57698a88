"""``python -m pycontroller.testing serve --port N --kubeconfig PATH``: run the fake API server.

Serves on 127.0.0.1 until SIGINT or SIGTERM, then exits 0. With ``--kubeconfig`` it writes a
kubeconfig pointing at the server (for kubectl and other processes). Prints one line,
``serving on http://127.0.0.1:PORT``, once it accepts connections. Bad flags exit 2 with usage.

SIGUSR1 expires every watch (``FakeAPIServer.expire_watches``): the revision moves on, all history
is compacted and every open watch ends, so every client's reflector re-watches from a
resourceVersion that is now too old, gets 410 Expired and relists. It prints
``expired: compacted at RV N, ended K watches`` when done (benchmarks measure relists with it).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from typing import Any


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pycontroller.testing", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the in-memory Kubernetes API server until interrupted")
    serve.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (default 0: a free port)")
    serve.add_argument("--kubeconfig", metavar="PATH", help="write a kubeconfig for the server here")
    serve.add_argument(
        "--history-size", type=int, default=10_000, help="watch history kept per resource (default 10000)"
    )
    serve.add_argument(
        "--bookmark-interval", type=float, default=60.0, help="seconds between watch bookmarks (default 60)"
    )
    serve.add_argument(
        "--load",
        metavar="PATH",
        help="create the objects of this file (one JSON object a line, with apiVersion and kind) "
        "before serving, as POSTs would; for benchmarks that need a million objects fast",
    )
    return parser


async def _serve(args: argparse.Namespace) -> int:
    from pycontroller.testing.apiserver import FakeAPIServer

    server = FakeAPIServer(
        port=args.port, history_size=args.history_size, bookmark_interval=args.bookmark_interval
    )
    if args.load:
        try:
            _load(server, args.load)
        except (OSError, ValueError) as exc:
            print(f"error: cannot load {args.load}: {exc}", file=sys.stderr)
            return 1
    try:
        await server.start()
    except OSError as exc:
        print(f"error: cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def expire() -> None:
        rv, ended = server.expire_watches()
        print(f"expired: compacted at RV {rv}, ended {ended} watches", flush=True)

    loop.add_signal_handler(signal.SIGUSR1, expire)
    try:
        if args.kubeconfig:
            server.write_kubeconfig(args.kubeconfig)
        print(f"serving on {server.url}", flush=True)
        await stop.wait()
    finally:
        await server.stop()
    return 0


def _load(server: Any, path: str) -> None:
    """Create every object of ``path`` (JSON lines) through the server's create path, in order."""
    import gc

    import orjson

    gc.freeze()  # what exists now lives as long as the server: the collector need not scan it
    with open(path, "rb") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                server.add_object(orjson.loads(line))
            except Exception as exc:
                raise ValueError(f"line {number}: {exc}") from None
    gc.freeze()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.port < 0 or args.port > 65535:
        parser.error(f"--port must be between 0 and 65535, got {args.port}")
    if args.history_size < 1:
        parser.error(f"--history-size must be at least 1, got {args.history_size}")
    if args.bookmark_interval <= 0:
        parser.error(f"--bookmark-interval must be positive, got {args.bookmark_interval}")
    return asyncio.run(_serve(args))


if __name__ == "__main__":
    sys.exit(main())
