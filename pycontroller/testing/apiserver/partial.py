"""Metadata-only answers: ``Accept: application/json;as=PartialObjectMetadata[List];g=meta.k8s.io;v=v1``.

What the real kube-apiserver does (1.20, compared by tests/conformance/test_metadata_only.py):

* a list asked ``as=PartialObjectMetadataList`` answers ``{"kind": "PartialObjectMetadataList",
  "apiVersion": "meta.k8s.io/<v>", "metadata": <the list's ListMeta>, "items": [...]}`` where
  every item is ``{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/<v>", "metadata":
  <the object's whole ObjectMeta>}`` (paging, selectors and resourceVersions as for full lists);
* a get or a watch asked ``as=PartialObjectMetadata`` answers that item shape (for a watch, as each
  event's object, bookmarks included);
* asking a list for ``PartialObjectMetadata`` (or an object for ``...List``) is 406 NotAcceptable
  with the messages below; ``v`` may be ``v1`` or ``v1beta1``; an unknown ``as=`` is 406 too.

:func:`partial_request` reads the Accept header (None: a plain JSON answer). Part of the apiserver
stream's fake, added by the cachescale stream (metadata-only informers).
"""

from __future__ import annotations

from typing import Any

import orjson

from .resources import ResourceDef
from .status import ApiFailure

__all__ = ["PartialRequest", "partial_request"]

_KNOWN_AS = {"PartialObjectMetadata", "PartialObjectMetadataList", "Table"}


class PartialRequest:
    """A request for metadata only: ``kind`` (``PartialObjectMetadata[List]``) at ``api_version``."""

    __slots__ = ("_item_prefix", "api_version", "kind")

    def __init__(self, kind: str, api_version: str) -> None:
        self.kind = kind
        self.api_version = api_version
        self._item_prefix = (
            b'{"kind":"PartialObjectMetadata","apiVersion":"' + api_version.encode() + b'","metadata":'
        )

    @property
    def is_list(self) -> bool:
        return self.kind == "PartialObjectMetadataList"

    def require(self, rdef: ResourceDef, want_list: bool) -> None:
        """406 when a list was asked as one object or an object as a list (the real messages)."""
        if want_list and not self.is_list:
            raise _not_acceptable(
                f"you requested PartialObjectMetadata, but the requested object is a list ({_go_type(rdef, True)})"
            )
        if not want_list and self.is_list:
            raise _not_acceptable(
                "you requested PartialObjectMetadataList, but the requested object is not a list "
                f"({_go_type(rdef, False)})"
            )

    def item(self, obj: dict[str, Any]) -> bytes:
        """One object as a PartialObjectMetadata (its whole metadata, nothing else)."""
        return self._item_prefix + orjson.dumps(obj["metadata"]) + b"}"

    def list_prefix(self, list_meta: dict[str, Any]) -> bytes:
        return (
            b'{"kind":"PartialObjectMetadataList","apiVersion":"'
            + self.api_version.encode()
            + b'","metadata":'
            + orjson.dumps(list_meta)
            + b',"items":['
        )


def partial_request(accept: str) -> PartialRequest | None:
    """The metadata-only request an Accept header makes, None for anything else.

    The first media type that names ``as=`` decides (as the real server's negotiation picks the
    first acceptable one); a Table request is left to the Table printer. An ``as=`` the server
    does not know, with no other acceptable type, is 406.
    """
    plain_ok = False
    unknown = False
    for part in accept.split(","):
        pieces = [p.strip() for p in part.split(";")]
        media = pieces[0].lower()
        params = {k.strip(): v.strip() for k, _, v in (p.partition("=") for p in pieces[1:]) if k}
        if media not in ("application/json", "application/*", "*/*", ""):
            continue
        target = params.get("as")
        if target is None:
            plain_ok = True
            break
        if target not in _KNOWN_AS or params.get("g", "meta.k8s.io") != "meta.k8s.io":
            unknown = True
            continue
        if target == "Table":
            return None
        version = params.get("v", "v1")
        if version not in ("v1", "v1beta1"):
            unknown = True
            continue
        return PartialRequest(target, f"meta.k8s.io/{version}")
    if unknown and not plain_ok:
        raise _not_acceptable(
            "only the following media types are accepted: application/json, application/yaml, "
            "application/vnd.kubernetes.protobuf"
        )
    return None


def _not_acceptable(message: str) -> ApiFailure:
    return ApiFailure(406, "NotAcceptable", message)


def _go_type(rdef: ResourceDef, as_list: bool) -> str:
    """The Go type the real server names in its 406 message (internal package of the group)."""
    if not rdef.builtin:
        return "*unstructured.UnstructuredList" if as_list else "*unstructured.Unstructured"
    package = rdef.group.split(".")[0] if rdef.group else "core"
    return f"*{package}.{rdef.kind}{'List' if as_list else ''}"
