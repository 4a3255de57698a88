"""The sample-controller: Kubernetes' sample-controller, ported to pycontroller.

It is written like the Go original, with the low-level pieces in plain sight (informers, listers, a
rate-limited work queue, an event recorder) rather than hidden in :class:`pycontroller.Controller`,
so it can be read top to bottom the way client-go controllers are written:

    __init__                 event handlers: Foo changes -> enqueue_foo; Deployment changes -> handle_object
    run()                    wait for the caches, start the workers, block until stop()
    run_worker()             loop on process_next_work_item() until the queue shuts down
    process_next_work_item() take one key; sync_handler(key); then forget, or add_rate_limited to retry
    sync_handler(key)        compare the Foo with its Deployment and converge; update the Foo's status

The rest of the program (the Manager with metrics, health probes, leader election and signal
handling) is in :mod:`samples.sample_controller.cli`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from pycontroller.cache import (
    DeletedFinalStateUnknown,
    Lister,
    ResourceEventHandlerFuncs,
    split_meta_namespace_key,
)
from pycontroller.cache import meta_namespace_key_func as key_of
from pycontroller.client import RestClient
from pycontroller.errors import ConflictError, NotFoundError
from pycontroller.workqueue import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    RateLimitingQueue,
)

from .foo import (
    CONTROLLER_AGENT_NAME,
    DEPLOYMENTS,
    ERR_RESOURCE_EXISTS,
    FOOS,
    INVALID_SPEC,
    MESSAGE_RESOURCE_EXISTS,
    MESSAGE_RESOURCE_SYNCED,
    SUCCESS_SYNCED,
    foo_status_with,
    is_controlled_by,
    new_deployment,
    spec_problem,
)

__all__ = ["ResourceExistsError", "SampleController", "sample_rate_limiter"]

log = logging.getLogger("samples.sample_controller")


def sample_rate_limiter(clock: Any = None) -> MaxOfRateLimiter:
    """sample-controller's limiter: per-key exponential backoff 5 ms .. 1000 s, and an overall
    token bucket of 50 qps with a burst of 300 (the slower of the two wins). ``clock`` drives the
    bucket (tests pass a FakeClock)."""
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(0.005, 1000.0),
        BucketRateLimiter(qps=50.0, burst=300, clock=clock),
    )


class SampleController:
    """Reconciles Foos into Deployments.

    ``client`` is a :class:`pycontroller.RestClient` (or a kubernetes_asyncio ApiClient);
    ``deployment_informer`` and ``foo_informer`` are shared informers (from a Manager or a
    SharedInformerFactory) for apps/v1 deployments and samplecontroller.k8s.io/v1alpha1 foos;
    ``recorder`` is an EventRecorder. ``status_subresource`` says whether the Foo CRD was installed
    with the status subresource (crd-status-subresource.yaml); without it status is written with a
    plain update, as the original's comment explains.
    """

    def __init__(
        self,
        client: Any,
        deployment_informer: Any,
        foo_informer: Any,
        recorder: Any,
        *,
        rate_limiter: Any = None,
        status_subresource: bool = True,
        clock: Any = None,
        workers: int = 2,
    ) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a whole number >= 1, got {workers!r}")
        self.name = CONTROLLER_AGENT_NAME
        self.workers = workers
        # Run only while holding the Lease when leader election is on (a Manager reads this).
        self.need_leader_election = True
        self._stopping = False
        self._stop_event: asyncio.Event | None = None
        self.client = RestClient.wrap(client)
        self.deployments_lister = Lister(deployment_informer.indexer)
        self.foos_lister = Lister(foo_informer.indexer)
        self.recorder = recorder
        self.status_subresource = status_subresource
        # The work queue: changes become keys here instead of being acted on at once, so a fixed
        # number of workers process them, one key is never processed by two workers at the same
        # time, and failures are retried with backoff.
        kwargs: dict[str, Any] = {"name": "Foos"}
        if clock is not None:
            kwargs["clock"] = clock
        self.workqueue: RateLimitingQueue[str] = RateLimitingQueue(
            rate_limiter or sample_rate_limiter(clock), **kwargs
        )

        log.info("Setting up event handlers")
        # Foo changes: enqueue the Foo's key.
        foo_registration = foo_informer.add_event_handler(
            ResourceEventHandlerFuncs(
                on_add=lambda obj, is_in_initial_list=False: self.enqueue_foo(obj),
                on_update=lambda old, new: self.enqueue_foo(new),
            )
        )
        # Deployment changes: find the Foo that owns the Deployment (if any) and enqueue it. This
        # way no Deployment-specific logic is needed: every change ends in a Foo being synced.
        deployment_registration = deployment_informer.add_event_handler(
            ResourceEventHandlerFuncs(
                on_add=lambda obj, is_in_initial_list=False: self.handle_object(obj),
                on_update=self._on_deployment_update,
                on_delete=self.handle_object,
            )
        )
        self._synced: list[Callable[[], bool]] = [
            deployment_registration.has_synced,
            foo_registration.has_synced,
        ]

    # -- run, worker, process next item, sync ---------------------------------------------------

    async def run(self) -> None:
        """Wait for the caches to sync, then run ``workers`` workers until :meth:`stop`.

        Suspends until stopped. After :meth:`stop` the queue takes no new keys; the workers finish
        the keys already queued (as client-go's do after ShutDown) and return. Cancelling ``run()``
        stops the workers at once. The informers are started by the
        caller (the Manager starts them). A Manager runs this as one of its runnables."""
        log.info("Starting Foo controller")
        self._stop_event = stop = asyncio.Event()
        if self._stopping:
            stop.set()
        tasks: list[asyncio.Task[None]] = []
        try:
            log.info("Waiting for informer caches to sync")
            while not self.has_synced():
                if stop.is_set():
                    return
                await asyncio.sleep(0.1)  # client-go's WaitForCacheSync polls every 100 ms too
            log.info("Starting workers (%d)", self.workers)
            tasks = [
                asyncio.create_task(self.run_worker(), name=f"foo-worker-{i}") for i in range(self.workers)
            ]
            log.info("Started workers")
            await stop.wait()
            log.info("Shutting down workers")
            # No new keys; the workers drain what is queued, then get "shutdown" and return.
            self.workqueue.shut_down()
            await asyncio.gather(*tasks)
        finally:
            self.workqueue.shut_down()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        """Ask :meth:`run` to return once the keys already queued are processed. Idempotent; never
        suspends; call it from the controller's event loop."""
        self._stopping = True
        if self._stop_event is not None:
            self._stop_event.set()

    def has_synced(self) -> bool:
        """True once both informers have delivered their initial lists to this controller."""
        return all(synced() for synced in self._synced)

    async def run_worker(self) -> None:
        """A long-running worker: process items until the queue shuts down."""
        while await self.process_next_work_item():
            pass

    async def process_next_work_item(self) -> bool:
        """Read one key off the queue and sync it. Returns False once the queue has shut down."""
        key, shutdown = await self.workqueue.get()
        if shutdown:
            return False
        try:
            await self.sync_handler(key)
        except ConflictError as exc:
            # The object changed since the cache showed it to us (often by our own previous write):
            # expected with a cache, so not an error. Retry with backoff against a fresher cache.
            self.workqueue.add_rate_limited(key)
            log.info("conflict syncing %r, requeuing: %s", key, exc)
        except Exception as exc:
            # Any other error (network, a 5xx, a Deployment we do not own...): put the key back
            # with per-key exponential backoff, so it is retried without spinning.
            self.workqueue.add_rate_limited(key)
            log.error("error syncing %r: %s, requeuing", key, exc)
        else:
            # Success: forget the key's failure history so its next failure starts again at 5 ms.
            self.workqueue.forget(key)
            log.info("Successfully synced %r", key)
        finally:
            # Always tell the queue this key is finished: until then it will not hand the key to
            # another worker, and a change that arrived meanwhile is queued again only now.
            self.workqueue.done(key)
        return True

    async def sync_handler(self, key: str) -> None:
        """Compare the Foo named by ``key`` with its Deployment, converge them, update the Foo's status.

        Raises on errors worth retrying; returns normally when there is nothing (more) to do,
        including for keys of Foos that no longer exist and for Foos whose spec is invalid (retrying
        cannot fix those; their next update enqueues them again)."""
        try:
            namespace, name = split_meta_namespace_key(key)
        except ValueError:
            log.error("invalid resource key: %s", key)
            return

        # Read the Foo from the informer's cache (never mutate what the cache returns).
        try:
            foo = self.foos_lister.namespace(namespace).get(name)
        except NotFoundError:
            # The Foo is gone; its Deployment goes with it through garbage collection.
            log.info("foo %r in work queue no longer exists", key)
            return

        problem = spec_problem(foo)
        if problem is not None:
            # Absorb the error: requeueing cannot fix a spec. The next update of the Foo enqueues it.
            log.error("%s: %s", key, problem)
            self.recorder.event(foo, "Warning", INVALID_SPEC, problem)
            await self.update_foo_status(foo, None, problem)
            return

        deployment_name = foo["spec"]["deploymentName"]
        try:
            deployment = self.deployments_lister.namespace(namespace).get(deployment_name)
        except NotFoundError:
            # The Deployment does not exist: create it. An error (network, AlreadyExists because
            # the cache lags) is raised and the key retried.
            deployment = await self.client.create(DEPLOYMENTS, new_deployment(foo))
            log.info("created deployment %s/%s", namespace, deployment_name)

        # A Deployment of that name exists but is not ours: say so on the Foo, and fail (retried
        # with backoff, so the Foo converges once the other Deployment is removed).
        if not is_controlled_by(deployment, foo):
            message = MESSAGE_RESOURCE_EXISTS.format(name=deployment["metadata"]["name"])
            self.recorder.event(foo, "Warning", ERR_RESOURCE_EXISTS, message)
            raise ResourceExistsError(message)

        # The Foo's replicas differ from the Deployment's: update the Deployment. The update
        # carries the cached resourceVersion, so a concurrent change gives a Conflict and a retry.
        replicas = foo["spec"].get("replicas")
        if replicas is not None and replicas != (deployment.get("spec") or {}).get("replicas"):
            log.info(
                "Foo %s replicas: %d, deployment replicas: %s",
                name,
                replicas,
                (deployment.get("spec") or {}).get("replicas"),
            )
            desired = new_deployment(foo)
            desired["metadata"]["resourceVersion"] = deployment["metadata"]["resourceVersion"]
            deployment = await self.client.replace(DEPLOYMENTS, desired)

        # Finally, make the Foo's status show the world as it is.
        await self.update_foo_status(foo, deployment, None)
        self.recorder.event(foo, "Normal", SUCCESS_SYNCED, MESSAGE_RESOURCE_SYNCED)

    async def update_foo_status(
        self, foo: Mapping[str, Any], deployment: Mapping[str, Any] | None, problem: str | None
    ) -> None:
        """Write status.availableReplicas (from ``deployment``) and the SpecValid condition
        (from ``problem``) on a copy of ``foo``, skipping the write when nothing would change.

        (The original writes status on every sync; skipping the no-op write means a resync of an
        up-to-date Foo costs no API call.)"""
        available = None
        if deployment is not None:
            available = int((deployment.get("status") or {}).get("availableReplicas") or 0)
        new = foo_status_with(foo, available_replicas=available, problem=problem)
        if _same_status(new.get("status") or {}, foo.get("status") or {}):
            return
        if self.status_subresource:
            await self.client.replace_status(FOOS, new)
        else:
            await self.client.replace(FOOS, new)

    # -- event handlers -------------------------------------------------------------------------

    def enqueue_foo(self, obj: Mapping[str, Any]) -> None:
        """Put a Foo's ``namespace/name`` key on the queue. Only for Foo objects."""
        self.workqueue.add(key_of(obj))

    def _on_deployment_update(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            # A periodic resync sends an update for every known Deployment; two different versions
            # of one Deployment always have different resourceVersions, so this is not a change.
            return
        self.handle_object(new)

    def handle_object(self, obj: Any) -> None:
        """Enqueue the Foo that controls ``obj`` (a Deployment, or the tombstone of a deleted one).

        Objects not controlled by a Foo, or whose Foo is not in the cache, are ignored."""
        if isinstance(obj, DeletedFinalStateUnknown):
            # The watch missed the delete; the tombstone carries the last state we knew.
            obj = obj.obj
            log.info("Recovered deleted object %r from tombstone", key_of(obj))
        meta = obj.get("metadata") or {}
        owner = next((ref for ref in meta.get("ownerReferences") or () if ref.get("controller")), None)
        if owner is None or owner.get("kind") != "Foo":
            return
        try:
            foo = self.foos_lister.namespace(meta.get("namespace", "")).get(owner["name"])
        except NotFoundError:
            log.info("ignoring orphaned object %r of foo %r", key_of(obj), owner["name"])
            return
        self.enqueue_foo(foo)


class ResourceExistsError(Exception):
    """The Deployment a Foo names exists and is controlled by something else."""


def _same_status(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    def strip(status: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(status)
        out["conditions"] = [
            {k: v for k, v in c.items() if k != "lastTransitionTime"} for c in status.get("conditions") or ()
        ]
        out.setdefault("availableReplicas", None)
        return out

    return strip(a) == strip(b)
