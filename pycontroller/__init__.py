"""pycontroller: client-go's controller machinery for asyncio.

The public facade. Subpackages: :mod:`pycontroller.workqueue` (work queues and rate limiters),
:mod:`pycontroller.cache` (stores, DeltaFIFO, reflectors, shared informers, listers),
:mod:`pycontroller.testing` (in-memory API server, envtest launcher, fake clock; never imported by
the library itself).
"""

from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.clock import Clock, LoopClock
from pycontroller.errors import (
    AlreadyExistsError,
    ApiError,
    ConfigError,
    ConflictError,
    DecodeError,
    GoneError,
    InvalidObjectError,
    NotFoundError,
    PyControllerError,
    ShutDownError,
    TooManyRequestsError,
)

__all__ = [
    "AlreadyExistsError",
    "ApiError",
    "Clock",
    "ConfigError",
    "ConflictError",
    "DecodeError",
    "GoneError",
    "GroupVersionResource",
    "InvalidObjectError",
    "LoopClock",
    "NotFoundError",
    "PyControllerError",
    "RestClient",
    "ShutDownError",
    "TooManyRequestsError",
]

__version__ = "0.1.0.dev0"
