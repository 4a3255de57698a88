"""requeue_on_conflict: a 409 from a stale cache is retried quietly, other errors pass through."""

from __future__ import annotations

import inspect

import pytest

from pycontroller import Controller, Result, requeue_on_conflict
from pycontroller.errors import AlreadyExistsError, ConflictError, NotFoundError


async def test_a_conflict_becomes_a_rate_limited_requeue() -> None:
    async def reconcile(key: str) -> Result | None:
        raise ConflictError(409, "Conflict", 'configmaps "a" was modified')

    assert await requeue_on_conflict(reconcile)("ns/a") == Result(requeue=True)


async def test_an_already_exists_error_is_a_conflict_too() -> None:
    async def reconcile(key: str) -> Result | None:
        raise AlreadyExistsError(409, "AlreadyExists", "taken")

    assert await requeue_on_conflict(reconcile)("ns/a") == Result(requeue=True)


async def test_results_and_other_errors_pass_through_unchanged() -> None:
    outcomes: list[object] = [Result(requeue_after=5), None, NotFoundError(404, "NotFound")]

    async def reconcile(key: str) -> Result | None:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        assert outcome is None or isinstance(outcome, Result)
        return outcome

    wrapped = requeue_on_conflict(reconcile)
    assert wrapped.__name__ == "reconcile"
    assert await wrapped("k") == Result(requeue_after=5)
    assert await wrapped("k") is None
    with pytest.raises(NotFoundError):
        await wrapped("k")


def test_a_plain_reconcile_stays_plain_and_its_conflict_becomes_a_requeue() -> None:
    def reconcile(key: str) -> Result | None:
        if key == "ns/conflict":
            raise ConflictError(409, "Conflict", "modified")
        return None

    wrapped = requeue_on_conflict(reconcile)
    assert not inspect.iscoroutinefunction(wrapped)
    assert wrapped("ns/conflict") == Result(requeue=True)
    assert wrapped("ns/fine") is None
    ctl = Controller("plain-requeue", wrapped, skip_name_validation=True)
    assert not ctl._is_async  # runs in the thread pool, not awaited by mistake


def test_a_reconcile_of_the_wrong_shape_fails_when_the_controller_is_built() -> None:
    def no_key() -> None:
        return None

    with pytest.raises(TypeError, match="one argument"):
        requeue_on_conflict(no_key)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="one argument"):
        Controller("wrong-shape", lambda a, b: None, skip_name_validation=True)  # type: ignore[arg-type]


def test_a_plain_function_returning_a_coroutine_is_refused_clearly() -> None:
    async def real(key: str) -> None:
        return None

    wrapped = requeue_on_conflict(lambda key: real(key))
    with pytest.raises(TypeError, match="async def"):
        wrapped("ns/a")
