"""The sample-controller's webhooks: a validating webhook for Foo, and Foo v1 with conversion.

* **Validation** (``/validate-samplecontroller-k8s-io-v1alpha1-foo``): ``spec.deploymentName`` must
  be a DNS-1123 label (it names a Deployment and its Pods' labels), ``spec.replicas`` within
  ``MIN_REPLICAS..MAX_REPLICAS``; a Foo asking for more than ``WARN_REPLICAS`` replicas is allowed with
  a Warning the client prints. Registered for v1alpha1 with ``matchPolicy: Equivalent``, so Foos
  written at v1 are converted and validated by the same function.
* **Conversion** (``/convert``): ``v1`` is the hub; ``v1alpha1``'s ``spec.replicas`` is ``v1``'s
  ``spec.scale.replicas``. v1alpha1 stays the storage version (artifacts/crd-v1-conversion.yaml),
  so the controller and existing Foos are unchanged; clients may use either version.

:func:`add_webhooks` registers both on a Manager (``mgr.webhook_server``); :func:`install_webhooks`
installs the CRD with v1 and the ValidatingWebhookConfiguration from the artifacts, pointed at a URL
(for a process outside the cluster, and the tests) with the server's caBundle.
"""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Sequence
from typing import Any

import yaml  # type: ignore[import-untyped]

from pycontroller import RestClient
from pycontroller.errors import ConflictError, NotFoundError
from pycontroller.webhook import (
    AdmissionRequest,
    AdmissionResponse,
    CABundleKeeper,
    WebhookServer,
    allowed,
    conversion_stanza,
    denied,
)

from .foo import FOO_API_VERSION, FOO_KIND, FOOS, MAX_REPLICAS, MIN_REPLICAS

__all__ = [
    "CRD_NAME",
    "WARN_REPLICAS",
    "WEBHOOK_CONFIGURATION",
    "add_webhooks",
    "enable_webhooks",
    "foo_from_v1",
    "foo_to_v1",
    "install_webhooks",
    "new_cabundle_keeper",
    "validate_foo",
]

WARN_REPLICAS = 5
"""Above this many replicas a Foo is allowed with a Warning."""
CRD_NAME = f"{FOOS.resource}.{FOOS.group}"
WEBHOOK_CONFIGURATION = "sample-controller"
"""The ValidatingWebhookConfiguration's name (artifacts/webhook.yaml)."""

_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
_VWC = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"


def validate_foo(request: AdmissionRequest) -> AdmissionResponse:
    """Allow a Foo with a valid spec (a Warning above WARN_REPLICAS); deny it with 422 otherwise."""
    spec = (request.object or {}).get("spec") or {}
    problems = []
    name = spec.get("deploymentName")
    if not name:
        problems.append("spec.deploymentName: Required value")
    elif not isinstance(name, str) or len(name) > 63 or not _LABEL.fullmatch(name):
        detail = (
            "must be no more than 63 characters"
            if isinstance(name, str) and len(name) > 63
            else _LABEL_MESSAGE
        )
        problems.append(f'spec.deploymentName: Invalid value: "{name}": {detail}')
    replicas = spec.get("replicas", 1)
    if (
        not isinstance(replicas, int)
        or isinstance(replicas, bool)
        or not MIN_REPLICAS <= replicas <= MAX_REPLICAS
    ):
        problems.append(
            f"spec.replicas: Invalid value: {replicas!r}: must be between {MIN_REPLICAS} and {MAX_REPLICAS}"
        )
    if problems:
        return denied(f"Foo {request.name!r} is invalid: " + "; ".join(problems), code=422, reason="Invalid")
    if replicas > WARN_REPLICAS:
        return allowed(
            warnings=[f"spec.replicas is {replicas}: more than {WARN_REPLICAS} nginx replicas for one Foo"]
        )
    return allowed()


def foo_to_v1(obj: dict[str, Any]) -> dict[str, Any]:
    """A v1alpha1 Foo as v1 (the hub): ``spec.replicas`` becomes ``spec.scale.replicas``."""
    spec = obj.get("spec")
    if isinstance(spec, dict) and "replicas" in spec:
        spec["scale"] = {"replicas": spec.pop("replicas")}
    return obj


def foo_from_v1(obj: dict[str, Any]) -> dict[str, Any]:
    """A v1 Foo as v1alpha1: ``spec.scale.replicas`` becomes ``spec.replicas``."""
    spec = obj.get("spec")
    if isinstance(spec, dict) and "scale" in spec:
        scale = spec.pop("scale") or {}
        if "replicas" in scale:
            spec["replicas"] = scale["replicas"]
    return obj


def add_webhooks(mgr: Any) -> WebhookServer:
    """Register the Foo validator and the v1alpha1 <-> v1 conversion on ``mgr.webhook_server``."""
    mgr.add_validator(FOO_API_VERSION, FOO_KIND, validate_foo)
    mgr.add_conversion(FOOS.group, FOO_KIND, "v1", {"v1alpha1": (foo_to_v1, foo_from_v1)})
    server: WebhookServer = mgr.webhook_server
    return server


def _url_config(config: dict[str, Any], url: str, ca: bytes) -> None:
    path = config.get("service", {}).get("path", "")
    config.clear()
    config["url"] = url.rstrip("/") + path
    config["caBundle"] = base64.b64encode(ca).decode()


async def install_webhooks(
    client: Any,
    server: WebhookServer,
    *,
    url: str,
    namespace_selector: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Install artifacts/crd-v1-conversion.yaml and the webhook configuration, calling ``url``.

    The CRD replaces one already installed (keeping v1alpha1 as storage); returns the two objects as
    sent. ``namespace_selector`` limits the validating webhook to some namespaces (tests on a shared
    cluster). Suspends on the API calls.
    """
    from .app import ARTIFACTS, load_manifest  # app imports this module lazily; no cycle at import

    rest = RestClient.wrap(client)
    crd = load_manifest("crd-v1-conversion.yaml")
    crd["spec"]["conversion"] = conversion_stanza(url=url, ca_bundle=server.ca_bundle)
    await _create_or_replace(rest, f"{_CRDS}", CRD_NAME, crd)
    (config,) = [
        d for d in yaml.safe_load_all((ARTIFACTS / "webhook.yaml").read_text()) if d["kind"] != "Service"
    ]
    for hook in config["webhooks"]:
        _url_config(hook["clientConfig"], url, server.ca_bundle)
        if namespace_selector is not None:
            hook["namespaceSelector"] = namespace_selector
    await _create_or_replace(rest, _VWC, WEBHOOK_CONFIGURATION, config)
    return [crd, config]


async def _create_or_replace(rest: RestClient, base: str, name: str, obj: dict[str, Any]) -> None:
    for _ in range(5):
        try:
            current = await rest.request("GET", f"{base}/{name}")
        except NotFoundError:
            await rest.request("POST", base, body=obj)
            return
        body = copy.deepcopy(obj)
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        try:
            await rest.request("PUT", f"{base}/{name}", body=body)
            return
        except ConflictError:
            continue
    raise ConflictError(409, "Conflict", f"{name} kept changing while it was being replaced")


def new_cabundle_keeper(
    client: Any, server: WebhookServer, *, crds: Sequence[str] = (CRD_NAME,)
) -> CABundleKeeper:
    """The runnable keeping the caBundles of artifacts/webhook.yaml and the Foo CRD current."""
    return CABundleKeeper(
        RestClient.wrap(client), server, validating=[WEBHOOK_CONFIGURATION], crds=list(crds)
    )


async def enable_webhooks(mgr: Any, client: Any, *, embedded: bool) -> WebhookServer:
    """``--webhooks``: serve the webhooks from ``mgr`` and make the API server call them.

    Embedded (in-memory API server): a self-signed server on 127.0.0.1 (started now, so its URL and
    CA are known), the v1 CRD and the webhook configuration installed pointing at it. In a cluster:
    port 9443 with the certificate in ``<tmp>/k8s-webhook-server/serving-certs`` (mounted from a
    Secret), reached through artifacts/webhook.yaml's Service; a runnable keeps the caBundles
    current. Suspends on the API calls.
    """
    if embedded:
        mgr.webhook_server = WebhookServer(host="127.0.0.1", port=0, self_signed=True)
        server = add_webhooks(mgr)
        await server.start()
        await install_webhooks(client, server, url=server.url)
        return server
    server = add_webhooks(mgr)
    mgr.add(new_cabundle_keeper(client, server))
    return server
