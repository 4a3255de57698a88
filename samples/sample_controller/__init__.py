"""Kubernetes' sample-controller, ported to pycontroller.

A Foo (samplecontroller.k8s.io/v1alpha1) owns a Deployment of nginx named ``spec.deploymentName``
with ``spec.replicas`` replicas; ``status.availableReplicas`` follows the Deployment. Run it with
``python -m samples.sample_controller`` (``--help`` for the flags); the modules:

* :mod:`.foo`: the API (names, event reasons and messages, the Deployment a Foo asks for);
* :mod:`.controller`: :class:`SampleController`, read top to bottom: run, worker, process next item, sync;
* :mod:`.simulated`: a stand-in Deployment controller for API servers that run none;
* :mod:`.cli`: flags and their environment variables; :mod:`.app`: wiring and the embedded demo.

Names are imported lazily, so ``--help`` and flag errors answer without loading the library.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["ResourceExistsError", "SampleController", "add_sample_controller", "sample_rate_limiter"]

_LAZY = {
    "ResourceExistsError": "samples.sample_controller.controller",
    "SampleController": "samples.sample_controller.controller",
    "sample_rate_limiter": "samples.sample_controller.controller",
    "add_sample_controller": "samples.sample_controller.app",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'samples.sample_controller' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
