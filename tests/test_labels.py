"""Label selectors: the Kubernetes string syntax, LabelSelector objects, matching."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycontroller import labels
from pycontroller.errors import PyControllerError
from pycontroller.labels import Requirement, SelectorError, parse


@pytest.mark.parametrize(
    ("text", "label_set", "expected"),
    [
        ("", {}, True),
        ("", {"a": "b"}, True),
        ("app=nginx", {"app": "nginx"}, True),
        ("app=nginx", {"app": "redis"}, False),
        ("app=nginx", {}, False),
        ("app==nginx", {"app": "nginx"}, True),
        ("app!=nginx", {"app": "redis"}, True),
        ("app!=nginx", {}, True),
        ("app!=nginx", {"app": "nginx"}, False),
        ("env in (prod, staging)", {"env": "staging"}, True),
        ("env in (prod,staging)", {"env": "dev"}, False),
        ("env in (prod)", {}, False),
        ("env notin (dev)", {}, True),
        ("env notin (dev)", {"env": "dev"}, False),
        ("env notin (dev)", {"env": "prod"}, True),
        ("release", {"release": ""}, True),
        ("release", {}, False),
        ("!canary", {}, True),
        ("!canary", {"canary": "x"}, False),
        ("app=nginx,tier", {"app": "nginx", "tier": "web"}, True),
        ("app=nginx,tier", {"app": "nginx"}, False),
        ("  app = nginx ,  !canary ", {"app": "nginx"}, True),
        ("app=", {"app": ""}, True),
        ("app=", {"app": "x"}, False),
        ("replicas>2", {"replicas": "3"}, True),
        ("replicas>2", {"replicas": "2"}, False),
        ("replicas<10", {"replicas": "3"}, True),
        ("replicas>2", {"replicas": "lots"}, False),
        ("replicas>2", {}, False),
        ("example.com/owner=team-a", {"example.com/owner": "team-a"}, True),
    ],
)
def test_a_selector_string_matches_the_label_sets_kubernetes_would_match(
    text: str, label_set: dict[str, str], expected: bool
) -> None:
    assert parse(text).matches(label_set) is expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("app=nginx,", "found end of string"),
        (",app", "found ','"),
        ("app in nginx", "expected: '('"),
        ("app in (a b)", "expected: ',' or ')'"),
        ("app ~ nginx", "expected: one of 'in'"),
        ("app=a=b", "expected: ',' or end of string"),
        ("-bad=x", "invalid label key '-bad'"),
        ("app=bad value", "expected: ',' or end of string"),
        ("app=-x", "invalid label value '-x'"),
        ("replicas>two", "needs an integer"),
        ("!", "found end of string"),
        ("Bad_Prefix/x=y", "prefix must be a DNS subdomain"),
        ("a=" + "v" * 64, "invalid label value"),
    ],
)
def test_a_malformed_selector_raises_a_value_error_that_says_what_is_wrong(text: str, fragment: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse(text)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, PyControllerError)


def test_parsing_something_that_is_not_a_string_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        parse(None)  # type: ignore[arg-type]


def test_the_string_form_is_canonical_and_parses_back_to_an_equal_selector() -> None:
    selector = parse("z in (b,a), !canary, app==x, n>1, env notin (dev), tier, q!=v")
    text = str(selector)
    assert text == "app==x,!canary,env notin (dev),n>1,q!=v,tier,z in (a,b)"
    assert parse(text) == selector


def test_a_label_selector_object_combines_match_labels_and_expressions() -> None:
    selector = labels.selector_from_label_selector(
        {
            "matchLabels": {"app": "nginx"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "staging"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "tier", "operator": "Exists"},
                {"key": "zone", "operator": "NotIn", "values": ["a"]},
            ],
        }
    )
    assert selector.matches({"app": "nginx", "env": "prod", "tier": "web", "zone": "b"})
    assert not selector.matches({"app": "nginx", "env": "prod", "tier": "web", "zone": "a"})
    assert not selector.matches({"app": "nginx", "env": "prod", "tier": "web", "canary": "1"})
    assert not selector.matches({"app": "nginx", "env": "dev", "tier": "web"})


def test_an_empty_label_selector_selects_everything_and_none_selects_nothing() -> None:
    assert labels.selector_from_label_selector({}).matches({"a": "b"})
    assert not labels.selector_from_label_selector(None).matches({})
    assert labels.everything().empty()
    assert not labels.nothing().matches({})


@pytest.mark.parametrize(
    ("label_selector", "fragment"),
    [
        ({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}, "not a valid"),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}, "at least one value"),
        ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}, "takes no values"),
        ({"matchExpressions": [{"operator": "Exists"}]}, "needs a key"),
        ({"matchLabels": {"a": "b c"}}, "invalid label value"),
        ({"matchLabels": ["a"]}, "must be a mapping"),
    ],
)
def test_an_invalid_label_selector_object_is_refused(
    label_selector: dict[str, object], fragment: str
) -> None:
    with pytest.raises(SelectorError, match=fragment):
        labels.selector_from_label_selector(label_selector)


def test_a_selector_from_a_label_set_requires_each_pair() -> None:
    selector = labels.selector_from_set({"app": "nginx", "tier": "web"})
    assert str(selector) == "app=nginx,tier=web"
    assert selector.matches({"app": "nginx", "tier": "web", "more": "x"})
    assert not selector.matches({"app": "nginx"})


def test_as_selector_accepts_strings_label_sets_label_selectors_and_none() -> None:
    obj = {"metadata": {"name": "x", "labels": {"app": "nginx"}}}
    assert labels.as_selector(None).matches_object(obj)
    assert labels.as_selector("app=nginx").matches_object(obj)
    assert labels.as_selector({"app": "nginx"}).matches_object(obj)
    assert labels.as_selector({"matchLabels": {"app": "redis"}}).matches_object(obj) is False
    assert labels.as_selector("!app").matches_object({"metadata": {"name": "y"}})
    with pytest.raises(TypeError):
        labels.as_selector(3)  # type: ignore[arg-type]


def test_requirements_refuse_wrong_value_counts() -> None:
    with pytest.raises(SelectorError, match="exactly one value"):
        Requirement("a", "=", ["x", "y"])
    with pytest.raises(SelectorError, match="unknown operator"):
        Requirement("a", "~", ["x"])


_names = st.from_regex(r"[a-z]([a-z0-9.-]{0,10}[a-z0-9])?", fullmatch=True).filter(
    lambda s: ".." not in s and "-." not in s and ".-" not in s
)
_label_sets = st.dictionaries(st.sampled_from(["a", "b", "c"]), st.sampled_from(["x", "y", ""]), max_size=3)
_requirements = st.one_of(
    st.builds(lambda k, v: Requirement(k, "=", [v]), st.sampled_from("abc"), st.sampled_from("xy")),
    st.builds(lambda k, v: Requirement(k, "!=", [v]), st.sampled_from("abc"), st.sampled_from("xy")),
    st.builds(
        lambda k, vs: Requirement(k, "in", vs),
        st.sampled_from("abc"),
        st.sets(st.sampled_from("xy"), min_size=1),
    ),
    st.builds(
        lambda k, vs: Requirement(k, "notin", vs),
        st.sampled_from("abc"),
        st.sets(st.sampled_from("xy"), min_size=1),
    ),
    st.builds(lambda k: Requirement(k, "exists"), st.sampled_from("abc")),
    st.builds(lambda k: Requirement(k, "!"), st.sampled_from("abc")),
)


@given(st.lists(_requirements, max_size=4), _label_sets)
def test_printing_and_reparsing_a_selector_never_changes_what_it_matches(
    requirements: list[Requirement], label_set: dict[str, str]
) -> None:
    selector = labels.Selector(requirements)
    reparsed = parse(str(selector))
    assert reparsed.matches(label_set) == selector.matches(label_set)
    assert reparsed.matches(label_set) == all(r.matches(label_set) for r in requirements)


@given(_names, _names)
def test_valid_keys_and_values_always_parse(key: str, value: str) -> None:
    assert parse(f"{key}={value}").matches({key: value})
