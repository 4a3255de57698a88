from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable

import pytest

_seq = itertools.count()


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    """A controller name unique in the test process."""
    return f"{request.node.name[:40]}-{next(_seq)}"


async def until(cond: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Yield to the loop until ``cond()`` holds; fail after ``timeout`` seconds of real time."""
    deadline = time.monotonic() + timeout
    spins = 0
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        spins += 1
        # Mostly pure yields; an occasional short sleep lets thread-pool results arrive.
        await asyncio.sleep(0 if spins % 50 else 0.001)
