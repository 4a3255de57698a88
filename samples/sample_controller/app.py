"""Wiring: the Manager, the sample-controller, and the embedded demo (in-memory API server).

:func:`add_sample_controller` is what a program (or a test) calls to run the sample-controller in a
Manager. :func:`main` is ``python -m samples.sample_controller``: it parses the flags, picks the
cluster (or starts the in-memory API server with the CRD, example-foo and a simulated Deployment
controller), runs until interrupted (SIGINT/SIGTERM, handled by the Manager) or, with ``--once``,
until every Foo has converged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import yaml  # type: ignore[import-untyped]

from pycontroller import Manager, RestClient
from pycontroller.cache import ResourceEventHandlerFuncs
from pycontroller.errors import ApiError, NotFoundError, PyControllerError

from .cli import parse_args
from .controller import SampleController
from .foo import CONTROLLER_AGENT_NAME, DEPLOYMENTS, FOOS, spec_problem
from .simulated import new_simulated_deployment_controller

__all__ = [
    "ARTIFACTS",
    "add_sample_controller",
    "foo_converged",
    "install_crd",
    "main",
    "run",
    "status_subresource_installed",
]

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CRD_GVR_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"

log = logging.getLogger("samples.sample_controller")


def load_manifest(name: str) -> dict[str, Any]:
    """One object from ``artifacts/<name>`` (YAML)."""
    doc = yaml.safe_load((ARTIFACTS / name).read_text())
    if not isinstance(doc, dict):
        raise ValueError(f"{ARTIFACTS / name}: expected one Kubernetes object")
    return doc


async def install_crd(
    client: Any, *, manifest: str = "crd-status-subresource.yaml", timeout: float = 30.0
) -> None:
    """Create the Foo CRD (if it is not there yet) and wait until the API server serves foos."""
    rest = RestClient.wrap(client)
    crd = load_manifest(manifest)
    with contextlib.suppress(ApiError):  # AlreadyExists: fine, it is installed
        await rest.request("POST", CRD_GVR_PATH, body=crd)
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        try:
            await rest.list(FOOS, "default", limit=1)
            return
        except NotFoundError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the API server did not start serving {FOOS} within {timeout}s") from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)


async def status_subresource_installed(client: Any) -> bool:
    """Whether the Foo CRD on the server has the status subresource (discovery lists foos/status).

    Raises :class:`pycontroller.errors.ConfigError` when the server does not serve Foos at all, or
    cannot be reached (a pod is restarted and tries again; a person sees why)."""
    from pycontroller.errors import ConfigError

    rest = RestClient.wrap(client)
    try:
        resources = await rest.request("GET", f"/apis/{FOOS.group}/{FOOS.version}", timeout=30)
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise ConfigError(f"cannot reach the API server at {rest.host}: {exc}") from None
    except NotFoundError:
        raise ConfigError(
            f"the API server does not serve {FOOS.group}/{FOOS.version}: install the Foo CRD first "
            f"(kubectl apply -f {ARTIFACTS / 'crd-status-subresource.yaml'})"
        ) from None
    names = {r.get("name") for r in resources.get("resources") or ()}
    return "foos/status" in names


def new_recorder(mgr: Any, client: Any = None, component: str = CONTROLLER_AGENT_NAME) -> Any:
    """An EventRecorder for ``component``: the Manager's (one broadcaster, run and flushed by it)."""
    return mgr.get_event_recorder_for(component)


def add_sample_controller(
    mgr: Any, client: Any, *, workers: int = 2, status_subresource: bool = True, recorder: Any = None
) -> SampleController:
    """Build the sample-controller on ``mgr``'s shared informers (30 s resync) and add it to ``mgr``."""
    if getattr(mgr, "sharding", None) is not None:  # --shard: see sharded.py
        from .sharded import add_sharded_sample_controller

        return add_sharded_sample_controller(
            mgr,
            client,
            recorder if recorder is not None else new_recorder(mgr, client),
            workers=workers,
            status_subresource=status_subresource,
        )
    deployments = mgr.informer_for(DEPLOYMENTS.group, DEPLOYMENTS.version, DEPLOYMENTS.resource)
    foos = mgr.informer_for(FOOS.group, FOOS.version, FOOS.resource)
    controller = SampleController(
        client,
        deployments,
        foos,
        recorder if recorder is not None else new_recorder(mgr, client),
        workers=workers,
        status_subresource=status_subresource,
    )
    mgr.add(controller)
    return controller


def foo_converged(foo: Mapping[str, Any]) -> bool:
    """A valid Foo whose status.availableReplicas equals its spec.replicas (default 1)."""
    if spec_problem(foo) is not None:
        return False
    want = (foo.get("spec") or {}).get("replicas")
    want = 1 if want is None else want
    return (foo.get("status") or {}).get("availableReplicas") == want


class Reporter:
    """Prints what happens, in a readable way: Deployments, Foo statuses, Events."""

    def __init__(self, out: Any = None) -> None:
        self.out = out or sys.stdout
        self.t0 = time.monotonic()

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.t0:6.2f}s] {text}", file=self.out, flush=True)

    def attach(self, mgr: Any) -> None:
        deployments = mgr.informer_for(DEPLOYMENTS.group, DEPLOYMENTS.version, DEPLOYMENTS.resource)
        foos = mgr.informer_for(FOOS.group, FOOS.version, FOOS.resource)
        events = mgr.informer_for("", "v1", "events")
        deployments.add_event_handler(
            ResourceEventHandlerFuncs(on_add=self._deployment_added, on_update=self._deployment_updated)
        )
        foos.add_event_handler(ResourceEventHandlerFuncs(on_add=self._foo_added, on_update=self._foo_updated))
        events.add_event_handler(ResourceEventHandlerFuncs(on_add=self._event, on_update=self._event_update))

    @staticmethod
    def _name(obj: Mapping[str, Any]) -> str:
        meta = obj.get("metadata") or {}
        return f"{meta.get('namespace')}/{meta.get('name')}"

    def _deployment_added(self, obj: Mapping[str, Any], is_in_initial_list: bool = False) -> None:
        owner = next((r for r in obj["metadata"].get("ownerReferences") or () if r.get("controller")), None)
        by = f", controlled by {owner['kind']} {owner['name']}" if owner else ""
        self.say(
            f"Deployment {self._name(obj)} created: replicas {obj.get('spec', {}).get('replicas', 1)}{by}"
        )

    def _deployment_updated(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        before, after = old.get("status") or {}, new.get("status") or {}
        if before.get("availableReplicas") != after.get("availableReplicas"):
            self.say(
                f"Deployment {self._name(new)} available replicas: "
                f"{after.get('availableReplicas', 0)}/{new.get('spec', {}).get('replicas', 1)}"
            )
        if (old.get("spec") or {}).get("replicas") != (new.get("spec") or {}).get("replicas"):
            self.say(f"Deployment {self._name(new)} scaled to {new['spec'].get('replicas')} replicas")

    def _foo_added(self, obj: Mapping[str, Any], is_in_initial_list: bool = False) -> None:
        spec = obj.get("spec") or {}
        self.say(
            f"Foo {self._name(obj)}: spec.deploymentName={spec.get('deploymentName')!r} "
            f"spec.replicas={spec.get('replicas')}"
        )

    def _foo_updated(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        if (old.get("status") or {}) != (new.get("status") or {}):
            status = new.get("status") or {}
            self.say(
                f"Foo {self._name(new)} status.availableReplicas={status.get('availableReplicas')} "
                f"(spec.replicas={(new.get('spec') or {}).get('replicas')})"
            )

    def _event(self, obj: Mapping[str, Any], is_in_initial_list: bool = False) -> None:
        involved = obj.get("involvedObject") or {}
        count = obj.get("count") or 1
        times = f" (x{count})" if count > 1 else ""
        self.say(
            f"Event {obj.get('type')} {obj.get('reason')} on {involved.get('kind')} "
            f"{involved.get('namespace')}/{involved.get('name')}: {obj.get('message')}{times}"
        )

    def _event_update(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        if old.get("count") != new.get("count"):
            self._event(new)


def watch_convergence(mgr: Any, reporter: Reporter | None) -> asyncio.Event:
    """An Event set once every Foo in the cache has converged (and there is at least one)."""
    foos = mgr.informer_for(FOOS.group, FOOS.version, FOOS.resource)
    converged = asyncio.Event()

    def check(*_: Any) -> None:
        objs = foos.indexer.list()
        if objs and all(foo_converged(f) for f in objs) and not converged.is_set():
            converged.set()
            if reporter is not None:
                names = ", ".join(Reporter._name(f) for f in objs)
                reporter.say(f"converged: {names}: status.availableReplicas == spec.replicas")

    foos.add_event_handler(
        ResourceEventHandlerFuncs(
            on_add=lambda obj, is_in_initial_list=False: check(), on_update=check, on_delete=check
        )
    )
    return converged


def new_manager(args: Any, api_client: Any = None, *, leader_election_id: str = CONTROLLER_AGENT_NAME) -> Any:
    """A Manager from parsed flags: on ``api_client`` when given, else from --kubeconfig/--master
    (or in-cluster configuration); 30 s resync like sample-controller's informer factories."""
    kwargs: dict[str, Any] = {
        "metrics_bind_address": args.metrics_bind_address,
        "health_probe_bind_address": args.health_probe_bind_address,
        "leader_election": args.leader_elect,
        "leader_election_id": leader_election_id,
        "leader_election_namespace": args.leader_election_namespace,
        "resync_period": 30.0,
    }
    if getattr(args, "shard", False):
        from .sharded import sharding_options

        kwargs["sharding"] = sharding_options(args.leader_election_namespace)
    if api_client is not None:
        kwargs["api_client"] = api_client
    else:
        kwargs["kubeconfig"] = args.kubeconfig
        kwargs["master"] = args.master
    return Manager(**kwargs)


async def _run_manager(mgr: Any, args: Any, converged: asyncio.Event | None) -> int:
    run = asyncio.create_task(mgr.run(), name="manager")
    if converged is None:
        await run
        return 0
    wait = asyncio.create_task(converged.wait())
    done, _ = await asyncio.wait({run, wait}, timeout=args.timeout, return_when=asyncio.FIRST_COMPLETED)
    if wait in done:
        mgr.request_shutdown()
        await run
        return 0
    wait.cancel()
    if run in done:
        await run  # raises if the manager failed
        print("sample-controller: stopped before the Foos converged", file=sys.stderr)
        return 1
    print(
        f"sample-controller: timed out after {args.timeout:g}s waiting for the Foos to converge "
        "(status.availableReplicas == spec.replicas)",
        file=sys.stderr,
    )
    mgr.request_shutdown()
    await run
    return 1


@contextlib.asynccontextmanager
async def _embedded_server(reporter: Reporter) -> AsyncIterator[Any]:
    from pycontroller.testing import FakeAPIServer

    async with FakeAPIServer() as server:
        with tempfile.TemporaryDirectory(prefix="sample-controller-") as tmp:
            kubeconfig = Path(tmp) / "kubeconfig"
            server.write_kubeconfig(str(kubeconfig))
            reporter.say(f"in-memory API server at {server.url} (kubectl --kubeconfig {kubeconfig} get foos)")
            yield server


async def run_embedded(args: Any) -> int:
    reporter = Reporter()
    reporter.say(f"sample-controller: {args.embedded_reason}: running against an in-memory API server")
    async with _embedded_server(reporter) as server:
        api_client = server.new_client()
        try:
            await install_crd(api_client)
            reporter.say("installed CustomResourceDefinition foos.samplecontroller.k8s.io")
            foo = load_manifest("example-foo.yaml")
            await RestClient.wrap(api_client).create(FOOS, foo)
            reporter.say("created Foo default/example-foo from artifacts/example-foo.yaml")
            mgr = new_manager(args, api_client)
            if args.webhooks:  # --webhooks: see webhooks.py
                from .webhooks import enable_webhooks

                server = await enable_webhooks(mgr, api_client, embedded=True)
                reporter.say(f"webhooks served at {server.url}: Foo validation, v1alpha1 <-> v1 conversion")
            add_sample_controller(mgr, api_client, workers=args.workers)
            mgr.add(
                new_simulated_deployment_controller(api_client, mgr.informer_for("apps", "v1", "deployments"))
            )
            reporter.attach(mgr)
            converged = watch_convergence(mgr, reporter) if args.once else None
            return await _run_manager(mgr, args, converged)
        finally:
            await api_client.close()


async def run_cluster(args: Any) -> int:
    mgr = new_manager(args)
    client = mgr.client
    try:
        status_subresource = await status_subresource_installed(client)
    except BaseException:
        await client.api_client.close()  # the Manager never ran, so it will not close it
        raise
    add_sample_controller(mgr, client, workers=args.workers, status_subresource=status_subresource)
    if args.webhooks:  # --webhooks: see webhooks.py
        from .webhooks import enable_webhooks

        await enable_webhooks(mgr, client, embedded=False)
    converged = watch_convergence(mgr, None) if args.once else None
    return await _run_manager(mgr, args, converged)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m samples.sample_controller``; returns the exit status."""
    return run(parse_args(argv))


def run(args: Any) -> int:
    """Run with parsed options (see :func:`samples.sample_controller.cli.parse_args`); the exit status."""
    logging.basicConfig(
        level=logging.WARNING if args.embedded else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Until the Manager installs its own handlers (graceful shutdown), SIGTERM interrupts set-up the
    # way Ctrl-C does, so the in-memory server and clients are closed cleanly either way.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return asyncio.run(run_embedded(args) if args.embedded else run_cluster(args))
    except KeyboardInterrupt:
        print("sample-controller: interrupted", file=sys.stderr)
        return 0
    except PyControllerError as exc:
        print(f"sample-controller: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
