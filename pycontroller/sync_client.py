"""A blocking facade over :class:`~pycontroller.client.RestClient`, for plain-function reconcilers.

A plain ``def reconcile(key)`` runs in the Controller's thread pool, where ``await`` is not
available. :class:`SyncClient` runs each call as a coroutine on the client's event loop (the
Manager's) and blocks the calling thread until it finishes::

    sync = mgr.client.sync                       # or SyncClient(mgr.client)

    def reconcile(key: str) -> None:
        ns, name = split_meta_namespace_key(key)
        foo = foos.indexer.get_by_key(key)
        ...
        retry_on_conflict(lambda: sync.replace_status(fresh_copy_with_status()))
        sync.apply(desired_deployment, field_manager="foo-controller")

Every method has the RestClient method's signature and returns its result, or raises the same
typed error (a ConflictError raised on the loop is re-raised, unchanged, in the caller's thread).
Calling from the loop's own thread would wait for the loop while blocking it, a deadlock: that
raises :class:`BlockingCallOnLoopError` at once. After the loop closed, calls raise
:class:`~pycontroller.errors.ShutDownError`. Thread-safe: many reconcile threads may share one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from pycontroller.errors import PyControllerError, ShutDownError

if TYPE_CHECKING:
    from pycontroller.client import GroupVersionResource, RestClient, Target
    from pycontroller.controllerutil import OperationResult

__all__ = ["BlockingCallOnLoopError", "SyncClient"]

T = TypeVar("T")


class BlockingCallOnLoopError(PyControllerError, RuntimeError):
    """A blocking (SyncClient) call made on the event loop it would wait for: it would deadlock.

    Inside ``async def`` code, await the RestClient instead.
    """


class SyncClient:
    """Blocking versions of the RestClient calls, run on ``loop`` (module doc).

    ``client``: a RestClient, a kubernetes_asyncio ApiClient, or any client with the RestClient's
    async methods (the Manager's cache-backed client). ``loop`` defaults to the loop running where
    the SyncClient is made, else the loop the client last sent a request on. Never suspends (it blocks); each call waits at most ``timeout``
    seconds (None: as long as the request takes; the request has its own timeouts).
    """

    def __init__(
        self,
        client: RestClient,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        timeout: float | None = None,
    ) -> None:
        from pycontroller.client import RestClient

        self.client = RestClient.wrap(client)
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
        self._loop = loop
        self.timeout = timeout

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the calls run on. Raises ShutDownError when none is known or it closed."""
        loop = self._loop or getattr(self.client, "loop", None)
        if loop is None:
            raise ShutDownError(
                "SyncClient has no event loop: make it inside the Manager's loop (mgr.client.sync in "
                "async code) or pass loop="
            )
        if loop.is_closed():
            raise ShutDownError("the SyncClient's event loop is closed")
        return loop

    def run(self, coro: Coroutine[Any, Any, T] | Callable[[], Awaitable[T]]) -> T:
        """Run a coroutine (or a function returning an awaitable) on the loop and return its result.

        Blocks the calling thread; raises what the coroutine raised; BlockingCallOnLoopError when
        called on the loop's own thread.
        """
        loop = self.loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            if asyncio.iscoroutine(coro):
                coro.close()  # never started: no "was never awaited" warning
            raise BlockingCallOnLoopError(
                "a SyncClient call on the event loop's own thread would deadlock; in async code, "
                "await the RestClient (mgr.client) instead"
            )
        awaitable = coro if asyncio.iscoroutine(coro) else _call(coro)
        future = asyncio.run_coroutine_threadsafe(awaitable, loop)
        try:
            return future.result(self.timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"SyncClient call did not finish within {self.timeout}s") from None
        except concurrent.futures.CancelledError:
            raise ShutDownError(
                "the SyncClient call was cancelled (the event loop is shutting down)"
            ) from None

    # -- the RestClient calls -----------------------------------------------------------------------

    def resource(self, target: Target) -> GroupVersionResource:
        """Blocking :meth:`RestClient.resource`."""
        return self.run(self.client.resource(target))

    def get(self, target: Target, name: str, namespace: str | None = None) -> dict[str, Any]:
        """Blocking :meth:`RestClient.get`."""
        return self.run(self.client.get(target, name, namespace))

    def list(self, target: Target, namespace: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Blocking :meth:`RestClient.list` (label_selector=, field_selector=, API parameters)."""
        return self.run(self.client.list(target, namespace, **kwargs))

    def create(
        self,
        target: Target,
        obj: Mapping[str, Any] | None = None,
        namespace: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Blocking :meth:`RestClient.create`."""
        return self.run(self.client.create(target, obj, namespace, **kwargs))

    def replace(self, target: Target, obj: Mapping[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        """Blocking :meth:`RestClient.replace` (controller-runtime's Update)."""
        return self.run(self.client.replace(target, obj, **kwargs))

    def replace_status(
        self, target: Target, obj: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """Blocking :meth:`RestClient.replace_status`."""
        return self.run(self.client.replace_status(target, obj, **kwargs))

    update = replace
    update_status = replace_status

    def patch(self, target: Target, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Blocking :meth:`RestClient.patch` (both forms, merge_from= included)."""
        return self.run(self.client.patch(target, *args, **kwargs))

    def apply(self, obj: Mapping[str, Any], *, field_manager: str, **kwargs: Any) -> dict[str, Any]:
        """Blocking :meth:`RestClient.apply` (server-side apply)."""
        return self.run(self.client.apply(obj, field_manager=field_manager, **kwargs))

    def apply_status(self, obj: Mapping[str, Any], *, field_manager: str, **kwargs: Any) -> dict[str, Any]:
        """Blocking :meth:`RestClient.apply_status`."""
        return self.run(self.client.apply_status(obj, field_manager=field_manager, **kwargs))

    def delete(
        self, target: Target, name: str | None = None, namespace: str | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """Blocking :meth:`RestClient.delete`."""
        return self.run(self.client.delete(target, name, namespace, **kwargs))

    def create_or_update(self, obj: Any, mutate: Callable[[Any], Any], **kwargs: Any) -> OperationResult:
        """Blocking :func:`~pycontroller.controllerutil.create_or_update` (``mutate`` runs on the loop)."""
        from pycontroller.controllerutil import create_or_update

        return self.run(create_or_update(self.client, obj, mutate, **kwargs))

    def create_or_patch(self, obj: Any, mutate: Callable[[Any], Any], **kwargs: Any) -> OperationResult:
        """Blocking :func:`~pycontroller.controllerutil.create_or_patch` (``mutate`` runs on the loop)."""
        from pycontroller.controllerutil import create_or_patch

        return self.run(create_or_patch(self.client, obj, mutate, **kwargs))


async def _call(fn: Callable[[], Awaitable[T]]) -> T:
    return await fn()
