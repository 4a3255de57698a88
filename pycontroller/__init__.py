"""pycontroller: client-go's controller machinery for asyncio.

The public facade: what an operator author needs in one import::

    from pycontroller import Controller, Manager, Result, enqueue_object, generation_changed

Subpackages hold the layers underneath and are public too: :mod:`pycontroller.workqueue` (work
queues and rate limiters), :mod:`pycontroller.cache` (stores, DeltaFIFO, reflectors, shared
informers, listers), :mod:`pycontroller.leaderelection` (leader election on a Lease),
:mod:`pycontroller.record` (the event recorder), and :mod:`pycontroller.testing` (in-memory API
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
    NoKindMatchError,
    NotFoundError,
    PyControllerError,
    ServerError,
    ShutDownError,
    TooManyRequestsError,
    UnauthorizedError,
)
from pycontroller.finalizer import FinalizerError, Finalizers
from pycontroller.handler import EventHandler, enqueue_mapped, enqueue_object, enqueue_owner
from pycontroller.leaderelection import LeaderElector, LeaseLock
from pycontroller.log import configure_logging
from pycontroller.manager import LeaderElectionLostError, Manager, ManagerAlreadyStartedError
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

__all__ = [
    "AlreadyExistsError",
    "AlreadyOwnedError",
    "ApiError",
    "BadRequestError",
    "Builder",
    "BuilderError",
    "CacheNotStartedError",
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
    "NoKindMatchError",
    "NotFoundError",
    "OperationResult",
    "Predicate",
    "PyControllerError",
    "RESTMapper",
    "RESTMapping",
    "ResourceEventHandlerFuncs",
    "RestClient",
    "Result",
    "ServerError",
    "SharedIndexInformer",
    "SharedInformerFactory",
    "ShutDownError",
    "TerminalError",
    "TooManyRequestsError",
    "UnauthorizedError",
    "add_finalizer",
    "and_",
    "annotations_changed",
    "configure_logging",
    "contains_finalizer",
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
    "set_controller_reference",
    "set_owner_reference",
]

__version__ = "0.1.0.dev0"
