"""The load-test operator (kopf's introductory example), one controller made by the Builder.

A LoadTest (samples.pycontroller.dev/v1alpha1) asks for ``spec.replicas`` Pods that each send
``spec.test.repeat`` HTTP ``method`` requests to ``http://<serviceName><path>``. The operator:

* creates the Pods, owned (as controller) by the LoadTest and labelled with its name and its
  ``metadata.generation``; Pod events reach the LoadTest through the Builder's ``owns("v1", "Pod")``;
* sets ``status.state`` from the Pods' phases: ``pending`` until one runs, ``executing`` while any
  runs, ``finished`` once all succeeded, ``failed`` as soon as one failed; with counts and a Warning
  or Normal event at each transition;
* on a spec change (a new generation) deletes the old Pods and starts again;
* when the LoadTest is deleted, deletes its Pods itself (garbage collection would too, through the
  owner references, on a cluster that runs it; test API servers do not);
* on an invalid spec (replicas below 1, no serviceName...) emits a Warning event, sets the state to
  ``failed`` with an ``InvalidSpec`` condition, creates nothing, and keeps running.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Mapping
from typing import Any

from pycontroller import Controller, Manager, requeue_on_conflict
from pycontroller.cache import split_meta_namespace_key
from pycontroller.client import GroupVersionResource
from pycontroller.conditions import set_status_condition
from pycontroller.errors import NotFoundError

__all__ = [
    "COMPONENT",
    "GENERATION_LABEL",
    "LOADTESTS",
    "LOADTEST_LABEL",
    "PODS",
    "new_pod",
    "setup",
    "spec_problem",
    "state_from_pods",
]

COMPONENT = "loadtest-operator"
GROUP = "samples.pycontroller.dev"
LOADTESTS = GroupVersionResource(GROUP, "v1alpha1", "loadtests")
PODS = GroupVersionResource("", "v1", "pods")
LOADTEST_LABEL = f"{GROUP}/loadtest"
GENERATION_LABEL = f"{GROUP}/generation"
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE")
MAX_REPLICAS = 100
IMAGE = "curlimages/curl:8.5.0"

log = logging.getLogger("samples.loadtest_operator")


def spec_problem(loadtest: Mapping[str, Any]) -> str | None:
    """What is wrong with a LoadTest's spec, in a sentence, or None."""
    spec = loadtest.get("spec")
    if not isinstance(spec, Mapping):
        return "spec must be an object with replicas and test"
    replicas = spec.get("replicas")
    if isinstance(replicas, bool) or not isinstance(replicas, int) or not 1 <= replicas <= MAX_REPLICAS:
        return f"spec.replicas must be a whole number from 1 to {MAX_REPLICAS}, got {replicas!r}"
    test = spec.get("test")
    if not isinstance(test, Mapping):
        return "spec.test must be an object with method, serviceName, path and repeat"
    if not isinstance(test.get("serviceName"), str) or not test["serviceName"]:
        return "spec.test.serviceName must name a Service"
    if test.get("method", "GET") not in METHODS:
        return f"spec.test.method must be one of {', '.join(METHODS)}, got {test.get('method')!r}"
    repeat = test.get("repeat", 1)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        return f"spec.test.repeat must be a whole number >= 1, got {repeat!r}"
    path = test.get("path", "/")
    if not isinstance(path, str) or not path.startswith("/"):
        return f"spec.test.path must start with '/', got {path!r}"
    return None


def pod_name(loadtest: Mapping[str, Any], index: int) -> str:
    meta = loadtest["metadata"]
    return f"{meta['name']}-g{meta.get('generation', 1)}-{index}"


def new_pod(loadtest: Mapping[str, Any], index: int) -> dict[str, Any]:
    """Pod ``index`` of a LoadTest's current generation: curl in a loop, never restarted."""
    meta = loadtest["metadata"]
    test = loadtest["spec"]["test"]
    url = f"http://{test['serviceName']}{test.get('path', '/')}"
    script = (
        f"for i in $(seq {int(test.get('repeat', 1))}); do "
        f"curl -fsS -o /dev/null -X {shlex.quote(test.get('method', 'GET'))} {shlex.quote(url)} || exit 1; done"
    )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name(loadtest, index),
            "namespace": meta["namespace"],
            "labels": {LOADTEST_LABEL: meta["name"], GENERATION_LABEL: str(meta.get("generation", 1))},
            "ownerReferences": [
                {
                    "apiVersion": LOADTESTS.api_version,
                    "kind": "LoadTest",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "load", "image": IMAGE, "command": ["sh", "-c", script]}],
        },
    }


def state_from_pods(replicas: int, pods: list[Mapping[str, Any]]) -> tuple[str, int, int]:
    """(state, succeeded, failed) from the current generation's Pods."""
    phases = [(p.get("status") or {}).get("phase", "Pending") for p in pods]
    succeeded, failed = phases.count("Succeeded"), phases.count("Failed")
    if failed:
        return "failed", succeeded, failed
    if succeeded >= replicas:
        return "finished", succeeded, failed
    if succeeded or "Running" in phases:
        return "executing", succeeded, failed
    return "pending", succeeded, failed


class LoadTestOperator:
    """Reconciles LoadTests into Pods; :func:`setup` builds its controller."""

    def __init__(self, client: Any, recorder: Any) -> None:
        self.client = client  # the Manager's: reads from its cache, writes to the API server
        self.recorder = recorder
        # A Conflict (the cache was behind our own or someone's write) is retried with backoff,
        # without being counted or logged as a reconcile error.
        self.reconcile = requeue_on_conflict(self._reconcile)

    async def _reconcile(self, key: str) -> None:
        namespace, name = split_meta_namespace_key(key)
        ours = (await self.client.list(PODS, namespace, label_selector=f"{LOADTEST_LABEL}={name}"))["items"]
        try:
            loadtest = await self.client.get(LOADTESTS, name, namespace)
        except NotFoundError:
            # Deleted: its Pods go too (garbage collection would do it on a real cluster, later).
            await self._delete(ours)
            return

        problem = spec_problem(loadtest)
        if problem is not None:
            # Retrying cannot fix the spec; report it and wait for the next change of the LoadTest.
            self.recorder.event(loadtest, "Warning", "InvalidSpec", problem)
            await self._delete(ours)
            await self._write_status(loadtest, "failed", 0, 0, condition=("False", "InvalidSpec", problem))
            return

        generation = str(loadtest["metadata"].get("generation", 1))
        stale = [p for p in ours if p["metadata"].get("labels", {}).get(GENERATION_LABEL) != generation]
        if stale:
            # The spec changed: the old test's Pods go, and the test starts again.
            await self._delete(stale)
        current = {p["metadata"]["name"]: p for p in ours if p not in stale}
        replicas = loadtest["spec"]["replicas"]
        previous_state = (loadtest.get("status") or {}).get("state")
        observed = (loadtest.get("status") or {}).get("observedGeneration")
        finished = previous_state in ("finished", "failed") and str(observed) == generation
        if not finished:
            for index in range(replicas):
                pod = new_pod(loadtest, index)
                if pod["metadata"]["name"] not in current:
                    await self.client.create(PODS, pod)  # AlreadyExists (a lagging cache) is retried
                    log.info("created pod %s/%s", namespace, pod["metadata"]["name"])
        state, succeeded, failed = state_from_pods(replicas, list(current.values()))
        if finished:
            state = str(previous_state)  # a finished test is not run again until its spec changes
        await self._write_status(
            loadtest, state, succeeded, failed, condition=("True", "Valid", "spec is valid")
        )

    async def _delete(self, pods: list[Mapping[str, Any]]) -> None:
        for pod in pods:
            meta = pod["metadata"]
            try:
                await self.client.delete(PODS, meta["name"], meta["namespace"])
                log.info("deleted pod %s/%s", meta["namespace"], meta["name"])
            except NotFoundError:
                pass

    async def _write_status(
        self,
        loadtest: Mapping[str, Any],
        state: str,
        succeeded: int,
        failed: int,
        *,
        condition: tuple[str, str, str],
    ) -> None:
        old = loadtest.get("status") or {}
        status = {
            **old,
            "state": state,
            "succeeded": succeeded,
            "failed": failed,
            "observedGeneration": loadtest["metadata"].get("generation", 1),
            "conditions": [dict(c) for c in old.get("conditions") or ()],
        }
        flag, reason, message = condition
        # apimachinery's SetStatusCondition: lastTransitionTime moves only when the status does.
        set_status_condition(status["conditions"], "SpecValid", flag, reason, message)
        if status == old:
            return  # nothing changed: no write
        new = dict(loadtest)  # a copy from mgr.client: ours to change
        new["status"] = status
        await self.client.replace_status(LOADTESTS, new)
        if state != old.get("state"):
            kind = "Warning" if state == "failed" else "Normal"
            self.recorder.event(
                loadtest,
                kind,
                state.capitalize(),
                f"load test {state} ({succeeded} succeeded, {failed} failed)",
            )


def setup(mgr: Manager, *, name: str = COMPONENT, max_concurrent_reconciles: int = 2) -> Controller:
    """Build the load-test operator's controller on ``mgr``
    (``pycontroller run samples.loadtest_operator.operator:setup``).

    ``name`` names the Controller (unique among the process's live controllers; metrics, logs and
    the Events' source)."""
    operator = LoadTestOperator(mgr.client, mgr.get_event_recorder_for(name))
    return (
        mgr.controller(name)
        .for_(LOADTESTS.api_version, "LoadTest")
        .owns("v1", "Pod")  # a Pod's phase change reconciles the LoadTest that controls it
        .with_options(max_concurrent_reconciles=max_concurrent_reconciles)
        .complete(operator.reconcile)
    )
