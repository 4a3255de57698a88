"""Status conditions: apimachinery's SetStatusCondition semantics, driven by a fake clock."""

from __future__ import annotations

from typing import Any

import pytest

from pycontroller import InvalidObjectError
from pycontroller.conditions import (
    conditions_of,
    find_status_condition,
    is_status_condition_false,
    is_status_condition_true,
    remove_status_condition,
    set_status_condition,
)
from pycontroller.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(wall_start=1_700_000_000.0)  # 2023-11-14T22:13:20Z


def test_a_new_condition_is_appended_with_the_transition_time_now(clock: FakeClock) -> None:
    conditions: list[Any] = []
    assert set_status_condition(conditions, "Ready", "False", "Creating", "starting", 2, clock=clock)
    assert conditions == [
        {
            "type": "Ready",
            "status": "False",
            "reason": "Creating",
            "message": "starting",
            "lastTransitionTime": "2023-11-14T22:13:20Z",
            "observedGeneration": 2,
        }
    ]


def test_the_transition_time_moves_only_when_the_status_changes(clock: FakeClock) -> None:
    conditions: list[Any] = []
    set_status_condition(conditions, "Ready", "False", "Creating", "starting", clock=clock)
    clock.advance(60)
    assert set_status_condition(conditions, "Ready", "False", "Waiting", "1/2 replicas", 3, clock=clock)
    ready = find_status_condition(conditions, "Ready")
    assert ready is not None
    assert ready["lastTransitionTime"] == "2023-11-14T22:13:20Z"  # same status: time kept
    assert (ready["reason"], ready["message"], ready["observedGeneration"]) == ("Waiting", "1/2 replicas", 3)
    clock.advance(60)
    assert set_status_condition(conditions, "Ready", "True", "Available", "2/2", 3, clock=clock)
    assert ready["lastTransitionTime"] == "2023-11-14T22:15:20Z"
    assert is_status_condition_true(conditions, "Ready") and not is_status_condition_false(
        conditions, "Ready"
    )


def test_setting_the_same_condition_again_changes_nothing(clock: FakeClock) -> None:
    conditions: list[Any] = []
    set_status_condition(conditions, "Ready", "True", "Available", "ok", 1, clock=clock)
    before = [dict(c) for c in conditions]
    clock.advance(3600)
    assert not set_status_condition(conditions, "Ready", "True", "Available", "ok", 1, clock=clock)
    assert conditions == before


def test_remove_and_find_and_absent_is_neither_true_nor_false(clock: FakeClock) -> None:
    obj: dict[str, Any] = {"metadata": {"name": "x"}}
    conditions = conditions_of(obj)
    set_status_condition(conditions, "Ready", "True", "Available", clock=clock)
    set_status_condition(conditions, "example.com/Degraded", "False", "AsExpected", clock=clock)
    assert obj["status"]["conditions"] is conditions and len(conditions) == 2
    assert remove_status_condition(conditions, "Ready")
    assert not remove_status_condition(conditions, "Ready")
    assert find_status_condition(conditions, "Ready") is None
    assert not is_status_condition_true(conditions, "Ready") and not is_status_condition_false(
        conditions, "Ready"
    )
    assert is_status_condition_false(conditions, "example.com/Degraded")


@pytest.mark.parametrize(
    ("type_", "status", "reason", "what"),
    [
        ("Ready", "true", "Available", "status"),
        ("Ready", "Maybe", "Available", "status"),
        ("Ready", "True", "not available", "CamelCase"),
        ("Ready", "True", "", "CamelCase"),
        ("Ready", "True", "1Available", "CamelCase"),
        ("Ready", "True", "Available:", "CamelCase"),
        ("not a type!", "True", "Available", "qualified name"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    clock: FakeClock, type_: str, status: str, reason: str, what: str
) -> None:
    conditions: list[Any] = []
    with pytest.raises(InvalidObjectError, match=what):
        set_status_condition(conditions, type_, status, reason, clock=clock)
    assert conditions == []


def test_reasons_follow_apimachinerys_pattern() -> None:
    conditions: list[Any] = []
    for reason in ("A", "Available", "Min_Replicas", "Scaled,Up:Done", "v1Ready"):
        set_status_condition(conditions, "Ready", "True", reason)
    with pytest.raises(InvalidObjectError):
        set_status_condition(conditions, "Ready", "True", "x" * 1025)
    with pytest.raises(InvalidObjectError):
        set_status_condition(conditions, "Ready", "True", "Ok", observed_generation=-1)
