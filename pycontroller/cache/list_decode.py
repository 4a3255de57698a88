"""Decode a list answer item by item while it arrives, so no whole copy of the body ever exists.

A list of N objects used to be read whole (the body, plus a second copy while aiohttp joined its
chunks) and then decoded: at its peak the client held about 2.2x the body's bytes on top of the
cache it was building, and decoding started only after the last byte. :class:`ListDecoder` takes
the body chunk by chunk and decodes every complete item at once, keeping only the tail of an
item still arriving; decoding overlaps the transfer.

How items are found: Kubernetes servers write lists as compact JSON with ``items`` last
(``{"kind":...,"apiVersion":...,"metadata":{...},"items":[{...},{...}]}``, as Go encodes the List
struct). Every item starts with the same key (``{"metadata":`` for built-ins,
``{"apiVersion":`` for custom resources, ``{"kind":`` for PartialObjectMetadata), so
``},`` followed by that start is a candidate boundary. A candidate is accepted only when the bytes
from the item's start up to it decode as one JSON object: a boundary inside a string leaves the
string open and one inside a nested object leaves a brace open, so a wrong candidate never
decodes and is skipped. Anything else (whitespace between items, ``items`` not last, not JSON)
falls back to reading the rest and decoding the whole body, as before.

Nothing here suspends; decoding steps run with the cyclic GC paused (see ``gc_paused``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from pycontroller.errors import DecodeError

__all__ = ["SKIP", "ItemHook", "ListDecoder"]

SKIP: Any = object()
"""What an item hook returns for an item to leave out of the decoded list."""

ItemHook = Callable[[Any, str], Any]
"""``hook(item, list_kind)``: called once on every decoded item, in order, as soon as it is decoded;
returns the object to keep in its place (or :data:`SKIP`). ``list_kind`` is the list's ``kind``."""

_ITEMS = b'"items":['
_ITEMS_OPEN = b"{" + _ITEMS
_HEADER_LIMIT = 1 << 16  # a list header longer than this is not what we expect: fall back


class ListDecoder:
    """Feed the chunks of one list body with :meth:`feed`, then :meth:`finish` for the decoded list.

    ``finish()`` returns what ``orjson.loads(body)`` would have (a dict whose ``items`` are the
    decoded objects) and raises :class:`~pycontroller.errors.DecodeError` for a body that is not
    JSON. ``where`` names the request in error messages. ``item_hook`` (optional, see
    :data:`ItemHook`) replaces every item as soon as it is decoded (the whole-body fallback
    included), so a transform that slims items runs before the next ones are decoded and the
    untransformed list never exists whole.
    """

    __slots__ = ("_buf", "_chunks", "_head", "_header", "_hook", "_items", "_marker", "_scan", "where")

    def __init__(self, where: str, item_hook: ItemHook | None = None) -> None:
        self.where = where
        self._hook = item_hook
        self._buf = b""  # bytes not decoded yet: the header, then the item being received
        self._chunks: list[bytes] | None = None  # set when falling back to one whole decode
        self._header: dict[str, Any] | None = None
        self._head = b""  # the header's bytes once read, for a fall back before any item is cut
        self._items: list[Any] = []
        self._marker = b""  # b"}," + how every item starts
        self._scan = 0  # where the next boundary search starts in _buf

    def feed(self, chunk: bytes) -> None:
        """Take the next bytes of the body and decode the items they complete. Never suspends."""
        if self._chunks is not None:
            self._chunks.append(chunk)
            return
        self._buf = self._buf + chunk if self._buf else chunk
        if self._header is None and not self._read_header():
            return
        if not self._marker and not self._find_marker():
            return
        self._split()

    def _fall_back(self) -> None:
        # The body is not shaped as expected: keep everything and decode it whole at the end.
        # Nothing was cut yet when this happens (no marker, so no item): header + rest is the body.
        self._chunks = [self._head + self._buf]
        self._head = b""
        self._buf = b""
        self._items = []
        self._header = None

    def _read_header(self) -> bool:
        buf = self._buf
        at = buf.find(_ITEMS)
        if at < 0:
            if len(buf) > _HEADER_LIMIT:
                self._fall_back()
            return False
        try:
            header = orjson.loads(buf[:at] + b'"items":[]}')
        except orjson.JSONDecodeError:
            self._fall_back()
            return False
        if not isinstance(header, dict):
            self._fall_back()
            return False
        self._header = header
        self._head = buf[: at + len(_ITEMS)]
        self._buf = buf[at + len(_ITEMS) :]
        return True

    def _find_marker(self) -> bool:
        buf = self._buf
        if not buf:
            return False
        if buf[:1] != b"{":
            if buf[:1] != b"]":  # "]": an empty list, finished at the end
                self._fall_back()
            return False
        end = buf.find(b'":', 1)
        if end < 0:
            if len(buf) > 256:
                self._fall_back()
            return False
        start = buf[: end + 2]
        if not start.startswith(b'{"') or b'"' in start[2:end]:
            self._fall_back()
            return False
        self._marker = b"}," + start
        return True

    def _split(self) -> None:
        buf = self._buf
        marker = self._marker
        loads = orjson.loads
        append = self._items.append
        hook = self._hook
        kind = str(self._header.get("kind") or "") if self._header is not None else ""
        start = 0
        search = self._scan
        while True:
            cut = buf.find(marker, search)
            if cut < 0:
                break
            try:
                item = loads(buf[start : cut + 1])
            except orjson.JSONDecodeError:
                search = cut + 1  # the candidate was inside a string or a nested object
                continue
            if hook is not None:
                item = hook(item, kind)
                if item is not SKIP:
                    append(item)
            else:
                append(item)
            start = cut + 2
            search = start
        if start:
            self._buf = buf[start:]
            search -= start
        # Resume the search where it stopped, minus the length of a marker cut by the chunk end.
        self._scan = max(0, len(self._buf) - len(marker) + 1, search)

    def finish(self) -> Any:
        """The decoded list (see the class docs). Raises DecodeError for a body that is not JSON."""
        if self._chunks is not None:
            return self._whole(b"".join(self._chunks))
        header = self._header
        if header is None:
            return self._whole(self._buf)
        # What is left starts at an item (or at the "]"): with the key put back in front it is
        # one JSON object holding the last items and any members after "items".
        try:
            rest = orjson.loads(_ITEMS_OPEN + self._buf)
        except orjson.JSONDecodeError as exc:
            raise DecodeError(
                f"list {self.where}: response is not JSON ({exc})",
                snippet=self._buf[-200:].decode("utf-8", "replace"),
            ) from None
        self._items.extend(self._hooked(rest.pop("items"), header))
        header.update(rest)
        header["items"] = self._items
        return header

    def _hooked(self, items: Any, page: Any) -> Any:
        hook = self._hook
        if hook is None or not isinstance(items, list):
            return items  # a non-list "items" is refused by the caller
        kind = str(page.get("kind") or "")
        kept = []
        for i in range(len(items)):
            item = hook(items[i], kind)
            items[i] = None  # let the decoded original go as soon as it is replaced
            if item is not SKIP:
                kept.append(item)
        return kept

    def _whole(self, raw: bytes) -> Any:
        try:
            page = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise DecodeError(
                f"list {self.where}: response is not JSON ({exc})",
                snippet=raw[:200].decode("utf-8", "replace"),
            ) from None
        if self._hook is not None and isinstance(page, dict) and "items" in page:
            page["items"] = self._hooked(page["items"], page)
        return page
