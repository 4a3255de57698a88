"""The copy operator: one :class:`pycontroller.Controller` reconciling CopyRules.

Every change that can matter to a rule becomes that rule's key:

    CopyRule changes                      -> the rule (enqueue_object)
    ConfigMap / Secret changes            -> the rules whose selector matches it in its namespace,
                                             and the rule named on it if it is a copy (enqueue_mapped;
                                             on update both the old and new labels are mapped, so an
                                             object leaving a selector is noticed)
    Namespace changes                     -> every rule (a new namespace may be a target)

and ``reconcile(rule_key)`` makes the world match the rule, reading only the informers' caches:
create missing copies, update stale ones, delete copies nobody wants (source gone, selector or
targets changed, rule deleted), leave alone (and report) objects with a copy's name that are not
copies, and write the rule's status (``copies`` and a ``Ready`` condition) when it changed.
"""

from __future__ import annotations

import copy as _copy
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from pycontroller import Controller, RestClient, enqueue_mapped, enqueue_object, requeue_on_conflict
from pycontroller.cache import Lister, split_meta_namespace_key
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

__all__ = ["COMPONENT", "CopyOperator", "add_copy_operator"]

COMPONENT = "copy-operator"
log = logging.getLogger("samples.copy_operator")


class CopyOperator:
    """Reconciles CopyRules; build it with :func:`add_copy_operator`."""

    def __init__(self, client: Any, informers: Mapping[str, Any], recorder: Any) -> None:
        self.client = RestClient.wrap(client)
        self.recorder = recorder
        self.rules = Lister(informers["copyrules"].indexer)
        self.namespaces = informers["namespaces"]
        self.objects = {rule_type: Lister(informers[rule_type].indexer) for rule_type in RESOURCES}
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
            rule = self.rules.namespace(namespace).get(name)
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
        lister, gvr = self.objects[rule_type], RESOURCES[rule_type]
        selector = selector_from_label_selector(rule["spec"].get("selector") or {})
        sources = [
            s for s in lister.namespace(namespace).list() if selector.matches_object(s) and not is_any_copy(s)
        ]
        targets = target_namespaces(rule, self.namespaces.indexer.list())

        in_place = 0
        collisions: list[str] = []
        wanted: set[tuple[str, str]] = set()
        for source in sources:
            for target in targets:
                desired = desired_copy(rule, source, target)
                copy_name = desired["metadata"]["name"]
                wanted.add((target, copy_name))
                try:
                    existing = lister.namespace(target).get(copy_name)
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
                    updated = _copy.deepcopy(desired)
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
        for each_type, lister in self.objects.items():
            for obj in lister.list(label_selector=selector):
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
        self, rule: Mapping[str, Any], *, copies: int | None, ready: tuple[str, str, str]
    ) -> None:
        status = dict(rule.get("status") or {})
        if copies is not None:
            status["copies"] = copies
        state, reason, message = ready
        previous: dict[str, Any] = next(
            (c for c in status.get("conditions") or () if c.get("type") == "Ready"), {}
        )
        condition = {"type": "Ready", "status": state, "reason": reason, "message": message}
        condition["lastTransitionTime"] = (
            previous.get("lastTransitionTime") if previous.get("status") == state else None
        ) or _now()
        if status.get("copies") == (rule.get("status") or {}).get("copies") and {
            k: v for k, v in previous.items() if k != "lastTransitionTime"
        } == {k: v for k, v in condition.items() if k != "lastTransitionTime"}:
            return  # nothing changed: no write
        status["conditions"] = [c for c in status.get("conditions") or () if c.get("type") != "Ready"] + [
            condition
        ]
        new = dict(rule)
        new["status"] = status
        await self.client.replace_status(COPYRULES, new)


def _now() -> str:
    import datetime

    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def add_copy_operator(
    mgr: Any, client: Any, recorder: Any, *, max_concurrent_reconciles: int = 2, name: str = COMPONENT
) -> Controller:
    """Build the copy operator on ``mgr``'s shared informers and add its Controller to ``mgr``.

    ``name`` names the Controller (unique among the process's live controllers; metrics and logs)."""
    informers = {
        "copyrules": mgr.informer_for(COPYRULES.group, COPYRULES.version, COPYRULES.resource),
        "namespaces": mgr.informer_for("", "v1", "namespaces"),
        "configmap": mgr.informer_for("", "v1", "configmaps"),
        "secret": mgr.informer_for("", "v1", "secrets"),
    }
    operator = CopyOperator(client, informers, recorder)
    controller = Controller(name, operator.reconcile, max_concurrent_reconciles=max_concurrent_reconciles)
    controller.watch(informers["copyrules"], enqueue_object())
    controller.watch(
        informers["configmap"], enqueue_mapped(_with_kind(operator.rules_for_object, "ConfigMap"))
    )
    controller.watch(informers["secret"], enqueue_mapped(_with_kind(operator.rules_for_object, "Secret")))
    controller.watch(informers["namespaces"], enqueue_mapped(operator.all_rules))
    mgr.add(controller)
    return controller


def _with_kind(fn: Any, kind: str) -> Any:
    # Objects from a list carry no kind; the informer they come from says what they are.
    def mapped(obj: Any) -> Iterable[str]:
        if obj.get("kind") != kind:
            obj = {**obj, "kind": kind}
        result: Iterable[str] = fn(obj)
        return result

    return mapped
