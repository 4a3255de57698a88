"""requeue_on_conflict: a 409 from a stale cache is retried quietly, other errors pass through."""

from __future__ import annotations

import pytest

from pycontroller import Result, requeue_on_conflict
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
