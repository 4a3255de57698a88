"""Listers: read an informer's cache the way reconcilers read the API server, without a request.

``Lister(informer.indexer, resource="configmaps")`` lists every cached object, optionally filtered
by a label selector (a Kubernetes selector string, a label dict, a ``LabelSelector`` dict or a
:class:`pycontroller.labels.Selector`), and ``lister.namespace("ns")`` narrows to a namespace
(through the namespace index when the indexer has one) and offers ``get(name)``, which raises
:class:`pycontroller.errors.NotFoundError` like the API server would. As in client-go, the namespace
``""`` means all namespaces for ``list`` and cluster scope for ``get``.

Listers are thread-safe (the indexer is) and never suspend. They return the cached objects
themselves: never mutate them; copy first (``copy.deepcopy``) if you need to change one.
"""

from __future__ import annotations

from typing import Any

from pycontroller.cache.keys import NAMESPACE_INDEX
from pycontroller.cache.store import Indexer
from pycontroller.errors import NotFoundError
from pycontroller.labels import Selector, as_selector

__all__ = [
    "Lister",
    "NamespaceLister",
    "SelectorLike",
]

#: What a lister accepts as a label selector (None means everything).
SelectorLike = Selector | str | dict[str, Any] | None


def _filter(objs: list[Any], label_selector: SelectorLike) -> list[Any]:
    if label_selector is None:
        return objs
    selector = as_selector(label_selector)
    if selector.empty():
        return objs
    matches = selector.matches
    out = []
    for obj in objs:
        labels = obj["metadata"].get("labels")
        if matches(labels):
            out.append(obj)
    return out


def not_found(resource: str, name: str) -> NotFoundError:
    """The NotFound error the API server would answer for ``resource`` ``name``."""
    message = f'{resource} "{name}" not found' if resource else f'"{name}" not found'
    details: dict[str, Any] = {"name": name}
    if resource:
        details["kind"] = resource
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "NotFound",
        "details": details,
        "code": 404,
    }
    return NotFoundError(404, "NotFound", message, details=details, body=body)


class Lister:
    """Reads an :class:`Indexer` holding one resource's objects.

    ``resource`` (e.g. ``"configmaps"``, or ``"foos.samplecontroller.k8s.io"``) only shapes NotFound
    messages. Raises ``ValueError`` (from the selector parser) for a malformed selector string.
    """

    __slots__ = ("indexer", "resource")

    def __init__(self, indexer: Indexer, resource: str = "") -> None:
        self.indexer = indexer
        self.resource = resource

    def list(self, label_selector: SelectorLike = None) -> list[Any]:
        """Every cached object matching the selector (all of them when it is None or empty)."""
        return _filter(self.indexer.list(), label_selector)

    def get(self, name: str) -> Any:
        """The cluster-scoped object ``name``; raises NotFoundError when it is not cached."""
        obj = self.indexer.get_by_key(name)
        if obj is None:
            raise not_found(self.resource, name)
        return obj

    def namespace(self, namespace: str) -> NamespaceLister:
        """A lister restricted to ``namespace``."""
        return NamespaceLister(self.indexer, namespace, self.resource)


class NamespaceLister:
    """Reads one namespace of an :class:`Indexer` (see :meth:`Lister.namespace`)."""

    __slots__ = ("indexer", "namespace_name", "resource")

    def __init__(self, indexer: Indexer, namespace: str, resource: str = "") -> None:
        if not isinstance(namespace, str):
            raise TypeError(f"a namespace name (str) is expected, got {type(namespace).__name__}")
        self.indexer = indexer
        self.namespace_name = namespace
        self.resource = resource

    def list(self, label_selector: SelectorLike = None) -> list[Any]:
        """The namespace's cached objects matching the selector (every namespace's for ``""``)."""
        indexer = self.indexer
        namespace = self.namespace_name
        if not namespace:  # metav1.NamespaceAll, as in client-go
            return _filter(indexer.list(), label_selector)
        try:
            objs = indexer.by_index(NAMESPACE_INDEX, namespace)
        except ValueError:  # no namespace index: scan
            objs = [o for o in indexer.list() if o["metadata"].get("namespace") == namespace]
        return _filter(objs, label_selector)

    def get(self, name: str) -> Any:
        """The object ``name`` in this namespace; raises NotFoundError when it is not cached."""
        namespace = self.namespace_name
        obj = self.indexer.get_by_key(f"{namespace}/{name}" if namespace else name)
        if obj is None:
            raise not_found(self.resource, name)
        return obj
