"""pycontroller.cache: the client side of list-and-watch (client-go's ``tools/cache``).

The flow, one resource at a time::

    API server --list+watch--> Reflector --> RealFIFO (or DeltaFIFO) --pop--> SharedIndexInformer
                                                                  |-- Indexer (thread-safe cache) <-- Lister
                                                                  '-- one buffer + task per event handler

* :mod:`~pycontroller.cache.keys`: object keys (``"ns/name"``), tombstones, the namespace index.
* :mod:`~pycontroller.cache.store`: :class:`Indexer`, the thread-safe indexed store.
* :mod:`~pycontroller.cache.delta_fifo`: :class:`DeltaFIFO`, per-key change lists.
* :mod:`~pycontroller.cache.real_fifo`: :class:`RealFIFO`, every change in order (the default).
* :mod:`~pycontroller.cache.reflector`: :class:`Reflector`, list + watch into a store.
* :mod:`~pycontroller.cache.informer` / :mod:`~pycontroller.cache.factory`: shared informers.
* :mod:`~pycontroller.cache.listers`: :class:`Lister`, namespaced reads with label selectors.
* :mod:`~pycontroller.cache.mutation`: a debug detector for code that mutates cached objects.
* :mod:`~pycontroller.cache.options`: per-resource cache scope (namespaces, selectors, transforms);
  :mod:`~pycontroller.cache.multi_namespace`: one informer over several namespaces.

Names are imported lazily, so importing one piece does not import them all.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "NAMESPACE_INDEX",
    "ByObject",
    "CacheMutationDetector",
    "CacheOptions",
    "DeletedFinalStateUnknown",
    "Delta",
    "DeltaFIFO",
    "DeltaType",
    "Deltas",
    "FilteringResourceEventHandler",
    "Indexer",
    "InformerCollector",
    "InformerOptions",
    "InformerOptionsConflictError",
    "Lister",
    "MultiNamespaceReflector",
    "NamespaceLister",
    "OutsideCacheScopeError",
    "RealFIFO",
    "Reflector",
    "ResourceEventHandler",
    "ResourceEventHandlerFuncs",
    "ResourceEventHandlerRegistration",
    "SharedIndexInformer",
    "SharedInformerFactory",
    "deletion_handling_meta_namespace_key_func",
    "drop_managed_fields",
    "meta_namespace_index_func",
    "meta_namespace_key_func",
    "new_informer",
    "parse_field_selector",
    "split_meta_namespace_key",
]

_LAZY = {
    "NAMESPACE_INDEX": "keys",
    "DeletedFinalStateUnknown": "keys",
    "deletion_handling_meta_namespace_key_func": "keys",
    "meta_namespace_index_func": "keys",
    "meta_namespace_key_func": "keys",
    "split_meta_namespace_key": "keys",
    "Indexer": "store",
    "Delta": "delta_fifo",
    "DeltaFIFO": "delta_fifo",
    "DeltaType": "delta_fifo",
    "Deltas": "delta_fifo",
    "RealFIFO": "real_fifo",
    "Reflector": "reflector",
    "Lister": "listers",
    "NamespaceLister": "listers",
    "FilteringResourceEventHandler": "handlers",
    "ResourceEventHandler": "handlers",
    "ResourceEventHandlerFuncs": "handlers",
    "ResourceEventHandlerRegistration": "handlers",
    "SharedIndexInformer": "informer",
    "SharedInformerFactory": "factory",
    "drop_managed_fields": "informer",
    "new_informer": "informer",
    "CacheMutationDetector": "mutation",
    "InformerCollector": "metrics",
    "ByObject": "options",
    "CacheOptions": "options",
    "InformerOptions": "options",
    "InformerOptionsConflictError": "options",
    "parse_field_selector": "options",
    "OutsideCacheScopeError": "options",
    "MultiNamespaceReflector": "multi_namespace",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pycontroller.cache' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"pycontroller.cache.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
