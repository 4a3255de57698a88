"""What a sharded controller is configured with: its ring, its resources, its labels, its errors.

A :class:`ControllerRing` names the ring and lists the resources it shards (:class:`RingResource`),
each with the resources its objects control (a Foo's Deployments), which follow their controller's
shard. :class:`ShardingOptions` adds this replica's shard name, the Lease settings and the label
domain. Everything here is validated when built, so a bad name fails at start with a
:class:`ShardingConfigError` and never as a stuck object later.

Labels (``<domain>`` defaults to ``sharding.pycontroller.dev``)::

    shard.<domain>/<ring>: <shard>        on every object of the ring: who reconciles it
    drain.<domain>/<ring>: "true"         the sharder asks the current shard to hand it back
    <domain>/controllerring: <ring>       on every shard Lease of the ring
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterable

import attrs

from pycontroller.client import GroupVersionResource
from pycontroller.errors import ConfigError, PyControllerError

__all__ = [
    "DEFAULT_DOMAIN",
    "ControllerRing",
    "DuplicateShardError",
    "RingResource",
    "ShardLeaseLostError",
    "ShardingConfigError",
    "ShardingOptions",
]

DEFAULT_DOMAIN = "sharding.pycontroller.dev"

_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN = re.compile(rf"^{_DNS_LABEL}(\.{_DNS_LABEL})*$")


class ShardingConfigError(ConfigError):
    """A ring, shard or domain name that cannot be used in labels or Lease names, or a bad option."""


class DuplicateShardError(ShardingConfigError):
    """Another running replica holds this replica's shard Lease: two replicas share one shard name."""


class ShardLeaseLostError(PyControllerError):
    """This replica could not renew its shard Lease in time; it stopped reconciling (exit and restart)."""


def _check_label_name(value: str, what: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {type(value).__name__}")
    if not _LABEL_NAME.match(value):
        raise ShardingConfigError(
            f"{what} {value!r} is not a valid label value: it must be 1-63 characters of letters, "
            "digits, '-', '_' or '.', starting and ending with a letter or digit"
        )


def _check_subdomain(value: str, what: str, limit: int = 253) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {type(value).__name__}")
    if len(value) > limit or not _DNS_SUBDOMAIN.match(value):
        raise ShardingConfigError(
            f"{what} {value!r} is not a DNS subdomain: lowercase letters, digits, '-' and '.', "
            f"at most {limit} characters"
        )


def _resources(items: Iterable[RingResource]) -> tuple[RingResource, ...]:
    return tuple(items)


def _gvrs(items: Iterable[GroupVersionResource]) -> tuple[GroupVersionResource, ...]:
    return tuple(items)


def _namespaces(items: Iterable[str] | None) -> tuple[str, ...] | None:
    if items is None:
        return None
    if isinstance(items, str):
        raise TypeError("namespaces takes a list of namespace names, not one str")
    return tuple(dict.fromkeys(items))


@attrs.frozen
class RingResource:
    """A resource the ring shards: ``group``/``version``/``resource`` (plural) and its ``kind``.

    ``controlled`` lists the resources whose objects it controls (ownerReference with
    ``controller: true``): they are labelled with their controller's shard and moved with it.
    """

    group: str
    version: str
    resource: str
    kind: str
    controlled: tuple[GroupVersionResource, ...] = attrs.field(default=(), converter=_gvrs)

    @property
    def gvr(self) -> GroupVersionResource:
        """The resource as a :class:`GroupVersionResource`."""
        return GroupVersionResource(self.group, self.version, self.resource)


@attrs.frozen
class ControllerRing:
    """A named ring and the resources it shards. ``name`` must be a valid label value (it ends the
    shard and drain label keys); ShardingConfigError otherwise."""

    name: str
    resources: tuple[RingResource, ...] = attrs.field(converter=_resources)

    def __attrs_post_init__(self) -> None:
        _check_label_name(self.name, "ControllerRing name")
        if not self.resources:
            raise ShardingConfigError(f"ControllerRing {self.name!r} needs at least one resource")
        for r in self.resources:
            if not isinstance(r, RingResource):
                raise TypeError(f"ControllerRing resources must be RingResource, got {type(r).__name__}")

    def main_resources(self) -> dict[GroupVersionResource, RingResource]:
        """The ring's own resources by GVR."""
        return {r.gvr: r for r in self.resources}

    def controlled_resources(self) -> set[GroupVersionResource]:
        """Every controlled resource of the ring (not also a main resource)."""
        main = self.main_resources()
        return {c for r in self.resources for c in r.controlled if c not in main}

    def all_resources(self) -> set[GroupVersionResource]:
        """Main and controlled resources: what is labelled and watched per shard."""
        return set(self.main_resources()) | self.controlled_resources()


def default_shard_name() -> str:
    """This replica's default shard name: the pod's name (``HOSTNAME``), else the host name."""
    return os.environ.get("HOSTNAME") or socket.gethostname()


@attrs.frozen
class ShardingOptions:
    """How a Manager shards its controllers (``Manager(..., sharding=ShardingOptions(...))``).

    ``ring``: a :class:`ControllerRing`, or its name together with ``resources``. ``shard_name``:
    this replica's shard (default: the pod name); it names its Lease, so it must be a DNS subdomain
    and a label value, unique among the running replicas (a duplicate is refused with
    :class:`DuplicateShardError`). ``lease_namespace``: where the shard Leases live (default: the
    pod's namespace). ``lease_duration``/``renew_deadline``/``retry_period``: as for leader election
    (15/10/2 s). ``domain``: the label domain. ``virtual_nodes``: tokens per shard on the ring.
    ``resync_period``: how often the sharder re-checks every assignment without a membership change.
    ``namespaces``: the namespaces whose objects the ring shards (default None: every namespace);
    the sharder lists, watches and labels only there, and a ring resource's informer that would
    watch every namespace is scoped to the ring's namespace when there is exactly one (with several,
    its label selector already limits it to this shard's objects). Objects of other namespaces are
    left as they are, labels included. ``max_concurrent_writes``: how many label writes the sharder
    has in flight at once (assignments, drain labels, direct moves; default 8).
    """

    ring: ControllerRing | str
    resources: tuple[RingResource, ...] = attrs.field(default=(), converter=_resources)
    shard_name: str | None = None
    lease_namespace: str | None = None
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    domain: str = DEFAULT_DOMAIN
    virtual_nodes: int = 100
    resync_period: float = 300.0
    namespaces: tuple[str, ...] | None = attrs.field(default=None, converter=_namespaces)
    max_concurrent_writes: int = 8

    def controller_ring(self) -> ControllerRing:
        """The ring (built from ``ring`` and ``resources`` when ``ring`` is a name)."""
        if isinstance(self.ring, ControllerRing):
            if self.resources:
                raise ShardingConfigError(
                    "pass resources inside the ControllerRing or with a ring name, not both"
                )
            return self.ring
        return ControllerRing(self.ring, self.resources)

    def validate(self) -> None:
        """Raise ShardingConfigError for any name or duration that cannot work."""
        self.controller_ring()
        _check_subdomain(self.domain, "sharding domain", 253 - len("drain."))
        if self.shard_name is not None:
            _check_subdomain(self.shard_name, "shard name")
            _check_label_name(self.shard_name, "shard name")
        if self.resync_period <= 0:
            raise ShardingConfigError(f"resync_period must be > 0, got {self.resync_period}")
        if self.namespaces is not None:
            if not self.namespaces:
                raise ShardingConfigError("namespaces=[] shards nothing; leave it None for every namespace")
            for ns in self.namespaces:
                if not isinstance(ns, str) or len(ns) > 63 or not re.fullmatch(_DNS_LABEL, ns):
                    raise ShardingConfigError(
                        f"namespace {ns!r} is not a namespace name (a DNS label: lowercase letters, "
                        "digits and '-', at most 63 characters)"
                    )
        if isinstance(self.max_concurrent_writes, bool) or not isinstance(self.max_concurrent_writes, int):
            raise TypeError(f"max_concurrent_writes must be an int, got {self.max_concurrent_writes!r}")
        if self.max_concurrent_writes < 1:
            raise ShardingConfigError(f"max_concurrent_writes must be >= 1, got {self.max_concurrent_writes}")


def shard_label(domain: str, ring: str) -> str:
    """``shard.<domain>/<ring>``: the label naming an object's shard."""
    return f"shard.{domain}/{ring}"


def drain_label(domain: str, ring: str) -> str:
    """``drain.<domain>/<ring>``: the label asking the object's shard to hand it back."""
    return f"drain.{domain}/{ring}"


def ring_label(domain: str) -> str:
    """``<domain>/controllerring``: the label on a ring's shard Leases."""
    return f"{domain}/controllerring"


def check_shard_name(name: str) -> str:
    """``name`` if it can name a shard (DNS subdomain and label value), else ShardingConfigError."""
    _check_subdomain(name, "shard name")
    _check_label_name(name, "shard name")
    return name


def names(items: Iterable[str]) -> str:
    return ", ".join(sorted(items))
