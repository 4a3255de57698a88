"""The objects that tell the API server to call a :class:`WebhookServer`, and a caBundle keeper.

:func:`manifests` renders, as YAML for ``kubectl apply -f -``, one ValidatingWebhookConfiguration
and one MutatingWebhookConfiguration (admissionregistration.k8s.io/v1) holding a webhook per
registered validator/mutator (rules from its apiVersion, kind, resource and operations;
``sideEffects: None``; ``admissionReviewVersions: [v1, v1beta1]``; ``failurePolicy``;
``timeoutSeconds``; the caBundle), plus the given CRDs with their ``spec.conversion`` set to the
server's ``/convert`` when a conversion is registered for their kind. :func:`webhook_configurations`
and :func:`conversion_stanza` give the same as dicts.

The API server reaches the webhook through ``url`` (``https://127.0.0.1:9443`` for a process outside
the cluster) or a Service (``service=(namespace, name)`` or ``(namespace, name, port)``; the serving
certificate must then name ``<name>.<namespace>.svc``).

:class:`CABundleKeeper` is a runnable that writes the server's current caBundle into those objects at
start and again whenever the serving certificate is reloaded (cert rotation).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import yaml  # type: ignore[import-untyped]

from .server import CONVERT_PATH, Registration, WebhookServer

if TYPE_CHECKING:
    from pycontroller.client import RestClient

__all__ = ["CABundleKeeper", "conversion_stanza", "manifests", "webhook_configurations", "webhook_name"]

log = logging.getLogger("pycontroller.webhook")

Service = tuple[str, str] | tuple[str, str, int]


def webhook_name(registration: Registration) -> str:
    """A webhook's name in its configuration: a qualified name of at least three segments.

    ``vfoo-v1alpha1.samplecontroller.k8s.io``, ``mconfigmap-v1.core.pycontroller.io``.
    """
    prefix = "v" if registration.type == "validating" else "m"
    group = registration.group
    if "." not in group:
        group = f"{group or 'core'}.pycontroller.io"
    return f"{prefix}{registration.kind.lower()}-{registration.version}.{group}"


def _client_config(
    path: str, url: str | None, service: Service | None, ca_bundle: bytes | None
) -> dict[str, Any]:
    if (url is None) == (service is None):
        raise ValueError("give exactly one of url= (https://host:port) or service=(namespace, name[, port])")
    config: dict[str, Any]
    if url is not None:
        if not url.startswith("https://"):
            raise ValueError(f"a webhook url must use https, got {url!r}")
        config = {"url": url.rstrip("/") + path}
    else:
        assert service is not None
        svc: dict[str, Any] = {"namespace": service[0], "name": service[1], "path": path}
        if len(service) > 2:
            svc["port"] = service[2]
        config = {"service": svc}
    if ca_bundle:
        config["caBundle"] = base64.b64encode(ca_bundle).decode()
    return config


def _ca(server: WebhookServer, ca_bundle: bytes | None) -> bytes | None:
    if ca_bundle is not None:
        return ca_bundle
    return server.ca_bundle if server.watcher is not None else None


def webhook_configurations(
    server: WebhookServer,
    *,
    name: str,
    url: str | None = None,
    service: Service | None = None,
    ca_bundle: bytes | None = None,
    failure_policy: str = "Fail",
    timeout_seconds: int = 10,
    admission_review_versions: Sequence[str] = ("v1", "v1beta1"),
    namespace_selector: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The Validating/MutatingWebhookConfiguration objects (only kinds with registrations).

    ``ca_bundle`` defaults to the started server's :attr:`~WebhookServer.ca_bundle`. Never suspends.
    """
    if failure_policy not in ("Fail", "Ignore"):
        raise ValueError(f"failure_policy must be Fail or Ignore, got {failure_policy!r}")
    if not 1 <= timeout_seconds <= 30:
        raise ValueError(f"timeout_seconds must be 1..30 (the API server's bounds), got {timeout_seconds}")
    ca = _ca(server, ca_bundle)
    out = []
    for type_, kind in (
        ("validating", "ValidatingWebhookConfiguration"),
        ("mutating", "MutatingWebhookConfiguration"),
    ):
        hooks = []
        for reg in server.registrations:
            if reg.type != type_:
                continue
            hook: dict[str, Any] = {
                "name": webhook_name(reg),
                "clientConfig": _client_config(reg.path, url, service, ca),
                "rules": [
                    {
                        "apiGroups": [reg.group],
                        "apiVersions": [reg.version],
                        "operations": list(reg.operations),
                        "resources": [reg.resource],
                        "scope": "*",
                    }
                ],
                "sideEffects": "None",
                "admissionReviewVersions": list(admission_review_versions),
                "failurePolicy": failure_policy,
                "matchPolicy": "Equivalent",
                "timeoutSeconds": timeout_seconds,
            }
            if namespace_selector is not None:
                hook["namespaceSelector"] = namespace_selector
            if type_ == "mutating":
                hook["reinvocationPolicy"] = "Never"
            hooks.append(hook)
        if hooks:
            out.append(
                {
                    "apiVersion": "admissionregistration.k8s.io/v1",
                    "kind": kind,
                    "metadata": {"name": name},
                    "webhooks": hooks,
                }
            )
    return out


def conversion_stanza(
    *,
    url: str | None = None,
    service: Service | None = None,
    ca_bundle: bytes | None = None,
    conversion_review_versions: Sequence[str] = ("v1", "v1beta1"),
) -> dict[str, Any]:
    """A CRD's ``spec.conversion`` calling the webhook server's ``/convert``."""
    return {
        "strategy": "Webhook",
        "webhook": {
            "clientConfig": _client_config(CONVERT_PATH, url, service, ca_bundle),
            "conversionReviewVersions": list(conversion_review_versions),
        },
    }


def _with_conversion(
    server: WebhookServer, crds: Iterable[dict[str, Any]], stanza: dict[str, Any]
) -> list[dict[str, Any]]:
    kinds = {(c.group, c.kind) for c in server.converters}
    out = []
    for crd in crds:
        crd = copy.deepcopy(crd)
        spec = crd.get("spec") or {}
        if (spec.get("group"), (spec.get("names") or {}).get("kind")) in kinds:
            spec["conversion"] = copy.deepcopy(stanza)
            spec.pop("preserveUnknownFields", None)  # must be false with a conversion webhook
        out.append(crd)
    return out


def manifests(
    server: WebhookServer,
    *,
    name: str,
    url: str | None = None,
    service: Service | None = None,
    ca_bundle: bytes | None = None,
    failure_policy: str = "Fail",
    timeout_seconds: int = 10,
    admission_review_versions: Sequence[str] = ("v1", "v1beta1"),
    crds: Iterable[dict[str, Any]] = (),
) -> str:
    """YAML (``---``-separated) for ``kubectl apply``: the webhook configurations, then ``crds``
    with their conversion stanza (see the module docstring). Never suspends."""
    docs: list[dict[str, Any]] = webhook_configurations(
        server,
        name=name,
        url=url,
        service=service,
        ca_bundle=ca_bundle,
        failure_policy=failure_policy,
        timeout_seconds=timeout_seconds,
        admission_review_versions=admission_review_versions,
    )
    crds = list(crds)
    if crds:
        stanza = conversion_stanza(url=url, service=service, ca_bundle=_ca(server, ca_bundle))
        docs.extend(_with_conversion(server, crds, stanza))
    text: str = yaml.safe_dump_all(docs, sort_keys=False)
    return text


_ADMISSION = "/apis/admissionregistration.k8s.io/v1"
_CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


class CABundleKeeper:
    """A runnable keeping the caBundle of webhook configurations and CRDs equal to the server's.

    At start, and again whenever the server's certificate is reloaded, it writes
    ``server.ca_bundle`` into every webhook of the named Validating/MutatingWebhookConfigurations
    and into ``spec.conversion.webhook.clientConfig`` of the named CRDs (objects that do not exist
    are skipped with a log line; conflicts are retried). ``await run()`` until cancelled or
    :meth:`stop`; ``writes`` counts the objects updated. Add it to the Manager (it runs without
    leader election by default, since every replica serves the same certificate; set
    ``need_leader_election=True`` otherwise).
    """

    need_leader_election = False
    name = "webhook-cabundle"

    def __init__(
        self,
        client: RestClient,
        server: WebhookServer,
        *,
        validating: Sequence[str] = (),
        mutating: Sequence[str] = (),
        crds: Sequence[str] = (),
    ) -> None:
        self.client = client
        self.server = server
        self.validating = list(validating)
        self.mutating = list(mutating)
        self.crds = list(crds)
        self.writes = 0
        self._changed = asyncio.Event()
        self._stopped = asyncio.Event()

    def _on_change(self) -> None:
        self._changed.set()

    async def run(self) -> None:
        """Write the caBundle now and after every certificate reload, until stopped."""
        watcher = self.server.watcher
        if watcher is None:
            raise RuntimeError("CABundleKeeper needs a started WebhookServer (start it first)")
        watcher.on_change.append(self._on_change)
        try:
            while not self._stopped.is_set():
                self._changed.clear()
                await self.sync()
                changed = asyncio.create_task(self._changed.wait())
                stopped = asyncio.create_task(self._stopped.wait())
                try:
                    await asyncio.wait({changed, stopped}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    changed.cancel()
                    stopped.cancel()
        finally:
            watcher.on_change.remove(self._on_change)

    def stop(self) -> None:
        """End :meth:`run` after the write in progress. Never suspends."""
        self._stopped.set()

    async def sync(self) -> None:
        """Write the current caBundle into every named object once. Suspends on the API calls."""
        from pycontroller.errors import ConflictError, NotFoundError

        encoded = base64.b64encode(self.server.ca_bundle).decode()
        targets = [(f"{_ADMISSION}/validatingwebhookconfigurations/{n}", False) for n in self.validating]
        targets += [(f"{_ADMISSION}/mutatingwebhookconfigurations/{n}", False) for n in self.mutating]
        targets += [(f"{_CRDS}/{n}", True) for n in self.crds]
        for path, is_crd in targets:
            for _attempt in range(5):
                try:
                    obj = await self.client.request("GET", path)
                    if not self._set(obj, encoded, is_crd):
                        break
                    await self.client.request("PUT", path, body=obj)
                    self.writes += 1
                    log.info("Updated the caBundle", extra={"object": path})
                    break
                except NotFoundError:
                    log.info("Not updating the caBundle of %s: it does not exist", path)
                    break
                except ConflictError:
                    continue

    @staticmethod
    def _set(obj: dict[str, Any], encoded: str, is_crd: bool) -> bool:
        configs: list[dict[str, Any]] = []
        if is_crd:
            webhook = ((obj.get("spec") or {}).get("conversion") or {}).get("webhook")
            if isinstance(webhook, dict) and isinstance(webhook.get("clientConfig"), dict):
                configs.append(webhook["clientConfig"])
        else:
            configs.extend(
                h["clientConfig"]
                for h in obj.get("webhooks") or []
                if isinstance(h.get("clientConfig"), dict)
            )
        changed = False
        for config in configs:
            if config.get("caBundle") != encoded:
                config["caBundle"] = encoded
                changed = True
        return changed
