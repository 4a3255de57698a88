"""The shard side of the protocol: reconcile only what is ours, and hand drained objects back.

:func:`sharded_reconciler` wraps a controller's reconcile function. For each key it reads the
object from the shard's label-selected informer cache and then (like kubernetes-controller-sharding's
shard reconciler):

1. not in the cache (gone, or no longer labelled for this shard): nothing to do;
2. labelled for another shard: nothing to do (a delayed requeue can outlive a move);
3. labelled for drain: acknowledge by removing the shard and drain labels (a merge patch guarded by
   the resourceVersion read), once no reconcile of that key runs in this replica; never reconcile;
4. this replica does not hold its shard Lease (starting, stopping, or lost): do not start; retry
   once the shard is ready;
5. otherwise run the user's reconcile, recorded as in flight so that losing the Lease cancels it.

The controller's queue never hands one key to two workers at once, so a drain event that arrives
while the key is reconciled is processed after that reconcile returned: the acknowledgement, and
hence the new shard's label, always comes after the old shard's last reconcile.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.errors import NotFoundError
from pycontroller.reconcile import Result
from pycontroller.sharding.lease import Shard

__all__ = ["sharded_reconciler"]

log = logging.getLogger("pycontroller.sharding")


def sharded_reconciler(
    reconcile: Callable[[str], Any],
    *,
    shard: Shard,
    informer: Any,
    client: Any,
    gvr: GroupVersionResource,
    shard_label: str,
    drain_label: str,
    not_ready_retry: float = 1.0,
) -> Callable[[str], Awaitable[Result | None]]:
    """An async reconcile function applying the protocol above around ``reconcile`` (async or plain;
    a plain one runs in the loop's default executor). ``informer`` is the shard's informer of the
    controller's main resource ``gvr``; ``client`` patches the drain acknowledgement."""
    rest = RestClient.wrap(client)
    is_async = inspect.iscoroutinefunction(reconcile) or inspect.iscoroutinefunction(
        getattr(reconcile, "__call__", None)  # noqa: B004
    )

    async def acknowledge(key: str, obj: dict[str, Any]) -> Result | None:
        if shard.busy(key):
            return Result(requeue_after=0.05)  # another controller of this replica is inside it
        meta = obj["metadata"]
        patch = {
            "metadata": {
                "resourceVersion": meta.get("resourceVersion"),
                "labels": {shard_label: None, drain_label: None},
            }
        }
        try:
            await rest.patch(gvr, meta["name"], patch, meta.get("namespace"))
        except NotFoundError:
            return None
        log.debug("Drained %s from shard %s", key, shard.name)
        return None

    async def sharded(key: str) -> Result | None:
        obj = informer.indexer.get_by_key(key)
        if obj is None:
            return None
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if labels.get(shard_label) != shard.name:
            return None
        if drain_label in labels:
            return await acknowledge(key, obj)
        if not shard.is_ready():
            return Result(requeue_after=not_ready_retry)
        # The user's reconcile runs as its own task, so that losing the Lease cancels it without
        # cancelling the controller's worker (the worker then sees an error and retries later).
        task: asyncio.Future[Any]
        if is_async:
            task = asyncio.ensure_future(reconcile(key))
        else:
            task = asyncio.get_running_loop().run_in_executor(None, reconcile, key)
        shard.enter(key, task)
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                task.cancel()  # the worker itself is stopped hard: so is the reconcile
                await asyncio.gather(task, return_exceptions=True)
                raise
            raise RuntimeError(
                f"reconcile of {key!r} cancelled: shard {shard.name!r} lost its Lease"
            ) from None
        finally:
            if task.done():
                shard.leave(key, task)
            else:
                task.add_done_callback(lambda t: shard.leave(key, t))
        return result  # type: ignore[no-any-return]

    sharded.__name__ = getattr(reconcile, "__name__", "reconcile")
    return sharded
