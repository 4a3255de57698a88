"""Sharding one controller across replicas: a hash ring of shard Leases and labels on objects.

Leader election makes a controller highly available, not bigger. Sharding (the protocol of
kubernetes-controller-sharding, with Kubernetes itself as the engine) splits a ring's objects across
replicas: every replica holds its own shard Lease; the sharder, running in the leader, labels each
object ``shard.<domain>/<ring>=<shard>`` after a consistent hash ring of the live shards; each
replica's informers watch only the objects labelled for it. When membership changes, an object moves
with the drain protocol (drain label -> the old shard acknowledges after its last reconcile -> the new
shard's label), so two replicas never reconcile one object at once. See docs/sharding.md.

Typical use::

    mgr = Manager(api_client, leader_election=True, leader_election_id="foo-sharder",
                  leader_election_namespace="default",
                  sharding=ShardingOptions(ring="foos", lease_namespace="default", resources=[
                      RingResource("samplecontroller.k8s.io", "v1alpha1", "foos", "Foo",
                                   controlled=[GroupVersionResource("apps", "v1", "deployments")])]))
    foos = mgr.informer_for("samplecontroller.k8s.io", "v1alpha1", "foos")   # this shard's Foos only
    ctl = mgr.sharding.controller("foo", reconcile, foos, max_concurrent_reconciles=2)
    mgr.add(ctl)
"""

from pycontroller.sharding.lease import INSTANCE_ANNOTATION, Shard, ShardLeaseLock, lease_state
from pycontroller.sharding.options import (
    DEFAULT_DOMAIN,
    ControllerRing,
    DuplicateShardError,
    RingResource,
    ShardingConfigError,
    ShardingOptions,
    ShardLeaseLostError,
    drain_label,
    ring_label,
    shard_label,
)
from pycontroller.sharding.reconciler import sharded_reconciler
from pycontroller.sharding.ring import (
    DEFAULT_VIRTUAL_NODES,
    HashRing,
    controller_key,
    object_key,
    stable_hash,
)
from pycontroller.sharding.runtime import Sharding
from pycontroller.sharding.sharder import ORPHAN_AFTER, Sharder

__all__ = [
    "DEFAULT_DOMAIN",
    "DEFAULT_VIRTUAL_NODES",
    "INSTANCE_ANNOTATION",
    "ORPHAN_AFTER",
    "ControllerRing",
    "DuplicateShardError",
    "HashRing",
    "RingResource",
    "Shard",
    "ShardLeaseLock",
    "ShardLeaseLostError",
    "Sharder",
    "Sharding",
    "ShardingConfigError",
    "ShardingOptions",
    "controller_key",
    "drain_label",
    "lease_state",
    "object_key",
    "ring_label",
    "shard_label",
    "sharded_reconciler",
    "stable_hash",
]
