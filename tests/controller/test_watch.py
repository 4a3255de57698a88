"""Watches: handlers map events to keys; predicates filter them."""

from __future__ import annotations

from typing import Any

import pytest

from pycontroller.controller import Controller
from pycontroller.handler import enqueue_mapped, enqueue_object, enqueue_owner, object_key
from pycontroller.predicate import (
    Predicate,
    and_,
    annotations_changed,
    generation_changed,
    label_selector,
    labels_changed,
    not_,
    or_,
    resource_version_changed,
)
from tests.controller.helpers import FakeInformer


class Tombstone:
    def __init__(self, key: str, obj: Any) -> None:
        self.key = key
        self.obj = obj


def obj(name: str, ns: str | None = "ns", **meta: Any) -> dict[str, Any]:
    m: dict[str, Any] = {"name": name, **meta}
    if ns:
        m["namespace"] = ns
    return {"metadata": m}


class KeySink:
    def __init__(self) -> None:
        self.keys: list[str] = []


def wired(name: str, handler: Any = None, predicates: Any = ()) -> tuple[FakeInformer, list[str]]:
    keys: list[str] = []
    ctl = Controller(name, lambda k: None, skip_name_validation=True)
    ctl.enqueue = keys.append  # type: ignore[method-assign]
    informer = FakeInformer()
    ctl.watch(informer, handler, predicates=predicates)
    return informer, keys


def test_enqueue_object_uses_namespace_slash_name_or_name_for_cluster_scoped() -> None:
    informer, keys = wired("w1", enqueue_object())
    informer.add(obj("a"))
    informer.add(obj("node-1", ns=None))
    informer.update(obj("a"), obj("a", labels={"x": "1"}))
    informer.delete(Tombstone("ns/gone", obj("gone")))
    assert keys == ["ns/a", "node-1", "ns/a", "ns/gone"]


def test_object_key_of_a_tombstone_is_its_key() -> None:
    assert object_key(Tombstone("ns/x", None)) == "ns/x"
    assert object_key({"metadata": {}}) is None


def owned(name: str, *refs: dict[str, Any]) -> dict[str, Any]:
    o = obj(name)
    o["metadata"]["ownerReferences"] = list(refs)
    return o


FOO = {"apiVersion": "samplecontroller.k8s.io/v1alpha1", "kind": "Foo", "name": "foo-1", "controller": True}


class KnownScope:
    """A RESTMapper stand-in that already knows every kind, with one scope."""

    def __init__(self, namespaced: bool = True) -> None:
        self.namespaced = namespaced

    def cached(self, group_version: str, kind: str) -> Any:
        return self

    async def resource_for(self, group_version: str, kind: str) -> Any:
        return self


def test_enqueue_owner_maps_to_the_controlling_owner_of_the_kind_in_the_group() -> None:
    informer, keys = wired("w2", enqueue_owner("samplecontroller.k8s.io/v1beta9", "Foo", mapper=KnownScope()))  # type: ignore[arg-type]
    informer.add(owned("d1", FOO))
    informer.add(owned("d2", {**FOO, "controller": False, "name": "foo-2"}))  # not the controller
    informer.add(owned("d3", {**FOO, "apiVersion": "other.io/v1"}))  # other group
    informer.add(owned("d4", {**FOO, "kind": "Bar"}))
    informer.delete(Tombstone("ns/d1", owned("d1", FOO)))
    assert keys == ["ns/foo-1", "ns/foo-1"]


def test_enqueue_owner_without_only_controller_takes_every_owner_and_update_wakes_old_and_new() -> None:
    informer, keys = wired(
        "w3",
        enqueue_owner(
            "samplecontroller.k8s.io/v1alpha1",
            "Foo",
            only_controller=False,
            mapper=KnownScope(),  # type: ignore[arg-type]
        ),
    )
    informer.update(
        owned("d", {**FOO, "name": "old"}), owned("d", {**FOO, "name": "new", "controller": False})
    )
    assert keys == ["ns/old", "ns/new"]


def test_enqueue_mapped_maps_old_and_new_and_dedups() -> None:
    informer, keys = wired(
        "w4", enqueue_mapped(lambda o: [f"ns/{o['metadata']['labels']['owner']}", "ns/all"])
    )
    informer.update(obj("a", labels={"owner": "x"}), obj("a", labels={"owner": "y"}))
    assert keys == ["ns/x", "ns/all", "ns/y"]


def test_enqueue_mapped_refuses_a_bare_string() -> None:
    informer, _ = wired("w5", enqueue_mapped(lambda o: "ns/a"))
    with pytest.raises(TypeError, match="returned a string"):
        informer.add(obj("a"))


def test_a_mapped_non_string_key_reaches_enqueue_as_a_type_error() -> None:
    ctl = Controller("w6", lambda k: None, skip_name_validation=True)
    informer = FakeInformer()
    ctl.watch(informer, enqueue_mapped(lambda o: [("ns", "a")]))
    with pytest.raises(TypeError, match="keys must be strings"):
        informer.add(obj("a"))


def test_generation_changed_drops_status_only_updates() -> None:
    informer, keys = wired("p1", predicates=[generation_changed])
    informer.add(obj("a", generation=1))
    informer.update(obj("a", generation=1, resourceVersion="1"), obj("a", generation=1, resourceVersion="2"))
    informer.update(obj("a", generation=1), obj("a", generation=2))
    informer.delete(obj("a", generation=2))
    assert keys == ["ns/a", "ns/a", "ns/a"]


def test_resource_version_changed_drops_resyncs() -> None:
    informer, keys = wired("p2", predicates=resource_version_changed)
    same = obj("a", resourceVersion="5")
    informer.update(same, same)
    informer.update(same, obj("a", resourceVersion="6"))
    assert keys == ["ns/a"]


def test_labels_and_annotations_changed() -> None:
    assert labels_changed.update(obj("a"), obj("a", labels={"x": "1"}))
    assert not labels_changed.update(obj("a", labels={}), obj("a"))
    assert annotations_changed.update(obj("a", annotations={"a": "1"}), obj("a", annotations={"a": "2"}))
    assert not annotations_changed.update(obj("a", annotations={"a": "1"}), obj("a", annotations={"a": "1"}))


def test_label_selector_filters_every_event_by_the_objects_labels() -> None:
    pred = label_selector("app=web,tier in (a,b)")
    assert pred.create(obj("a", labels={"app": "web", "tier": "a"}))
    assert not pred.create(obj("a", labels={"app": "web"}))
    assert pred.update(obj("a"), obj("a", labels={"app": "web", "tier": "b"}))
    assert not pred.delete(obj("a", labels={"app": "db", "tier": "a"}))
    assert label_selector({"app": "web"}).create(obj("a", labels={"app": "web", "x": "y"}))


def test_label_selector_refuses_bad_input() -> None:
    with pytest.raises(ValueError):
        label_selector("app in (")
    with pytest.raises(TypeError):
        label_selector(3)  # type: ignore[arg-type]


def test_and_or_not_combine_predicates() -> None:
    yes = Predicate(create=lambda o: True)
    no = Predicate(create=lambda o: False)
    assert and_(yes, yes).create({}) and not and_(yes, no).create({})
    assert or_(no, yes).create({}) and not or_(no, no).create({})
    assert not_(no).create({}) and not not_(yes).create({})
    with pytest.raises(TypeError, match="Predicate objects"):
        and_(yes, lambda o: True)  # type: ignore[arg-type]


def test_predicates_see_the_object_inside_a_delete_tombstone() -> None:
    informer, keys = wired("p3", predicates=[label_selector("app=web")])
    informer.delete(Tombstone("ns/a", obj("a", labels={"app": "web"})))
    informer.delete(Tombstone("ns/b", obj("b", labels={"app": "db"})))
    assert keys == ["ns/a"]


def test_watch_refuses_a_plain_function_as_handler() -> None:
    ctl = Controller("w7", lambda k: None, skip_name_validation=True)
    with pytest.raises(TypeError, match="EventHandler"):
        ctl.watch(FakeInformer(), lambda o: None)  # type: ignore[arg-type]
