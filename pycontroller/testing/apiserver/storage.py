"""Stored objects, their serialized bytes, per-resource tables and the bounded event history.

Each stored version of an object is a :class:`Stored`: the dict plus its orjson bytes, serialized
once when written and shared by every GET, list page and watch event afterwards (list bodies are
built by joining these bytes). A :class:`Table` holds one resource's live objects, the events of
its retained history (for watch replay and for reconstructing the state at an older
resourceVersion), and its open watchers. Events are serialized once per served version and the
same bytes go to every watcher.

The history is bounded (``history_size`` events per resource); a resourceVersion older than the
oldest retained event is "compacted" and answered with 410 Expired, like etcd's compaction.
"""

from __future__ import annotations

import sys
from collections import OrderedDict, deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import orjson

from .conversion import convert
from .resources import ResourceDef

if TYPE_CHECKING:
    from collections.abc import Callable

    from .watch import Watcher

__all__ = ["Event", "Key", "RegistryCore", "Stored", "Table", "dumps_exact"]


def dumps_exact(obj: Any) -> bytes:
    """``orjson.dumps(obj)`` in a bytes object of exactly its size, for bytes that are KEPT.

    orjson returns its output buffer (at least 4 KiB) with the length set to the data's, so every
    kept result pins 4 KiB: measured 4.1 KB retained per stored 600-byte ConfigMap, two thirds of
    the server's memory per object (cachescale, issue 14). Copying through a memoryview makes a
    bytes object of the exact size (~0.2 us) and frees the buffer.
    """
    return bytes(memoryview(orjson.dumps(obj)))


Key = tuple[str, str]  # (namespace or "", name)


class Stored:
    """One version of an object, kept as its serialized bytes only (never changed once stored).

    Memory (cachescale, issue 14): a stored object is its JSON bytes plus ~200 bytes of
    bookkeeping. :attr:`obj` decodes those bytes on every access (~3 us for a 600-byte
    ConfigMap) and returns a fresh dict the caller may keep or change; keeping the decoded dict as
    well cost 1.2 KB more per object (2x the JSON), which at a million objects is the difference
    between fitting beside the client and not. List items of built-in resources are sliced from the
    bytes when served, not kept a second time.
    """

    __slots__ = ("_versions", "api_version", "key", "raw", "rv")

    def __init__(self, obj: dict[str, Any], rv: int) -> None:
        self.rv = rv
        meta = obj["metadata"]
        self.key: Key = (meta.get("namespace") or "", meta["name"])
        self.raw = dumps_exact(obj)
        api_version = obj.get("apiVersion")
        self.api_version: str | None = sys.intern(api_version) if isinstance(api_version, str) else None
        self._versions: dict[str, bytes] | None = None

    @property
    def obj(self) -> dict[str, Any]:
        """The object, decoded from its bytes (a new dict at each access)."""
        decoded: dict[str, Any] = orjson.loads(self.raw)
        return decoded

    def bytes_for(self, api_version: str) -> bytes:
        """The object as served at ``api_version`` (custom resources: only apiVersion differs)."""
        if api_version == self.api_version:
            return self.raw
        if self._versions is None:
            self._versions = {}
        data = self._versions.get(api_version)
        if data is None:
            data = dumps_exact(convert(self.obj, api_version))
            self._versions[api_version] = data
        return data

    def item_bytes(self, api_version: str, builtin: bool) -> bytes:
        """The object as a list item: built-in items carry no kind/apiVersion, custom ones do."""
        if not builtin:
            return self.bytes_for(api_version)
        if api_version != self.api_version:
            if self._versions is None:
                self._versions = {}
            key = "item:" + api_version
            data = self._versions.get(key)
            if data is None:
                converted = convert(self.obj, api_version)
                data = dumps_exact({k: v for k, v in converted.items() if k not in ("kind", "apiVersion")})
                self._versions[key] = data
            return data
        # Stored objects start with kind and apiVersion (registry.ordered): cut them off the bytes.
        raw = self.raw
        if raw.startswith(b'{"kind":'):
            end = raw.find(b'","apiVersion":"', 9)
            if end > 0:
                cut = raw.find(b'",', end + 16)
                if cut > 0 and raw[cut + 2 : cut + 3] == b'"':
                    return b"{" + raw[cut + 2 :]
        return orjson.dumps({k: v for k, v in self.obj.items() if k not in ("kind", "apiVersion")})


class Event:
    """One committed change: ``type`` ADDED/MODIFIED/DELETED at ``rv``; ``old`` is the prior state."""

    __slots__ = ("_lines", "obj", "old", "rv", "type")

    def __init__(self, rv: int, type_: str, obj: Stored, old: Stored | None) -> None:
        self.rv = rv
        self.type = type_
        self.obj = obj
        self.old = old
        self._lines: dict[str, bytes] = {}

    def line(self, api_version: str) -> bytes:
        """The watch-stream line of this event at ``api_version`` (built once, shared)."""
        data = self._lines.get(api_version)
        if data is None:
            data = (
                b'{"type":"' + self.type.encode() + b'","object":' + self.obj.bytes_for(api_version) + b"}\n"
            )
            self._lines[api_version] = data
        return data


class Table:
    """One resource's objects, history and watchers.

    Invariants: ``objects`` is the state at the store's current resourceVersion; ``history`` holds
    every event of this resource with rv > ``compacted`` in rv order; ``_sorted`` is None or the
    sorted keys of ``objects``.
    """

    def __init__(self, rdef: ResourceDef, history_size: int) -> None:
        self.rdef = rdef
        self.objects: dict[Key, Stored] = {}
        self.history: deque[Event] = deque()
        self.history_size = history_size
        self.compacted = 0
        self.last_rv = 0  # resourceVersion of this resource's latest event
        self.watchers: set[Watcher] = set()
        self._sorted: list[Key] | None = None
        self._snapshots: OrderedDict[int, list[Stored]] = OrderedDict()

    def commit(self, event: Event) -> None:
        """Apply ``event`` to the live state, record it, and fan it out to the watchers."""
        key = event.obj.key
        self.last_rv = event.rv
        if event.type == "DELETED":
            del self.objects[key]
            self._sorted = None
        else:
            if key not in self.objects:
                self._sorted = None
            self.objects[key] = event.obj
        self.history.append(event)
        while len(self.history) > self.history_size:
            self.compacted = self.history.popleft().rv
        for watcher in list(self.watchers):
            watcher.offer(event)

    def compact(self, rv: int) -> None:
        """Forget history up to ``rv``: older resourceVersions answer 410 from now on."""
        while self.history and self.history[0].rv <= rv:
            self.history.popleft()
        self.compacted = max(self.compacted, rv)
        self._snapshots.clear()

    def events_after(self, rv: int) -> Iterable[Event]:
        """Retained events with a resourceVersion above ``rv`` (caller checked ``rv >= compacted``)."""
        if not self.history or self.history[-1].rv <= rv:
            return ()
        if self.history[0].rv > rv:
            return list(self.history)
        # walk from the end: replays are usually short
        out: list[Event] = []
        for event in reversed(self.history):
            if event.rv <= rv:
                break
            out.append(event)
        out.reverse()
        return out

    def sorted_now(self) -> list[Stored]:
        """Live objects in key order (namespace, name), like etcd's key order."""
        if self._sorted is None:
            self._sorted = sorted(self.objects)
        objects = self.objects
        return [objects[k] for k in self._sorted]

    def snapshot(self, rv: int, current_rv: int) -> list[Stored]:
        """Objects as they were at ``rv`` in key order (``compacted <= rv <= current_rv``).

        Recent snapshots are cached so that the pages of one paginated list share one snapshot.
        """
        cached = self._snapshots.get(rv)
        if cached is not None:
            self._snapshots.move_to_end(rv)
            return cached
        later = self.events_after(rv)
        if not later:
            result = self.sorted_now()
        else:
            state = dict(self.objects)
            for event in reversed(list(later)):
                key = event.obj.key
                if event.type == "ADDED":
                    state.pop(key, None)
                elif event.old is not None:
                    state[key] = event.old
            result = [state[k] for k in sorted(state)]
        self._snapshots[rv] = result
        while len(self._snapshots) > 4:
            self._snapshots.popitem(last=False)
        return result


class RegistryCore:
    """What the Registry's mixins (CRD lifecycle, deletion) rely on; ``Registry`` provides it.

    Declared once, for the type checker only, so each mixin states just what it adds.
    """

    if TYPE_CHECKING:
        tables: dict[tuple[str, str], Table]
        history_size: int
        dry_run: bool
        on_unserve: list[Callable[[Table], None]]

        def get(self, table: Table, namespace: str | None, name: str) -> Stored: ...

        def _commit(self, table: Table, type_: str, obj: dict[str, Any], old: Stored | None) -> Stored: ...
