"""The copy operator: one controller, made by the Builder, reconciling CopyRules.

Every change that can matter to a rule becomes that rule's key (the ``setup`` Builder chain):

    CopyRule changes                      -> the rule (enqueue_object)
    ConfigMap / Secret changes            -> the rules whose selector matches it in its namespace,
                                             and the rule named on it if it is a copy (enqueue_mapped;
                                             on update both the old and new labels are mapped, so an
                                             object leaving a selector is noticed)
    Namespace changes                     -> every rule (a new namespace may be a target)

and ``reconcile(rule_key)`` makes the world match the rule, reading only the Manager's cache
(``mgr.client``):
create missing copies, update stale ones, delete copies nobody wants (source gone, selector or
targets changed, rule deleted), leave alone (and report) objects with a copy's name that are not
copies, and write the rule's status (``copies`` and a ``Ready`` condition) when it changed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from pycontroller import Controller, Lister, Manager, requeue_on_conflict
from pycontroller.cache import split_meta_namespace_key
from pycontroller.client import GroupVersionResource
from pycontroller.conditions import conditions_of, set_status_condition
from pycontroller.errors import ConflictError, NotFoundError
from pycontroller.labels import selector_from_label_selector

from .rules import (
    COPYRULES,
    RESOURCES,
    RULE_NAME_LABEL,
    RULE_NAMESPACE_LABEL,
    desired_copy,
    is_any_copy,
    is_copy_of,
    rule_labels,
    rule_problem,
    same_content,
    target_namespaces,
)

__all__ = ["COMPONENT", "CopyOperator", "setup"]

COMPONENT = "copy-operator"
log = logging.getLogger("samples.copy_operator")
NAMESPACES = GroupVersionResource("", "v1", "namespaces")


class CopyOperator:
    """Reconciles CopyRules; :func:`setup` builds its controller."""

    def __init__(self, mgr: Any, recorder: Any) -> None:
        self.client = mgr.client  # reads: the Manager's cache; writes: the API server
        self.recorder = recorder
        # The event mapping runs in the informers' handlers (never suspends): it reads the cached
        # rules through a lister of the same shared informer the controller watches.
        self.rules = Lister(mgr.informer_for(COPYRULES.api_version, "CopyRule").indexer)
        # A Conflict (the cache was behind our own or someone's write) is retried with backoff,
        # without being counted or logged as a reconcile error.
        self.reconcile = requeue_on_conflict(self._reconcile)

    # -- mapping events to rule keys ------------------------------------------------------------

    def rules_for_object(self, obj: Any) -> Iterable[str]:
        """Keys of the rules an object change may concern (never reads the API server)."""
        meta = obj.get("metadata") or {}
        kind = obj.get("kind")
        keys: set[str] = set()
        labels = meta.get("labels") or {}
        if is_any_copy(obj):
            # A copy changed or vanished: its rule repairs it. (Label values are names unless the
            # name is longer than 63 characters; then the rule is found through its resync.)
            keys.add(f"{labels[RULE_NAMESPACE_LABEL]}/{labels[RULE_NAME_LABEL]}")
            return keys
        for rule in self.rules.namespace(meta.get("namespace", "")).list():
            spec = rule.get("spec") or {}
            rule_kind = {"configmap": "ConfigMap", "secret": "Secret"}.get(str(spec.get("ruleType")))
            if kind is not None and rule_kind != kind:
                continue
            try:
                if selector_from_label_selector(spec.get("selector") or {}).matches(labels):
                    keys.add(f"{rule['metadata']['namespace']}/{rule['metadata']['name']}")
            except (ValueError, TypeError):
                continue  # an invalid rule: its own reconcile reports it
        return keys

    def all_rules(self, obj: Any) -> Iterable[str]:
        """Every rule's key (a namespace appeared or went)."""
        return [f"{r['metadata']['namespace']}/{r['metadata']['name']}" for r in self.rules.list()]

    # -- reconcile ------------------------------------------------------------------------------

    async def _reconcile(self, key: str) -> None:
        namespace, name = split_meta_namespace_key(key)
        try:
            rule = await self.client.get(COPYRULES, name, namespace)
        except NotFoundError:
            # The rule is gone: its copies go too.
            await self._delete_copies(namespace, name, keep=set())
            return

        problem = rule_problem(rule)
        if problem is not None:
            # Retrying cannot fix a spec: report it on the rule and wait for the next change.
            # Existing copies are kept: a typo in a rule should not delete data everywhere.
            self.recorder.event(rule, "Warning", "InvalidSpec", problem)
            await self._write_status(rule, copies=None, ready=("False", "InvalidSpec", problem))
            return

        rule_type = rule["spec"]["ruleType"]
        gvr = RESOURCES[rule_type]
        selector = selector_from_label_selector(rule["spec"].get("selector") or {})
        candidates = (await self.client.list(gvr, namespace, label_selector=selector))["items"]
        sources = [s for s in candidates if not is_any_copy(s)]
        targets = target_namespaces(rule, (await self.client.list(NAMESPACES))["items"])

        in_place = 0
        collisions: list[str] = []
        wanted: set[tuple[str, str]] = set()
        for source in sources:
            for target in targets:
                desired = desired_copy(rule, source, target)
                copy_name = desired["metadata"]["name"]
                wanted.add((target, copy_name))
                try:
                    existing = await self.client.get(gvr, copy_name, target)
                except NotFoundError:
                    existing = None
                if existing is None:
                    # AlreadyExists (the cache has not seen a copy we just made, or someone else
                    # made that object meanwhile) is raised: the retry looks again at a fresher cache.
                    await self.client.create(gvr, desired)
                    log.info("created %s %s/%s from %s", rule_type, target, copy_name, key)
                elif not is_copy_of(existing, namespace, name):
                    # Same name, not ours: never overwrite someone else's object.
                    collisions.append(f"{target}/{copy_name}")
                    continue
                elif not same_content(existing, desired):
                    updated = desired
                    updated["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"]
                    await self.client.replace(gvr, updated)  # a Conflict is raised and retried
                    log.info("updated %s %s/%s from %s", rule_type, target, copy_name, key)
                in_place += 1

        await self._delete_copies(namespace, name, keep=wanted, rule_type=rule_type)

        if collisions:
            message = (
                f"{len(collisions)} {rule_type}(s) not copied: an object with that name exists and is not "
                f"a copy made by this rule: {', '.join(sorted(collisions)[:10])}"
            )
            self.recorder.event(rule, "Warning", "NameCollision", message)
            ready = ("False", "NameCollision", message)
        else:
            ready = ("True", "Copied", f"{in_place} copies in {len(targets)} namespace(s)")
        await self._write_status(rule, copies=in_place, ready=ready)

    async def _delete_copies(
        self, namespace: str, name: str, *, keep: set[tuple[str, str]], rule_type: str | None = None
    ) -> None:
        mine = rule_labels(namespace, name)
        selector = ",".join(f"{k}={v}" for k, v in mine.items())
        for each_type, gvr in RESOURCES.items():
            for obj in (await self.client.list(gvr, label_selector=selector))["items"]:
                meta = obj["metadata"]
                # Copies of the other type are stale too (the rule's type changed).
                if each_type == rule_type and (meta["namespace"], meta["name"]) in keep:
                    continue
                try:
                    await self.client.delete(
                        RESOURCES[each_type],
                        meta["name"],
                        meta["namespace"],
                        preconditions={"uid": meta["uid"]} if meta.get("uid") else None,
                    )
                    log.info(
                        "deleted %s %s/%s of rule %s/%s",
                        each_type,
                        meta["namespace"],
                        meta["name"],
                        namespace,
                        name,
                    )
                except (NotFoundError, ConflictError):
                    pass  # already gone, or replaced by a different object: not ours to delete

    async def _write_status(
        self, rule: dict[str, Any], *, copies: int | None, ready: tuple[str, str, str]
    ) -> None:
        # ``rule`` came from mgr.client: a copy, ours to change.
        status = rule.setdefault("status", {})
        changed = copies is not None and status.get("copies") != copies
        if copies is not None:
            status["copies"] = copies
        state, reason, message = ready
        # apimachinery's SetStatusCondition: lastTransitionTime moves only when the status does.
        changed |= set_status_condition(conditions_of(rule), "Ready", state, reason, message)
        if changed:  # nothing changed: no write
            await self.client.replace_status(COPYRULES, rule)


def setup(mgr: Manager, *, name: str = COMPONENT, max_concurrent_reconciles: int = 2) -> Controller:
    """Build the copy operator's controller on ``mgr`` (``pycontroller run samples.copy_operator.operator:setup``).

    ``name`` names the Controller (unique among the process's live controllers; metrics, logs and
    the Events' source)."""
    operator = CopyOperator(mgr, mgr.get_event_recorder_for(name))
    return (
        mgr.controller(name)
        .for_(COPYRULES.api_version, "CopyRule")
        .watches("v1", "ConfigMap", _with_kind(operator.rules_for_object, "ConfigMap"))
        .watches("v1", "Secret", _with_kind(operator.rules_for_object, "Secret"))
        .watches("v1", "Namespace", operator.all_rules)
        .with_options(max_concurrent_reconciles=max_concurrent_reconciles)
        .complete(operator.reconcile)
    )


def _with_kind(fn: Any, kind: str) -> Any:
    # Objects from a list carry no kind; the informer they come from says what they are.
    def mapped(obj: Any) -> Iterable[str]:
        if obj.get("kind") != kind:
            obj = {**obj, "kind": kind}
        result: Iterable[str] = fn(obj)
        return result

    return mapped
