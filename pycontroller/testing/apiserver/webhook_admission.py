"""Admission webhooks in the fake server: which webhooks match a request, and calling them.

See :mod:`.webhooks` for the order of a write and the failure and denial rules.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import logging
import uuid
from typing import TYPE_CHECKING, Any

import orjson

from pycontroller.labels import SelectorError, selector_from_label_selector

from . import patch as patches
from .objects import NS_KEY
from .resources import ResourceDef
from .status import ApiFailure
from .storage import Table
from .webhook_client import CallFailed

if TYPE_CHECKING:
    from .registry import Registry

__all__ = ["ADMISSION_RESOURCES", "AdmissionCalls", "Attributes", "options_for"]

log = logging.getLogger("pycontroller.testing.apiserver")

GROUP = "admissionregistration.k8s.io"
VALIDATING_KEY = (GROUP, "validatingwebhookconfigurations")
MUTATING_KEY = (GROUP, "mutatingwebhookconfigurations")
ADMISSION_RESOURCES = (
    ResourceDef(
        GROUP,
        ("v1", "v1beta1"),
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        False,
        categories=("api-extensions",),
        generation_fields=("webhooks",),
    ),
    ResourceDef(
        GROUP,
        ("v1", "v1beta1"),
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        False,
        categories=("api-extensions",),
        generation_fields=("webhooks",),
    ),
)
_OPTIONS_KIND = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions", "DELETE": "DeleteOptions"}
_USER = {"username": "system:admin", "groups": ["system:masters", "system:authenticated"]}

# -- matching ---------------------------------------------------------------------------------------------


def _matches_list(values: Any, value: str) -> bool:
    return isinstance(values, list) and ("*" in values or value in values)


def _resource_matches(resources: Any, resource: str, sub: str) -> bool:
    if not isinstance(resources, list):
        return False
    for entry in resources:
        res, _, entry_sub = str(entry).partition("/")
        if (res == "*" or res == resource) and (entry_sub == "*" or entry_sub == sub):
            return True
    return False


def _selects(selector: Any, labels: dict[str, str] | None) -> bool:
    if selector is None:
        return True
    try:
        return selector_from_label_selector(selector).matches(labels or {})
    except (SelectorError, TypeError):
        return False


class Attributes:
    """What is being admitted (one request)."""

    def __init__(
        self,
        operation: str,
        table: Table,
        version: str,
        subresource: str,
        namespace: str,
        name: str,
        dry_run: bool,
        options: dict[str, Any] | None,
    ) -> None:
        self.operation = operation
        self.table = table
        self.version = version
        self.subresource = subresource
        self.namespace = namespace
        self.name = name
        self.dry_run = dry_run
        self.options = options


def options_for(operation: str) -> dict[str, Any] | None:
    """The ``options`` of a review: CreateOptions, UpdateOptions or DeleteOptions."""
    kind = _OPTIONS_KIND.get(operation)
    return {"apiVersion": "meta.k8s.io/v1", "kind": kind} if kind else None


class AdmissionCalls:
    """Mixin of :class:`.webhooks.WebhookCaller`: matching and calling admission webhooks."""

    if TYPE_CHECKING:
        registry: Registry

        async def _post(self, config: dict[str, Any], review: dict[str, Any], timeout: int) -> Any: ...

        def _conversion_webhook(self, table: Table) -> dict[str, Any] | None: ...

        async def _at(
            self, obj: dict[str, Any], av: str, table: Table, conv: dict[str, Any] | None
        ) -> dict[str, Any]: ...

    def _admission_configured(self) -> bool:
        tables = self.registry.tables
        return any(tables[key].objects for key in (VALIDATING_KEY, MUTATING_KEY) if key in tables)

    def _matching(
        self, key: tuple[str, str], attrs: Attributes, obj: Any, old: Any
    ) -> list[tuple[dict[str, Any], str]]:
        """(webhook, version to send at) for every matching webhook, by configuration name."""
        table = self.registry.tables.get(key)
        if table is None:
            return []
        rdef = attrs.table.rdef
        out = []
        for stored in table.sorted_now():
            for hook in stored.obj.get("webhooks") or []:
                if not isinstance(hook, dict):
                    continue
                version = self._rule_version(hook, attrs, rdef)
                if version is None:
                    continue
                if not self._selectors_match(hook, attrs, obj, old):
                    continue
                out.append((hook, version))
        return out

    @staticmethod
    def _rule_version(hook: dict[str, Any], attrs: Attributes, rdef: ResourceDef) -> str | None:
        equivalent = hook.get("matchPolicy", "Equivalent") == "Equivalent"
        for rule in hook.get("rules") or []:
            if not isinstance(rule, dict):
                continue
            if not _matches_list(rule.get("operations"), attrs.operation):
                continue
            if not _matches_list(rule.get("apiGroups"), rdef.group):
                continue
            if not _resource_matches(rule.get("resources"), rdef.plural, attrs.subresource):
                continue
            scope = rule.get("scope", "*")
            if (scope == "Cluster" and rdef.namespaced) or (scope == "Namespaced" and not rdef.namespaced):
                continue
            versions = rule.get("apiVersions")
            if _matches_list(versions, attrs.version):
                return attrs.version
            if equivalent and isinstance(versions, list):
                for version in versions:
                    if version in rdef.versions:
                        return str(version)
        return None

    def _selectors_match(self, hook: dict[str, Any], attrs: Attributes, obj: Any, old: Any) -> bool:
        labels = [((o or {}).get("metadata") or {}).get("labels") for o in (obj, old) if o is not None]
        if "objectSelector" in hook and not any(
            _selects(hook["objectSelector"], lab) for lab in labels or [{}]
        ):
            return False
        selector = hook.get("namespaceSelector")
        if selector is None or selector == {}:
            return True
        rdef = attrs.table.rdef
        if rdef.key == NS_KEY:
            return any(_selects(selector, lab) for lab in labels or [{}])
        if not rdef.namespaced:
            return True
        ns = self.registry.tables[NS_KEY].objects.get(("", attrs.namespace))
        ns_labels = (ns.obj["metadata"].get("labels") if ns is not None else None) or {}
        return _selects(selector, ns_labels)

    def _review_request(self, attrs: Attributes, version: str, obj: Any, old: Any) -> dict[str, Any]:
        rdef = attrs.table.rdef
        request: dict[str, Any] = {
            "uid": str(uuid.uuid4()),
            "kind": {"group": rdef.group, "version": version, "kind": rdef.kind},
            "resource": {"group": rdef.group, "version": version, "resource": rdef.plural},
            "requestKind": {"group": rdef.group, "version": attrs.version, "kind": rdef.kind},
            "requestResource": {"group": rdef.group, "version": attrs.version, "resource": rdef.plural},
            "name": attrs.name,
            "operation": attrs.operation,
            "userInfo": dict(_USER),
            "object": obj,
            "oldObject": old,
            "dryRun": attrs.dry_run,
            "options": attrs.options,
        }
        if attrs.subresource:
            request["subResource"] = request["requestSubResource"] = attrs.subresource
        if attrs.namespace:
            request["namespace"] = attrs.namespace
        return request

    async def _admit(
        self, hook: dict[str, Any], version: str, attrs: Attributes, obj: Any, old: Any
    ) -> dict[str, Any] | None:
        """Call one webhook; its ``response`` dict, or None when it failed and is ignored."""
        name = str(hook.get("name", ""))
        table = attrs.table
        conv = self._conversion_webhook(table)
        av = table.rdef.api_version(version)
        if version != attrs.version:  # matchPolicy Equivalent: sent at the rule's version
            obj = await self._at(obj, av, table, conv) if obj is not None else None
            old = await self._at(old, av, table, conv) if old is not None else None
        timeout = int(hook.get("timeoutSeconds") or 10)
        review_versions = [
            v for v in hook.get("admissionReviewVersions") or ["v1beta1"] if v in ("v1", "v1beta1")
        ]
        try:
            if not review_versions:
                raise CallFailed(
                    f"webhook does not accept known AdmissionReview versions {hook.get('admissionReviewVersions')}"
                )
            request = self._review_request(attrs, version, obj, old)
            review = {
                "apiVersion": f"admission.k8s.io/{review_versions[0]}",
                "kind": "AdmissionReview",
                "request": request,
            }
            answer = await self._post(hook.get("clientConfig") or {}, review, timeout)
            response = answer.get("response") if isinstance(answer, dict) else None
            if not isinstance(response, dict):
                raise CallFailed("the webhook's answer has no response")
            if response.get("uid") != request["uid"]:
                raise CallFailed(f"expected response.uid={request['uid']!r}, got {response.get('uid')!r}")
            if not isinstance(response.get("allowed"), bool):
                raise CallFailed("the webhook's response has no allowed field")
            return response
        except CallFailed as exc:
            if hook.get("failurePolicy", "Fail") == "Ignore":
                log.warning("fake API server: ignoring failed webhook %s: %s", name, exc)
                return None
            message = f'failed calling webhook "{name}": {exc}'
            raise ApiFailure(
                500,
                "InternalError",
                f"Internal error occurred: {message}",
                {"causes": [{"message": message}]},
            ) from None

    @staticmethod
    def _verdict(hook: dict[str, Any], response: dict[str, Any], warnings: list[str]) -> None:
        warnings.extend(str(w) for w in response.get("warnings") or [])
        if response["allowed"]:
            return
        status = response.get("status") or {}
        name = hook.get("name", "")
        raw_code = status.get("code")
        code = raw_code if isinstance(raw_code, int) else 0
        message = status.get("message") or ""
        text = (
            f'admission webhook "{name}" denied the request: {message}'
            if message
            else f'admission webhook "{name}" denied the request without explanation'
        )
        failure = ApiFailure(code if code >= 400 else 400, str(status.get("reason") or ""), text)
        failure.details = status.get("details") if isinstance(status.get("details"), dict) else None
        raise failure

    async def _mutate(
        self, attrs: Attributes, obj: dict[str, Any] | None, old: Any, warnings: list[str]
    ) -> dict[str, Any]:
        for hook, version in self._matching(MUTATING_KEY, attrs, obj, old):
            response = await self._admit(hook, version, attrs, obj, old)
            if response is None:
                continue
            self._verdict(hook, response, warnings)
            patch = response.get("patch")
            if patch and obj is not None:
                if response.get("patchType") != "JSONPatch":
                    raise ApiFailure(
                        500,
                        "InternalError",
                        f"Internal error occurred: unsupported patch type {response.get('patchType')!r}",
                    )
                try:
                    ops = orjson.loads(base64.b64decode(patch))
                    obj = patches.json_patch(copy.deepcopy(obj), ops)
                except (ValueError, patches.PatchError) as exc:
                    raise ApiFailure(
                        500,
                        "InternalError",
                        f"Internal error occurred: JSON patch of webhook {hook.get('name')!r}: {exc}",
                    ) from None
        return obj if obj is not None else {}

    async def _validate(self, attrs: Attributes, obj: Any, old: Any, warnings: list[str]) -> None:
        hooks = self._matching(VALIDATING_KEY, attrs, obj, old)
        if not hooks:
            return
        results = await asyncio.gather(
            *(self._admit(hook, version, attrs, obj, old) for hook, version in hooks), return_exceptions=True
        )
        first_error: BaseException | None = None
        for (hook, _), result in zip(hooks, results, strict=True):
            if isinstance(result, BaseException):
                first_error = first_error or result
                continue
            if result is None:
                continue
            try:
                self._verdict(hook, result, warnings)
            except ApiFailure as denial:
                first_error = first_error or denial
        if first_error is not None:
            raise first_error
