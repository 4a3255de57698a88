"""A stand-in for kube-controller-manager's Deployment controller, for clusters that have none.

The in-memory API server (and envtest) run no controllers, so nothing would ever make a Deployment
available and the Foo's status would stay at 0. This small controller, written the
controller-runtime way with :class:`pycontroller.Controller`, marks every Deployment as fully
rolled out: ``status.replicas``, ``readyReplicas``, ``availableReplicas`` and ``updatedReplicas``
equal ``spec.replicas`` (default 1), ``observedGeneration`` equals ``metadata.generation``.
It never creates Pods. Do not run it against a real cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pycontroller import Controller, RestClient, enqueue_object
from pycontroller.cache import Lister, split_meta_namespace_key
from pycontroller.errors import NotFoundError

from .foo import DEPLOYMENTS

__all__ = ["available_status", "new_simulated_deployment_controller"]

NAME = "simulated-deployment-controller"


def available_status(deployment: Mapping[str, Any]) -> dict[str, Any]:
    """The status a healthy, fully rolled-out Deployment reports."""
    replicas = (deployment.get("spec") or {}).get("replicas")
    replicas = 1 if replicas is None else int(replicas)
    status: dict[str, Any] = {
        "replicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "updatedReplicas": replicas,
    }
    generation = (deployment.get("metadata") or {}).get("generation")
    if generation is not None:
        status["observedGeneration"] = generation
    return status


def new_simulated_deployment_controller(
    client: Any, deployment_informer: Any, *, name: str = NAME
) -> Controller:
    """A Controller that marks every Deployment seen by ``deployment_informer`` available.

    Add it to the Manager that owns the informer (``mgr.add(...)``). ``name`` must be unique among
    the process's live controllers."""
    rest = RestClient.wrap(client)
    lister = Lister(deployment_informer.indexer)

    async def reconcile(key: str) -> None:
        namespace, name = split_meta_namespace_key(key)
        try:
            deployment = lister.namespace(namespace).get(name)
        except NotFoundError:
            return  # deleted: nothing to simulate
        wanted = available_status(deployment)
        current = deployment.get("status") or {}
        if all(current.get(k) == v for k, v in wanted.items()):
            return  # already says what it should: no write
        # Write the status on a copy; objects from the cache are shared and read-only.
        updated = dict(deployment)
        updated["status"] = {**current, **wanted}
        await rest.replace_status(DEPLOYMENTS, updated)

    controller = Controller(name, reconcile)
    controller.watch(deployment_informer, enqueue_object())
    return controller
