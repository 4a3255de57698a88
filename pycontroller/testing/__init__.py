"""Test support: an in-memory Kubernetes API server, an envtest launcher, a fake clock, pytest fixtures,
and the helpers :func:`eventually` (wait for an assertion to pass) and :func:`running` (run a Manager
for the length of an ``async with`` block).

The library never imports this package; tests, samples and users' test suites do. Names are
imported lazily so ``import pycontroller.testing`` stays cheap and a missing optional piece only
fails when it is used.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "CRDInstallError",
    "CRDNotEstablishedError",
    "EnvTest",
    "FakeAPIServer",
    "FakeClock",
    "FakeTimer",
    "ResourceClashError",
    "eventually",
    "running",
]

_LAZY = {
    "CRDInstallError": "pycontroller.testing.crd_install",
    "CRDNotEstablishedError": "pycontroller.testing.crd_install",
    "ResourceClashError": "pycontroller.testing.apiserver",
    "EnvTest": "pycontroller.testing.envtest",
    "FakeAPIServer": "pycontroller.testing.apiserver",
    "FakeClock": "pycontroller.testing.fake_clock",
    "FakeTimer": "pycontroller.testing.fake_clock",
    "eventually": "pycontroller.testing.helpers",
    "running": "pycontroller.testing.helpers",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pycontroller.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
