"""The sample-controller's numbers: two workers, 30 s resync, its rate limiter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pycontroller.testing import FakeClock
from samples.sample_controller.app import add_sample_controller, new_manager
from samples.sample_controller.cli import parse_args
from samples.sample_controller.controller import sample_rate_limiter


def test_the_rate_limiter_backs_off_from_5_ms_to_1000_s_per_key() -> None:
    limiter = sample_rate_limiter(FakeClock())
    delays = [limiter.when("default/foo") for _ in range(20)]
    assert delays[:4] == pytest.approx([0.005, 0.01, 0.02, 0.04])
    assert delays[-1] == 1000.0  # capped
    limiter.forget("default/foo")
    assert limiter.when("default/foo") == pytest.approx(0.005)


def test_the_rate_limiter_allows_a_burst_of_300_then_50_per_second_overall() -> None:
    limiter = sample_rate_limiter(FakeClock())
    burst = [limiter.when(f"ns/foo-{i}") for i in range(300)]
    assert max(burst) == pytest.approx(0.005)  # only the per-key 5 ms
    after = [limiter.when(f"ns/bar-{i}") for i in range(3)]
    assert after == pytest.approx([0.02, 0.04, 0.06])  # one token every 1/50 s


async def test_defaults_are_two_workers_and_a_30_second_resync(fake_api_server: Any, tmp_path: Path) -> None:
    api_client = fake_api_server.new_client()
    try:
        mgr = new_manager(parse_args(["--embedded"], {"HOME": str(tmp_path)}), api_client)
        controller = add_sample_controller(mgr, api_client)
        assert controller.workers == 2
        assert mgr.resync_period == 30.0
    finally:
        await api_client.close()
