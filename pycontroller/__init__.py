"""pycontroller: client-go's controller machinery for asyncio.

The public facade: what an operator author needs in one import::

    from pycontroller import Controller, Manager, Result, enqueue_object, generation_changed

Subpackages hold the layers underneath and are public too: :mod:`pycontroller.workqueue` (work
queues and rate limiters), :mod:`pycontroller.cache` (stores, DeltaFIFO, reflectors, shared
informers, listers), :mod:`pycontroller.leaderelection` (leader election on a Lease),
:mod:`pycontroller.record` (the event recorder), :mod:`pycontroller.webhook` (admission and
conversion webhooks over HTTPS), and :mod:`pycontroller.testing` (in-memory API
server, envtest launcher, fake clock, pytest fixtures; never imported by the library itself).
"""

from pycontroller.builder import Builder, BuilderError
from pycontroller.cache import (
    FilteringResourceEventHandler,
    Lister,
    ResourceEventHandlerFuncs,
    SharedIndexInformer,
    SharedInformerFactory,
)
from pycontroller.cache.options import ByObject, CacheOptions
from pycontroller.cached_client import CachedClient, CacheNotStartedError
from pycontroller.cli import current_manager
from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.clock import Clock, LoopClock
from pycontroller.config import load_configuration, new_api_client
from pycontroller.controller import Controller
from pycontroller.controllerutil import (
    AlreadyOwnedError,
    OperationResult,
    add_finalizer,
    contains_finalizer,
    create_or_patch,
    create_or_update,
    get_controller_of,
    has_controller_reference,
    remove_finalizer,
    set_controller_reference,
    set_owner_reference,
)
from pycontroller.errors import (
    AlreadyExistsError,
    ApiError,
    BadRequestError,
    ConfigError,
    ConflictError,
    DecodeError,
    ForbiddenError,
    GoneError,
    InvalidError,
    InvalidObjectError,
    MethodNotAllowedError,
    NoKindMatchError,
    NotFoundError,
    PyControllerError,
    RequestEntityTooLargeError,
    ServerError,
    ShutDownError,
    TooManyRequestsError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
)
from pycontroller.finalizer import FinalizerError, Finalizers
from pycontroller.handler import EventHandler, enqueue_mapped, enqueue_object, enqueue_owner
from pycontroller.labels import SelectorError
from pycontroller.leaderelection import LeaderElector, LeaseLock
from pycontroller.log import configure_logging
from pycontroller.manager import (
    GracefulShutdownTimeoutError,
    LeaderElectionLostError,
    Manager,
    ManagerAlreadyStartedError,
)
from pycontroller.predicate import (
    Predicate,
    and_,
    annotations_changed,
    generation_changed,
    label_selector,
    labels_changed,
    not_,
    or_,
    resource_version_changed,
)
from pycontroller.reconcile import Result, TerminalError, requeue_on_conflict
from pycontroller.record import EventBroadcaster, EventRecorder
from pycontroller.restmapper import RESTMapper, RESTMapping
from pycontroller.retry import RetryBackoff, retry_on_conflict
from pycontroller.sync_client import BlockingCallOnLoopError, SyncClient

__all__ = [
    "AlreadyExistsError",
    "AlreadyOwnedError",
    "ApiError",
    "BadRequestError",
    "BlockingCallOnLoopError",
    "Builder",
    "BuilderError",
    "ByObject",
    "CacheNotStartedError",
    "CacheOptions",
    "CachedClient",
    "Clock",
    "ConfigError",
    "ConflictError",
    "Controller",
    "DecodeError",
    "EventBroadcaster",
    "EventHandler",
    "EventRecorder",
    "FilteringResourceEventHandler",
    "FinalizerError",
    "Finalizers",
    "ForbiddenError",
    "GoneError",
    "GracefulShutdownTimeoutError",
    "GroupVersionResource",
    "InvalidError",
    "InvalidObjectError",
    "LeaderElectionLostError",
    "LeaderElector",
    "LeaseLock",
    "Lister",
    "LoopClock",
    "Manager",
    "ManagerAlreadyStartedError",
    "MethodNotAllowedError",
    "NoKindMatchError",
    "NotFoundError",
    "OperationResult",
    "Predicate",
    "PyControllerError",
    "RESTMapper",
    "RESTMapping",
    "RequestEntityTooLargeError",
    "ResourceEventHandlerFuncs",
    "RestClient",
    "Result",
    "RetryBackoff",
    "SelectorError",
    "ServerError",
    "SharedIndexInformer",
    "SharedInformerFactory",
    "ShutDownError",
    "SyncClient",
    "TerminalError",
    "TooManyRequestsError",
    "UnauthorizedError",
    "UnsupportedMediaTypeError",
    "add_finalizer",
    "and_",
    "annotations_changed",
    "configure_logging",
    "contains_finalizer",
    "create_or_patch",
    "create_or_update",
    "current_manager",
    "enqueue_mapped",
    "enqueue_object",
    "enqueue_owner",
    "generation_changed",
    "get_controller_of",
    "has_controller_reference",
    "label_selector",
    "labels_changed",
    "load_configuration",
    "new_api_client",
    "not_",
    "or_",
    "remove_finalizer",
    "requeue_on_conflict",
    "resource_version_changed",
    "retry_on_conflict",
    "set_controller_reference",
    "set_owner_reference",
]

__version__ = "0.1.0.dev0"
