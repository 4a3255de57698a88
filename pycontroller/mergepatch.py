"""JSON merge patches (RFC 7386) computed from two versions of an object.

:func:`create_merge_patch` is what controller-runtime's ``client.MergeFrom`` sends: the smallest
merge patch that turns ``original`` into ``modified``. Objects are compared key by key and
recursively; a key missing from ``modified`` becomes ``null`` (delete); lists and scalars that
differ are sent whole (a merge patch cannot address list items). Equal inputs give ``{}``.
:func:`apply_merge_patch` is the receiving side, for tests and for previews.

Pure functions on plain dicts; they never suspend and never mutate their arguments.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = ["apply_merge_patch", "create_merge_patch"]


def create_merge_patch(original: Mapping[str, Any], modified: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON merge patch from ``original`` to ``modified`` (both JSON objects)."""
    if not isinstance(original, Mapping) or not isinstance(modified, Mapping):
        raise TypeError("a merge patch is computed between two objects (dicts)")
    patch: dict[str, Any] = {}
    for key in original:
        if key not in modified:
            patch[key] = None
    for key, new in modified.items():
        if key not in original:
            patch[key] = copy.deepcopy(new)
            continue
        old = original[key]
        if old == new and type(old) is type(new):
            continue
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            sub = create_merge_patch(old, new)
            if sub:
                patch[key] = sub
        else:
            patch[key] = copy.deepcopy(new)
    return patch


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """``target`` with ``patch`` applied as RFC 7386 says (a new value; inputs are left as they were)."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result: dict[str, Any] = dict(copy.deepcopy(target)) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result
