"""The in-memory Kubernetes API server of pycontroller.testing.

Modules, one concept each:

* :mod:`.server`: :class:`FakeAPIServer`, lifecycle, clients, test knobs.
* :mod:`.handlers` + :mod:`.routing`: HTTP requests to registry calls; :mod:`.listwatch` lists
  (snapshots, pages) and watches; :mod:`.watch` one watch stream (filtering, bounded queue,
  bookmarks, stalls); :mod:`.discovery` the discovery documents.
* :mod:`.registry`: object semantics (create/update/patch, namespaces, generation), with
  :mod:`.deletion` (finalizers, propagation, collections), :mod:`.crds` (serving CRDs) and
  :mod:`.scale` (the scale subresource).
* :mod:`.storage`: stored objects with their bytes, per-resource tables and bounded history.
* :mod:`.apply` (server-side apply and the managedFields hook of every write), with
  :mod:`.managedfields` (the field manager), :mod:`.smd` (typed values: field sets, compare,
  merge), :mod:`.fieldpath` (field sets and FieldsV1) and the ``smd_schema.json`` data written by
  :mod:`.gen_smd_schema` from the real server's OpenAPI.
* :mod:`.resources` (what is served: ``resources.json``, generated from the real server by
  :mod:`.gen_resources`, which writes the objects of :mod:`.samples`), :mod:`.virtual` (reviews
  and subresources answered but not stored), :mod:`.defaults`, :mod:`.validation`, :mod:`.conversion`
  (field types, events at two apiVersions), :mod:`.patch`, :mod:`.selectors`, :mod:`.faults`,
  :mod:`.status` (Status errors), :mod:`.objects` (shared helpers).
* :mod:`.webhooks`: calling admission webhooks (Validating/MutatingWebhookConfigurations) on writes
  and CRD conversion webhooks, as kube-apiserver does, with :mod:`.webhook_admission` (matching,
  reviews), :mod:`.webhook_conversion` (ConversionReviews, converted objects by content) and
  :mod:`.webhook_client` (HTTPS calls, service references, timeouts).
"""

from .server import FakeAPIServer, ResourceClashError
from .status import ApiFailure

__all__ = ["ApiFailure", "FakeAPIServer", "ResourceClashError"]
