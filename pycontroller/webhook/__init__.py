"""Admission and conversion webhooks served over HTTPS, and the manifests that register them.

::

    mgr = Manager(..., )
    mgr.add_validator("samplecontroller.k8s.io/v1alpha1", "Foo", validate_foo)   # mgr.webhook_server
    mgr.add_mutator("v1", "Pod", add_sidecar)
    mgr.add_conversion("samplecontroller.k8s.io", "Foo", "v1", {"v1alpha1": (to_v1, from_v1)})
    print(manifests(mgr.webhook_server, name="foo-webhooks", service=("default", "foo-webhook")))

Modules: :mod:`.server` (:class:`WebhookServer`: HTTPS, routing, metrics), :mod:`.admission`
(AdmissionReview, validators and mutators, :func:`allowed`/:func:`denied`/:func:`patched`),
:mod:`.jsonpatch` (RFC 6902 diff), :mod:`.conversion` (ConversionReview through a hub version),
:mod:`.certs` (generated CA and serving certificate, :class:`CertWatcher`), :mod:`.manifests`
(webhook configurations and the CRD conversion stanza as YAML, :class:`CABundleKeeper`),
:mod:`.metrics` (controller-runtime's webhook metrics).
"""

from .admission import (
    AdmissionFunc,
    AdmissionRequest,
    AdmissionResponse,
    allowed,
    denied,
    patched,
)
from .certs import CertBundle, CertWatcher, generate_self_signed
from .conversion import ConversionFunc
from .manifests import CABundleKeeper, conversion_stanza, manifests, webhook_configurations
from .server import Registration, WebhookServer

__all__ = [
    "AdmissionFunc",
    "AdmissionRequest",
    "AdmissionResponse",
    "CABundleKeeper",
    "CertBundle",
    "CertWatcher",
    "ConversionFunc",
    "Registration",
    "WebhookServer",
    "allowed",
    "conversion_stanza",
    "denied",
    "generate_self_signed",
    "manifests",
    "patched",
    "webhook_configurations",
]
