"""The copy and load-test operators' pure decisions, without an API server."""

from __future__ import annotations

from typing import Any

import pytest

from samples.copy_operator.rules import (
    RULE_NAME_LABEL,
    desired_copy,
    is_copy_of,
    label_value,
    rule_problem,
    same_content,
    target_namespaces,
)
from samples.loadtest_operator.operator import new_pod, spec_problem, state_from_pods


def _rule(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "r", "namespace": "src", "uid": "u"}, "spec": spec}


def _ns(name: str, phase: str = "Active") -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": {"phase": phase}}


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"ruleType": "deployment", "selector": {}, "allNamespaces": True}, "spec.ruleType must be one of"),
        ({"ruleType": "configmap", "allNamespaces": True}, "spec.selector must be an object"),
        ({"ruleType": "secret", "selector": {"matchLabels": {"a": "b"}}}, "no target"),
        ({"ruleType": "secret", "selector": {}, "targetNamespaces": "ns"}, "must be a list"),
        (
            {"ruleType": "configmap", "selector": {"matchLabels": {"bad key!": "x"}}, "allNamespaces": True},
            "selector",
        ),
    ],
)
def test_an_invalid_copy_rule_is_explained(spec: dict[str, Any], problem: str) -> None:
    found = rule_problem(_rule(**spec))
    assert found is not None and problem in found


def test_targets_exist_are_alive_and_never_the_rules_own_namespace() -> None:
    existing = [_ns("src"), _ns("a"), _ns("b"), _ns("gone", "Terminating")]
    every = _rule(ruleType="configmap", selector={}, allNamespaces=True)
    assert target_namespaces(every, existing) == ["a", "b"]
    listed = _rule(ruleType="configmap", selector={}, targetNamespaces=["src", "a", "gone", "missing"])
    assert target_namespaces(listed, existing) == ["a"]


def test_a_copy_carries_the_content_and_marks_its_rule_and_source() -> None:
    rule = _rule(ruleType="secret", selector={}, allNamespaces=True)
    source = {
        "metadata": {
            "name": "s",
            "namespace": "src",
            "labels": {"x": "1"},
            "resourceVersion": "7",
            "uid": "v",
        },
        "type": "Opaque",
        "data": {"k": "dg=="},
    }
    copy = desired_copy(rule, source, "a")
    assert copy["kind"] == "Secret" and copy["metadata"]["namespace"] == "a"
    assert copy["data"] == {"k": "dg=="} and copy["type"] == "Opaque"
    assert "resourceVersion" not in copy["metadata"] and "uid" not in copy["metadata"]
    assert is_copy_of(copy, "src", "r") and not is_copy_of(copy, "src", "other")
    assert same_content({**copy, "metadata": {**copy["metadata"], "resourceVersion": "9"}}, copy)
    assert not same_content({**copy, "data": {"k": "changed"}}, copy)
    assert copy["metadata"]["labels"][RULE_NAME_LABEL] == "r"


def test_long_rule_names_become_a_stable_label_value() -> None:
    name = "r" * 100
    assert len(label_value(name)) <= 63 and label_value(name) == label_value(name)
    assert label_value("short") == "short"


def _lt(replicas: Any = 2, **test: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "lt", "namespace": "ns", "uid": "u", "generation": 3},
        "spec": {"replicas": replicas, "test": {"serviceName": "svc", **test}},
    }


@pytest.mark.parametrize(
    ("loadtest", "problem"),
    [
        (_lt(0), "spec.replicas must be a whole number from 1 to 100, got 0"),
        (_lt(101), "got 101"),
        (_lt("2"), "got '2'"),
        (_lt(2, method="BREW"), "spec.test.method must be one of"),
        (_lt(2, repeat=0), "spec.test.repeat"),
        (_lt(2, path="no-slash"), "spec.test.path"),
        ({"metadata": {}, "spec": {"replicas": 1}}, "spec.test must be an object"),
    ],
)
def test_an_invalid_load_test_is_explained(loadtest: dict[str, Any], problem: str) -> None:
    found = spec_problem(loadtest)
    assert found is not None and problem in found


def test_a_valid_load_test_gets_a_never_restarted_pod_of_its_generation() -> None:
    loadtest = _lt(2, method="POST", path="/x", repeat=5)
    assert spec_problem(loadtest) is None
    pod = new_pod(loadtest, 1)
    assert pod["metadata"]["name"] == "lt-g3-1"
    assert pod["spec"]["restartPolicy"] == "Never"
    script = pod["spec"]["containers"][0]["command"][-1]
    assert "seq 5" in script and "-X POST" in script and "http://svc/x" in script


@pytest.mark.parametrize(
    ("phases", "state"),
    [
        ([], "pending"),
        (["Pending", "Pending"], "pending"),
        (["Running", "Pending"], "executing"),
        (["Succeeded", "Pending"], "executing"),
        (["Succeeded", "Succeeded"], "finished"),
        (["Succeeded", "Failed"], "failed"),
        (["Running", "Failed"], "failed"),
    ],
)
def test_the_state_follows_the_pods_phases(phases: list[str], state: str) -> None:
    pods = [{"status": {"phase": p}} for p in phases]
    assert state_from_pods(2, pods)[0] == state
