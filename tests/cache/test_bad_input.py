"""Bad input never reaches the cache, and the Indexer's writes are atomic.

Objects whose metadata a Go client could not decode (name, namespace, resourceVersion or uid not
strings; labels or annotations not maps of strings) are skipped from lists and end a watch before
the store sees them; an index function that raises leaves the object and every index untouched.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from pycontroller.cache.keys import NAMESPACE_INDEX, meta_namespace_index_func, meta_namespace_key_func
from pycontroller.cache.listwatch import BadWatchInput, metadata_problem
from pycontroller.cache.reflector import Reflector
from pycontroller.cache.store import Indexer
from pycontroller.client import GroupVersionResource, RestClient

CONFIGMAPS = GroupVersionResource("", "v1", "configmaps")

# -- type-confused metadata ---------------------------------------------------------------------

JUNK = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.booleans(),
    st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
)
GOOD_STR = st.text(alphabet="abcxyz0123-", min_size=1, max_size=6)
STRING_MAP = st.dictionaries(GOOD_STR, st.text(max_size=4), max_size=3)
BAD_MAP = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.text(max_size=3),
    st.lists(st.text(max_size=2), max_size=2),
    st.dictionaries(
        GOOD_STR,
        st.one_of(st.integers(-(2**63), 2**63 - 1), st.none(), st.booleans()),
        min_size=1,
        max_size=2,
    ),
)


@st.composite
def metadata(draw: st.DrawFn) -> tuple[dict[str, Any], bool]:
    """A metadata dict and whether a Go client could decode it (the model)."""
    meta: dict[str, Any] = {}
    ok = True
    name_kind = draw(st.sampled_from(["good", "good", "good", "missing", "empty", "junk"]))
    if name_kind == "good":
        meta["name"] = draw(GOOD_STR)
    elif name_kind == "empty":
        meta["name"] = ""
        ok = False
    elif name_kind == "junk":
        meta["name"] = draw(JUNK)
        ok = False
    else:
        ok = False
    for field in ("namespace", "resourceVersion", "uid"):
        kind = draw(st.sampled_from(["good", "good", "absent", "null", "junk"]))
        if kind == "good":
            meta[field] = draw(GOOD_STR)
        elif kind == "null":
            meta[field] = None
        elif kind == "junk":
            meta[field] = draw(JUNK)
            ok = False
    for field in ("labels", "annotations"):
        kind = draw(st.sampled_from(["good", "good", "absent", "null", "junk"]))
        if kind == "good":
            meta[field] = draw(STRING_MAP)
        elif kind == "null":
            meta[field] = None
        elif kind == "junk":
            meta[field] = draw(BAD_MAP)
            ok = False
    return meta, ok


def reflector(store: Any) -> Reflector:
    return Reflector(object.__new__(RestClient), CONFIGMAPS, store, namespace=None)


@settings(max_examples=300, deadline=None)
@given(metadata())
def test_metadata_problem_flags_exactly_what_a_go_client_could_not_decode(
    case: tuple[dict[str, Any], bool],
) -> None:
    meta, ok = case
    problem = metadata_problem(meta)
    assert (problem is None) == ok, (meta, problem)


@settings(max_examples=150, deadline=None)
@given(st.lists(metadata(), max_size=8))
@example([({"name": "big", "labels": -(2**64)}, False)])
def test_a_list_caches_only_decodable_items_and_counts_the_others(
    cases: list[tuple[dict[str, Any], bool]],
) -> None:
    store = Indexer()
    r = reflector(store)
    items = [{"metadata": meta, "data": {"i": str(i)}} for i, (meta, _) in enumerate(cases)]
    kept = r._checked_items(items, "ConfigMapList")
    store.replace(kept, "1")
    good = [item for item, (_, ok) in zip(items, cases, strict=True) if ok]
    assert kept == good
    assert r.stats.invalid_objects == len(cases) - len(good) == r.stats.bad_input
    for obj in store.list():
        assert metadata_problem(obj["metadata"]) is None


class LinesStream:
    """A WatchStream stand-in handing out prepared lines, one batch, then the end."""

    def __init__(self, lines: list[bytes]) -> None:
        self.batches = [lines]

    async def read_lines(self) -> list[bytes]:
        return self.batches.pop(0) if self.batches else []


class Recording:
    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    def add(self, obj: Any) -> None:
        self.seen.append(("add", obj))

    def update(self, obj: Any) -> None:
        self.seen.append(("update", obj))

    def delete(self, obj: Any) -> None:
        self.seen.append(("delete", obj))

    def replace(self, objs: list[Any], rv: str) -> None:
        self.seen.append(("replace", objs))

    def resync(self) -> None:
        pass


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["ADDED", "MODIFIED", "DELETED"]), metadata()), min_size=1, max_size=8)
)
def test_a_watch_event_a_go_client_could_not_decode_never_reaches_the_store(
    events: list[tuple[str, tuple[dict[str, Any], bool]]],
) -> None:
    store = Recording()
    r = reflector(store)
    lines = []
    for i, (etype, (meta, _)) in enumerate(events):
        meta = dict(meta)
        if meta.get("resourceVersion").__class__ is not str:
            meta["resourceVersion"] = str(i + 1)  # the event's RV is checked separately
        lines.append(orjson.dumps({"type": etype, "object": {"metadata": meta}}))
    # A junk resourceVersion was replaced above; junk elsewhere still makes the object bad.
    first_bad = next(
        (i for i, line in enumerate(lines) if metadata_problem(orjson.loads(line)["object"]["metadata"])),
        None,
    )

    async def run() -> None:
        await r._handle_watch(LinesStream(lines))  # type: ignore[arg-type]

    if first_bad is None:
        asyncio.run(run())
        assert len(store.seen) == len(events)
    else:
        with pytest.raises(BadWatchInput) as caught:
            asyncio.run(run())
        assert caught.value.kind == "invalid"
        assert len(store.seen) == first_bad, "nothing from the bad event on was applied"
    for _, obj in store.seen:
        assert metadata_problem(obj["metadata"]) is None


# -- atomic Indexer writes ----------------------------------------------------------------------


class Boom(Exception):
    pass


class AtomicIndexerMachine(RuleBasedStateMachine):
    """An index function raises on objects labelled ``boom`` while armed: the write that asked for
    it (adding such an object, or replacing or deleting one) changes nothing at all."""

    with_namespace_index = False

    def __init__(self) -> None:
        super().__init__()
        self.armed = False
        indexers: dict[str, Any] = {"app": self.app_index}
        if self.with_namespace_index:
            indexers[NAMESPACE_INDEX] = meta_namespace_index_func
        self.store = Indexer(meta_namespace_key_func, indexers)
        self.model: dict[str, dict[str, Any]] = {}

    def app_index(self, obj: Any) -> list[str]:
        labels = obj["metadata"].get("labels") or {}
        if self.armed and "boom" in labels:
            raise Boom(obj["metadata"]["name"])
        app = labels.get("app")
        return [app] if app else []

    @staticmethod
    def make(name: str, app: str | None, boom: bool, ns: str) -> dict[str, Any]:
        labels = {"app": app} if app else {}
        if boom:
            labels["boom"] = "1"
        return {"metadata": {"name": name, "namespace": ns, "labels": labels}}

    @rule(
        name=st.sampled_from("abc"),
        app=st.sampled_from(["x", "y", None]),
        boom=st.booleans(),
        ns=st.sampled_from(["n1", "n2"]),
        via=st.sampled_from(["add", "update"]),
    )
    def write(self, name: str, app: str | None, boom: bool, ns: str, via: str) -> None:
        obj = self.make(name, app, boom, ns)
        key = f"{ns}/{name}"
        old = self.model.get(key)
        raises = self.armed and (boom or (old is not None and "boom" in old["metadata"]["labels"]))
        if raises:
            with pytest.raises(Boom):
                getattr(self.store, via)(obj)
        else:
            getattr(self.store, via)(obj)
            self.model[key] = obj

    @rule(name=st.sampled_from("abc"), ns=st.sampled_from(["n1", "n2"]))
    def delete(self, name: str, ns: str) -> None:
        key = f"{ns}/{name}"
        old = self.model.get(key)
        if self.armed and old is not None and "boom" in old["metadata"]["labels"]:
            with pytest.raises(Boom):
                self.store.delete_by_key(key)
        else:
            assert self.store.delete_by_key(key) is old
            self.model.pop(key, None)

    @rule()
    def toggle(self) -> None:
        self.armed = not self.armed

    @invariant()
    def object_and_every_index_agree_with_the_model(self) -> None:
        armed, self.armed = self.armed, False
        try:
            assert {k: self.store.get_by_key(k) for k in self.store.list_keys()} == self.model
            apps: dict[str, set[str]] = {}
            for key, o in self.model.items():
                for app in self.app_index(o):
                    apps.setdefault(app, set()).add(key)
            assert set(self.store.list_index_func_values("app")) == set(apps)
            for app, keys in apps.items():
                assert set(self.store.index_keys("app", app)) == keys
            if self.with_namespace_index:
                spaces: dict[str, set[str]] = {}
                for key, o in self.model.items():
                    spaces.setdefault(o["metadata"]["namespace"], set()).add(key)
                assert set(self.store.list_index_func_values(NAMESPACE_INDEX)) == set(spaces)
                for ns, keys in spaces.items():
                    assert set(self.store.index_keys(NAMESPACE_INDEX, ns)) == keys
        finally:
            self.armed = armed


class AtomicTwoIndexMachine(AtomicIndexerMachine):
    with_namespace_index = True


TestAtomicOneIndex = AtomicIndexerMachine.TestCase
TestAtomicOneIndex.settings = settings(max_examples=80, stateful_step_count=30, deadline=None)
TestAtomicTwoIndexes = AtomicTwoIndexMachine.TestCase
TestAtomicTwoIndexes.settings = settings(max_examples=80, stateful_step_count=30, deadline=None)
