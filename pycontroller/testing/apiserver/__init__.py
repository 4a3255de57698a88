"""The in-memory Kubernetes API server of pycontroller.testing.

Modules, one concept each:

* :mod:`.server`: :class:`FakeAPIServer`, lifecycle, clients, test knobs.
* :mod:`.handlers` + :mod:`.routing`: HTTP requests to registry calls; lists and watches.
* :mod:`.registry`: object semantics (create/update/patch/delete, namespaces, CRDs, generation).
* :mod:`.storage`: stored objects with their bytes, per-resource tables and bounded history.
* :mod:`.watch`: one watch stream (filtering, bounded queue, bookmarks, stalls).
* :mod:`.patch`, :mod:`.selectors`, :mod:`.discovery`, :mod:`.faults`, :mod:`.status`,
  :mod:`.resources`: the pieces those use.
"""

from .server import FakeAPIServer
from .status import ApiFailure

__all__ = ["ApiFailure", "FakeAPIServer"]
