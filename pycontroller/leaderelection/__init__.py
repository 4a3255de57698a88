"""Leader election on a coordination.k8s.io/v1 Lease: client-go's ``tools/leaderelection``.

Run two or three replicas of an operator; exactly one leads at a time and a new one takes over
when it dies. The flow and the safety argument are in :mod:`pycontroller.leaderelection.elector`.

For the Manager (and anyone embedding an elector)::

    lock = LeaseLock(client, namespace="kube-system", name="my-operator",
                     identity=f"{socket.gethostname()}_{uuid.uuid4()}")   # unique per process
    elector = LeaderElector(
        lock,
        lease_duration=15, renew_deadline=10, retry_period=2,     # client-go's defaults
        release_on_cancel=True,            # hand over in ~retry_period on a clean shutdown
        on_started_leading=run_leader_elected_runnables,  # async, cancelled when leadership ends
        on_stopped_leading=lambda: ...,    # after that task finished (only if we led)
        on_new_leader=lambda identity: ...,   # every change of observed holder
    )
    task = asyncio.create_task(elector.run())
    # run() returns (normally) when leadership is LOST: controller-runtime then exits non-zero.
    # Cancelling the task is the clean shutdown: run() cancels the leading task, releases the lease
    # (with release_on_cancel) and re-raises CancelledError.
    elector.is_leader()       # True only while leading (False from the moment it steps down)
    elector.check()           # for /healthz: raises LeaseNotRenewedError when leading but not
                              # renewed for lease_duration + 20 s (client-go's HealthzAdaptor)

Only cancel the task after the code guarded by the lease stopped (release_on_cancel lets another
replica lead at once). The ``leader_election_master_status{name}`` gauge is exported through a
collector registered on prometheus_client's default registry (see :func:`register_metrics` for
another registry).
"""

from pycontroller.leaderelection.elector import JITTER_FACTOR, LeaderElector, LeaseNotRenewedError
from pycontroller.leaderelection.metrics import COLLECTOR, LeaderElectionCollector, register_metrics
from pycontroller.leaderelection.record import LeaderElectionRecord
from pycontroller.leaderelection.resourcelock import LEASES, LeaseLock, ResourceLock

__all__ = [
    "COLLECTOR",
    "JITTER_FACTOR",
    "LEASES",
    "LeaderElectionCollector",
    "LeaderElectionRecord",
    "LeaderElector",
    "LeaseLock",
    "LeaseNotRenewedError",
    "ResourceLock",
    "register_metrics",
]
