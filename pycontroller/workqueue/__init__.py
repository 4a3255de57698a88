"""Work queues and rate limiters: client-go's ``util/workqueue`` for asyncio.

Three layers, each wrapping the one below::

    Queue               add / get / done: fair FIFO, deduplicating, stingy
    └── DelayingQueue   + add_after: one heap, one timer on the injected clock
        └── RateLimitingQueue   + add_rate_limited / forget / num_requeues, asking a RateLimiter

Guarantees (client-go's, kept exactly):

* **Fair**: items are handed out in the order they were added; waiting getters are served in
  the order they started waiting.
* **Deduplicating (stingy)**: an item added several times before a worker takes it is queued
  once; an item added while it is being processed is queued once more, after ``done``.
* **Never concurrent per item**: one item is never handed to two workers at once.
* **Many consumers**: any number of worker tasks may ``await get()`` at once.
* **Clean shutdown**: after ``shut_down()`` adds are ignored, queued items are still handed
  out, then every ``get()`` returns ``(None, True)``; ``shut_down_with_drain()`` also waits until
  every item taken is done (a later ``shut_down()`` ends that wait).
* **Delays**: ``add_after(item, s)`` with ``s <= 0`` is ``add``; re-adding a pending item keeps
  the earlier ready time.
* **One loop, no locks**: a queue belongs to the event loop it was created (or first awaited)
  on; its methods never suspend except ``get`` and ``shut_down_with_drain``. Code in other
  threads uses ``add_threadsafe``, ``done_threadsafe``, ``add_after_threadsafe``,
  ``add_rate_limited_threadsafe``, ``forget_threadsafe`` and ``shut_down_threadsafe``.
* **Metrics** only for named queues, client-go's names (see :mod:`.metrics`), read at scrape time.

Items must be hashable (``TypeError`` otherwise, naming the type). ``done`` of an item that is not
being processed is ignored, as in client-go. NaN delays raise ``ValueError``; negative delays mean
"now"; rate limiter parameters must be finite and non-negative (``ValueError``).
"""

from pycontroller.workqueue.delaying import DelayingQueue
from pycontroller.workqueue.metrics import (
    BUCKETS,
    MetricsProvider,
    QueueMetrics,
    WorkQueueCollector,
    default_metrics_provider,
)
from pycontroller.workqueue.queue import Queue
from pycontroller.workqueue.rate_limiters import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    MaxOfRateLimiter,
    RateLimiter,
    WithMaxWaitRateLimiter,
    default_controller_rate_limiter,
)
from pycontroller.workqueue.rate_limiting import RateLimitingQueue

__all__ = [
    "BUCKETS",
    "BucketRateLimiter",
    "DelayingQueue",
    "ItemExponentialFailureRateLimiter",
    "ItemFastSlowRateLimiter",
    "MaxOfRateLimiter",
    "MetricsProvider",
    "Queue",
    "QueueMetrics",
    "RateLimiter",
    "RateLimitingQueue",
    "WithMaxWaitRateLimiter",
    "WorkQueueCollector",
    "default_controller_rate_limiter",
    "default_metrics_provider",
]
