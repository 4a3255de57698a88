"""``pycontroller run``: run the controllers a module defines, with the standard flags of an operator.

::

    pycontroller run my_operator                # Builder calls at import time, on current_manager()
    pycontroller run my_operator:setup          # setup(mgr) (or async def setup(mgr)) adds controllers
    python -m pycontroller run my_operator --embedded --log-format json -v

The command builds a :class:`~pycontroller.Manager` from the flags below, makes it
:func:`current_manager` (so a module can call ``current_manager().controller("x")...`` while it is
imported), imports the module, calls ``attr(mgr)`` when ``module:attr`` names a function, and runs the
Manager until SIGINT/SIGTERM. Every flag has an environment variable (the flag wins):

=================================  ==========================================  ===================
flag                               environment variable                        default
=================================  ==========================================  ===================
``--kubeconfig PATH``              ``KUBECONFIG``                              clientcmd's order
``--context NAME``                 ``PYCONTROLLER_CONTEXT``                    the current context
``--master URL``                   ``PYCONTROLLER_MASTER``                     from the kubeconfig
``--namespace NS`` (repeatable)    ``PYCONTROLLER_NAMESPACE`` (comma list)     all namespaces
``--leader-elect``                 ``PYCONTROLLER_LEADER_ELECT``               off
``--leader-election-id NAME``      ``PYCONTROLLER_LEADER_ELECTION_ID``         the module's name
``--leader-election-namespace NS``  ``PYCONTROLLER_LEADER_ELECTION_NAMESPACE``  the pod's, else default
``--metrics-bind-address ADDR``    ``PYCONTROLLER_METRICS_BIND_ADDRESS``       ":8080" ("0" embedded)
``--health-probe-bind-address``    ``PYCONTROLLER_HEALTH_PROBE_BIND_ADDRESS``  ":8081" ("0" embedded)
``--graceful-shutdown-timeout S``  ``PYCONTROLLER_GRACEFUL_SHUTDOWN_TIMEOUT``  30
``--log-format text|json``         ``PYCONTROLLER_LOG_FORMAT``                 text
``--log-level LEVEL`` / ``-v``     ``PYCONTROLLER_LOG_LEVEL``                  info (-v: debug)
``--crd PATH`` (repeatable)        ``PYCONTROLLER_CRD`` (comma list)           none
``--embedded``                     ``PYCONTROLLER_EMBEDDED``                   off
=================================  ==========================================  ===================

``--embedded`` starts the in-memory API server in the process (no cluster needed); ``--crd`` creates
CustomResourceDefinitions from YAML files at start unless they exist, and waits until they are
served. Exit status: 0 after a graceful shutdown, 1 when the Manager fails (the message is printed),
2 for a mistake in the command (a bad flag or variable, a module that cannot be imported or defines
no controller), 130 when interrupted during start-up. A user mistake never prints a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import inspect
import logging
import os
import re
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["UsageError", "current_manager", "main"]

ENV_PREFIX = "PYCONTROLLER_"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_ADDRESS = re.compile(r"^(?:0|(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.\-]*):\d{1,5})$")
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}

_current: Any = None


class UsageError(Exception):
    """A mistake in the command (exit status 2): the message says what to change."""


def current_manager() -> Any:
    """The Manager ``pycontroller run`` built for this process, for modules that add controllers
    while they are imported. Raises :class:`~pycontroller.errors.ConfigError` outside ``pycontroller
    run``. Never suspends."""
    if _current is None:
        from pycontroller.errors import ConfigError

        raise ConfigError(
            "current_manager() is only set while `pycontroller run` runs a module; elsewhere build "
            "a Manager yourself"
        )
    return _current


@contextlib.contextmanager
def _as_current(mgr: Any) -> Iterator[None]:
    global _current
    previous, _current = _current, mgr
    try:
        yield
    finally:
        _current = previous


# -- flags ------------------------------------------------------------------------------------------


def _address(value: str) -> str:
    if not _ADDRESS.match(value) or (value != "0" and int(value.rsplit(":", 1)[1]) > 65535):
        raise argparse.ArgumentTypeError(
            f'{value!r} is not an address: use "host:port", ":port" or "0" (off)'
        )
    return value


def _seconds(value: str) -> float:
    try:
        s = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not s >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 seconds or more, got {value}")
    return s


def _level(value: str) -> int:
    lowered = value.strip().lower()
    if lowered in _LEVELS:
        return _LEVELS[lowered]
    raise argparse.ArgumentTypeError(f"{value!r} is not a log level: use one of {', '.join(_LEVELS)}")


def _format(value: str) -> str:
    if value not in ("text", "json"):
        raise argparse.ArgumentTypeError(f"{value!r} is not a log format: use text or json")
    return value


def _name(value: str) -> str:
    if not value:
        raise argparse.ArgumentTypeError("must not be empty")
    return value


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in _TRUE | _FALSE:
        raise argparse.ArgumentTypeError("expected one of 1/true/yes/on or 0/false/no/off")
    return lowered in _TRUE


# (dest, flags, kwargs, environment variable, conversion of the variable; "list" splits on commas)
_FLAGS: list[tuple[str, tuple[str, ...], dict[str, Any], str, Any]] = [
    ("kubeconfig", ("--kubeconfig",), {"metavar": "PATH", "help": "Path to a kubeconfig."}, "KUBECONFIG", None),
    ("context", ("--context",), {"metavar": "NAME", "help": "The kubeconfig context to use."}, "CONTEXT", _name),
    ("master", ("--master",), {"metavar": "URL", "help": "The API server URL, overriding the kubeconfig's."},
     "MASTER", _name),
    ("namespace", ("--namespace",), {"metavar": "NS", "action": "append", "type": _name,
     "help": "Limit the cache to this namespace (repeat for several)."}, "NAMESPACE", "list"),
    ("leader_elect", ("--leader-elect",), {"action": "store_true", "default": None,
     "help": "Run the controllers only while holding a Lease, so replicas can stand by."}, "LEADER_ELECT", _bool),
    ("leader_election_id", ("--leader-election-id",), {"metavar": "NAME", "type": _name,
     "help": "Name of the Lease (default: the module's name)."}, "LEADER_ELECTION_ID", _name),
    ("leader_election_namespace", ("--leader-election-namespace",), {"metavar": "NS", "type": _name,
     "help": "Namespace of the Lease (default: the pod's namespace, else 'default')."},
     "LEADER_ELECTION_NAMESPACE", _name),
    ("metrics_bind_address", ("--metrics-bind-address",), {"metavar": "ADDR", "type": _address,
     "help": 'Where /metrics is served; "0" turns it off (default ":8080", "0" with --embedded).'},
     "METRICS_BIND_ADDRESS", _address),
    ("health_probe_bind_address", ("--health-probe-bind-address",), {"metavar": "ADDR", "type": _address,
     "help": 'Where /healthz and /readyz are served; "0" off (default ":8081", "0" with --embedded).'},
     "HEALTH_PROBE_BIND_ADDRESS", _address),
    ("graceful_shutdown_timeout", ("--graceful-shutdown-timeout",), {"metavar": "SECONDS", "type": _seconds,
     "help": "How long a shutdown waits for in-flight work (default 30)."}, "GRACEFUL_SHUTDOWN_TIMEOUT", _seconds),
    ("log_format", ("--log-format",), {"metavar": "text|json", "type": _format,
     "help": "Log lines as text or as JSON objects (default text)."}, "LOG_FORMAT", _format),
    ("log_level", ("--log-level",), {"metavar": "LEVEL", "type": _level,
     "help": "debug, info, warning or error (default info)."}, "LOG_LEVEL", _level),
    ("crd", ("--crd",), {"metavar": "PATH", "action": "append",
     "help": "Create the CustomResourceDefinition(s) in this YAML file at start unless present (repeatable)."},
     "CRD", "list"),
    ("embedded", ("--embedded",), {"action": "store_true", "default": None,
     "help": "Run against an in-memory API server started in this process (no cluster needed)."},
     "EMBEDDED", _bool),
]  # fmt: skip


def _env_name(var: str) -> str:
    return var if var == "KUBECONFIG" else ENV_PREFIX + var


def build_parser() -> argparse.ArgumentParser:
    """The ``pycontroller`` argument parser (``run`` is its one command)."""
    return _parsers()[0]


def _parsers() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    parser = argparse.ArgumentParser(
        prog="pycontroller",
        description="Run Kubernetes controllers written with pycontroller.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = commands.add_parser(
        "run",
        help="import a module defining controllers and run them in a Manager",
        description="Import MODULE (or MODULE:FUNCTION, called with the Manager) and run its controllers "
        "until SIGINT/SIGTERM. Each flag can also be set by the environment variable in brackets.",
    )
    run.add_argument("target", metavar="MODULE[:FUNCTION]", help="e.g. my_operator or my_operator:setup")
    for _dest, flags, kwargs, var, _convert in _FLAGS:
        kwargs = dict(kwargs)
        kwargs["help"] = f"{kwargs['help']} [${_env_name(var)}]"
        run.add_argument(*flags, dest=_dest, **kwargs)
    run.add_argument(
        "-v",
        dest="verbose",
        action="count",
        default=0,
        help="More log output (-v: debug); overrides --log-level.",
    )
    return parser, run


def parse_args(argv: Sequence[str] | None = None, env: dict[str, str] | None = None) -> argparse.Namespace:
    """Parse flags and environment variables; mistakes exit with status 2 (argparse)."""
    env = dict(os.environ) if env is None else env
    parser, run_parser = _parsers()
    args = parser.parse_args(argv)
    for dest, _flags, _kwargs, var, convert in _FLAGS:
        name = _env_name(var)
        if getattr(args, dest) is not None or name not in env or var == "KUBECONFIG":
            continue  # $KUBECONFIG itself is read by the Manager's loader (a merged list)
        raw = env[name]
        try:
            if convert == "list":
                value: Any = [item.strip() for item in raw.split(",") if item.strip()]
            else:
                value = convert(raw)
        except argparse.ArgumentTypeError as exc:
            run_parser.error(f"environment variable {name}={raw!r}: {exc}")
        setattr(args, dest, value)
    if args.kubeconfig and not args.embedded and not Path(args.kubeconfig).expanduser().is_file():
        run_parser.error(f"--kubeconfig {args.kubeconfig!r}: no such file")
    for crd in args.crd or ():
        if not Path(crd).is_file():
            run_parser.error(f"--crd {crd!r}: no such file")
    if args.embedded and (args.kubeconfig or args.master or args.context):
        run_parser.error("--embedded runs its own API server: leave out --kubeconfig, --context and --master")
    args.embedded = bool(args.embedded)
    args.leader_elect = bool(args.leader_elect)
    if args.metrics_bind_address is None:
        args.metrics_bind_address = "0" if args.embedded else ":8080"
    if args.health_probe_bind_address is None:
        args.health_probe_bind_address = "0" if args.embedded else ":8081"
    if args.graceful_shutdown_timeout is None:
        args.graceful_shutdown_timeout = 30.0
    args.log_format = args.log_format or "text"
    if args.verbose:
        args.log_level = logging.DEBUG
    elif args.log_level is None:
        args.log_level = logging.INFO
    if args.leader_election_id is None:
        args.leader_election_id = re.sub(r"[^a-z0-9.-]+", "-", args.target.split(":")[0].lower()).strip("-.")
    if args.leader_election_namespace is None:
        from pycontroller.config import pod_namespace

        args.leader_election_namespace = pod_namespace() or "default"
    args.namespace = list(dict.fromkeys(args.namespace or ()))
    return args


# -- loading the user's module ----------------------------------------------------------------------


def _user_frame(exc: BaseException) -> str:
    """``file:line`` of the innermost frame of the user's code in ``exc``'s traceback."""
    frames = traceback.extract_tb(exc.__traceback__)
    here = str(Path(__file__).resolve().parent)
    mine = [
        f
        for f in frames
        if not str(Path(f.filename).resolve()).startswith(here) and "importlib" not in f.filename
    ]
    if not mine:
        return ""
    last = mine[-1]
    return f" ({last.filename}:{last.lineno})"


async def load_target(target: str, mgr: Any) -> None:
    """Import ``module`` (or ``module:function`` and call it with ``mgr``; an async function is
    awaited). Raises :class:`UsageError` for a module that cannot be imported, a missing or
    non-callable function, or when no controller was added. Suspends only in an async function."""
    module_name, _, attr = target.partition(":")
    if not module_name or (":" in target and not attr):
        raise UsageError(f"{target!r} is not MODULE or MODULE:FUNCTION")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like `python -m`: modules of the current directory
    before = mgr._user_runnable_count()
    with _as_current(mgr):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                raise UsageError(f"cannot import {module_name!r}: no module named {exc.name!r}") from None
            raise UsageError(
                f"importing {module_name!r} failed: {type(exc).__name__}: {exc}{_user_frame(exc)}"
            ) from None
        except Exception as exc:
            raise UsageError(
                f"importing {module_name!r} failed: {type(exc).__name__}: {exc}{_user_frame(exc)}"
            ) from None
        if attr:
            fn = getattr(module, attr, None)
            if fn is None:
                raise UsageError(f"module {module_name!r} has no attribute {attr!r}")
            if not callable(fn):
                raise UsageError(f"{target!r} is a {type(fn).__name__}, not a function taking the Manager")
            try:
                result = fn(mgr)
                if inspect.isawaitable(result):
                    await result
            except (TypeError, ValueError) as exc:  # a misuse of the Builder and friends
                raise UsageError(
                    f"{target}(mgr) failed: {type(exc).__name__}: {exc}{_user_frame(exc)}"
                ) from None
    if mgr._user_runnable_count() == before:
        how = f"{target}(mgr)" if attr else f"importing {module_name!r}"
        raise UsageError(
            f"{how} added no controller to the Manager: build one with "
            "current_manager().controller(name)...complete(reconcile), or pass MODULE:FUNCTION"
        )


async def install_crds(rest: Any, paths: Sequence[str], *, timeout: float = 30.0) -> None:
    """Create each CRD (YAML, possibly several documents) unless it exists; wait until served."""
    import yaml  # type: ignore[import-untyped]

    from pycontroller.errors import AlreadyExistsError, NotFoundError

    texts = [Path(path).read_text() for path in paths]  # noqa: ASYNC240 - small local files, at start-up
    crds = [doc for text in texts for doc in yaml.safe_load_all(text) if doc]
    for crd in crds:
        with contextlib.suppress(AlreadyExistsError):
            await rest.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body=crd)
    for crd in crds:
        spec = crd.get("spec") or {}
        version = next((v["name"] for v in spec.get("versions") or () if v.get("served", True)), None)
        if version is None:
            continue
        path = f"/apis/{spec.get('group')}/{version}/{(spec.get('names') or {}).get('plural')}"
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            try:
                await rest.request("GET", path, query={"limit": 1})
                break
            except NotFoundError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{path} was not served within {timeout}s of creating its CRD"
                    ) from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.2)


# -- running ----------------------------------------------------------------------------------------


def _manager_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    namespaces = list(args.namespace or ())
    if len(namespaces) == 1:
        kwargs["namespace"] = namespaces[0]
    elif namespaces:
        try:  # a cache over several namespaces, where this pycontroller has one
            options = importlib.import_module("pycontroller.cache.options")
        except ImportError:
            raise UsageError(
                f"--namespace given {len(namespaces)} times ({', '.join(namespaces)}): this pycontroller "
                "caches one namespace or all of them"
            ) from None
        kwargs["cache"] = options.CacheOptions(default_namespaces=namespaces)
    return kwargs | {
        "metrics_bind_address": args.metrics_bind_address,
        "health_probe_bind_address": args.health_probe_bind_address,
        "graceful_shutdown_timeout": args.graceful_shutdown_timeout,
        "leader_election": args.leader_elect,
        "leader_election_id": args.leader_election_id,
        "leader_election_namespace": args.leader_election_namespace,
    }


async def _run(args: argparse.Namespace, on_manager: Callable[[Any], None] | None = None) -> int:
    from pycontroller.manager import Manager

    log = logging.getLogger("pycontroller.cli")
    async with contextlib.AsyncExitStack() as stack:
        if args.embedded:
            apiserver = importlib.import_module("pycontroller.testing.apiserver")
            server = await stack.enter_async_context(apiserver.FakeAPIServer())
            api_client = server.new_client()
            stack.push_async_callback(api_client.close)
            log.info("Embedded in-memory API server at %s", server.url)
            mgr = Manager(api_client, **_manager_kwargs(args))
        else:
            mgr = Manager(
                kubeconfig=args.kubeconfig, context=args.context, master=args.master, **_manager_kwargs(args)
            )
        try:
            if args.crd:
                await install_crds(mgr.get_api_reader(), args.crd)
            await load_target(args.target, mgr)
        except BaseException:
            if not args.embedded:
                await mgr.get_api_reader().api_client.close()  # the Manager never ran to close it
            raise
        if on_manager is not None:
            on_manager(mgr)
        await mgr.run()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``pycontroller``'s entry point; returns the exit status."""
    args = parse_args(argv)
    from pycontroller.errors import PyControllerError
    from pycontroller.log import configure_logging

    configure_logging(json=args.log_format == "json", level=args.log_level, stream=sys.stderr)
    # Until the Manager installs its own handlers (graceful shutdown), SIGTERM stops start-up the
    # way Ctrl-C does, so clients and the embedded server are closed either way.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return asyncio.run(_run(args))
    except UsageError as exc:
        print(f"pycontroller run: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except (PyControllerError, TimeoutError, OSError) as exc:
        print(f"pycontroller run: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def entry_point() -> None:
    """The ``pycontroller`` console script."""
    sys.exit(main())
