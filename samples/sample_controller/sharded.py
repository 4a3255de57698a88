"""``--shard`` mode: the sample-controller sharded across the replicas of a Deployment.

Every replica holds a shard Lease named after its pod and reconciles only the Foos (and caches only
the Foos and Deployments) labelled for it; the leader-elected replica runs the sharder, which
labels new Foos and moves Foos with the drain protocol when replicas come and go (see
docs/sharding.md). Deploy with ``artifacts/sharded/`` (3 replicas, RBAC for labels and Leases).
"""

from __future__ import annotations

from typing import Any

from pycontroller import GroupVersionResource, Manager
from pycontroller.sharding import RingResource, ShardingOptions

from .controller import SampleController
from .foo import CONTROLLER_AGENT_NAME, DEPLOYMENTS, FOOS

__all__ = ["RING", "ShardedSampleController", "add_sharded_sample_controller", "sharding_options"]

RING = "sample-controller"
"""The ring's name: the Foos' label is ``shard.sharding.pycontroller.dev/sample-controller``."""


def sharding_options(
    lease_namespace: str | None, shard_name: str | None = None, **lease: float
) -> ShardingOptions:
    """The ring of Foos, whose Deployments follow their Foo."""
    return ShardingOptions(
        ring=RING,
        resources=[
            RingResource(
                FOOS.group,
                FOOS.version,
                FOOS.resource,
                "Foo",
                controlled=[
                    GroupVersionResource(DEPLOYMENTS.group, DEPLOYMENTS.version, DEPLOYMENTS.resource)
                ],
            )
        ],
        shard_name=shard_name,
        lease_namespace=lease_namespace,
        **lease,  # type: ignore[arg-type]
    )


class ShardedSampleController(SampleController):
    """The sample-controller whose sync goes through the shard's protocol; runs in every replica."""

    def __init__(self, mgr: Manager, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.need_leader_election = False  # every replica reconciles its own share
        foos = mgr.informer_for(FOOS.group, FOOS.version, FOOS.resource)
        self._sharded = mgr.sharding.wrap_reconcile(super().sync_handler, foos)

        def requeue_all() -> None:  # the shard (re)gained its Lease: look at everything it holds
            for key in foos.indexer.list_keys():
                self.workqueue.add(key)

        mgr.sharding.shard.on_ready(requeue_all)

    async def sync_handler(self, key: str) -> None:
        result = await self._sharded(key)
        if result is not None and result.requeue_after:
            # Not ready (no Lease yet) or another sync of this key in flight: look again later.
            self.workqueue.add_after(key, result.requeue_after)


def add_sharded_sample_controller(
    mgr: Manager, client: Any, recorder: Any, *, workers: int = 2, status_subresource: bool = True
) -> ShardedSampleController:
    """Build the sharded sample-controller on ``mgr`` (made with ``sharding=sharding_options(...)``)."""
    if mgr.sharding is None:
        raise ValueError("the Manager needs sharding=sharding_options(...) for --shard mode")
    deployments = mgr.informer_for(DEPLOYMENTS.group, DEPLOYMENTS.version, DEPLOYMENTS.resource)
    foos = mgr.informer_for(FOOS.group, FOOS.version, FOOS.resource)
    controller = ShardedSampleController(
        mgr, client, deployments, foos, recorder, workers=workers, status_subresource=status_subresource
    )
    controller.name = f"{CONTROLLER_AGENT_NAME}-{mgr.sharding.shard.name}"
    mgr.add(controller)
    return controller
