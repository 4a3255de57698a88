"""Rate limiters: client-go's exact numbers."""

from __future__ import annotations

import math

import pytest

from pycontroller.testing import FakeClock
from pycontroller.workqueue import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    MaxOfRateLimiter,
    RateLimiter,
    WithMaxWaitRateLimiter,
    default_controller_rate_limiter,
)


def test_exponential_starts_at_the_base_delay_and_doubles_per_failure() -> None:
    r = ItemExponentialFailureRateLimiter(0.001, 1.0)
    assert [r.when("a") for _ in range(5)] == [0.001, 0.002, 0.004, 0.008, 0.016]
    assert r.num_requeues("a") == 5


def test_exponential_is_capped_at_the_max_delay() -> None:
    r = ItemExponentialFailureRateLimiter(0.001, 1.0)
    delays = [r.when("a") for _ in range(12)]
    assert delays[9] == 0.512
    assert delays[10:] == [1.0, 1.0]
    for _ in range(5000):  # no overflow however many failures
        assert r.when("a") == 1.0


def test_exponential_counts_each_item_separately_and_forget_resets() -> None:
    r = ItemExponentialFailureRateLimiter(0.005, 1000)
    r.when("a")
    r.when("a")
    assert r.when("b") == 0.005
    r.forget("a")
    assert r.num_requeues("a") == 0
    assert r.when("a") == 0.005
    assert r.num_requeues("b") == 1


def test_exponential_with_zero_base_never_waits() -> None:
    r = ItemExponentialFailureRateLimiter(0, 10)
    assert {r.when("a") for _ in range(2000)} == {0.0}


def test_fast_slow_is_fast_for_max_fast_attempts_then_slow() -> None:
    r = ItemFastSlowRateLimiter(0.005, 10.0, 3)
    assert [r.when("a") for _ in range(5)] == [0.005, 0.005, 0.005, 10.0, 10.0]
    assert r.num_requeues("a") == 5
    r.forget("a")
    assert r.when("a") == 0.005


def test_bucket_gives_burst_at_once_then_one_per_interval() -> None:
    clock = FakeClock()
    r = BucketRateLimiter(10, 3, clock=clock)
    assert [r.when(i) for i in range(3)] == [0.0, 0.0, 0.0]
    assert r.when(3) == pytest.approx(0.1)
    assert r.when(4) == pytest.approx(0.2)
    clock.advance(0.2)  # the two reserved tokens have now been paid for
    assert r.when(5) == pytest.approx(0.1)
    clock.advance(10)  # refills up to burst, no more
    assert [r.when(i) for i in range(3)] == [0.0, 0.0, 0.0]
    assert r.when(9) == pytest.approx(0.1)
    assert r.num_requeues(9) == 0
    r.forget(9)


def test_bucket_with_infinite_qps_never_waits() -> None:
    r = BucketRateLimiter(math.inf, 1, clock=FakeClock())
    assert {r.when(i) for i in range(100)} == {0.0}


def test_max_of_returns_the_longest_delay() -> None:
    clock = FakeClock()
    r = MaxOfRateLimiter(ItemExponentialFailureRateLimiter(0.001, 1), BucketRateLimiter(1, 1, clock=clock))
    assert r.when("a") == 0.001
    assert r.when("a") == pytest.approx(1.0)
    assert r.num_requeues("a") == 2
    r.forget("a")
    assert r.num_requeues("a") == 0


def test_with_max_wait_caps_the_delay() -> None:
    r = WithMaxWaitRateLimiter(ItemExponentialFailureRateLimiter(1, 1000), 5)
    assert [r.when("a") for _ in range(5)] == [1, 2, 4, 5, 5]
    assert r.num_requeues("a") == 5
    r.forget("a")
    assert r.when("a") == 1


def test_default_controller_rate_limiter_has_client_gos_numbers() -> None:
    clock = FakeClock()
    r = default_controller_rate_limiter(clock=clock)
    assert isinstance(r, RateLimiter)
    assert r.when("a") == 0.005
    assert r.when("a") == 0.01
    for i in range(98):  # burst 100 in all, the two above included
        assert r.when(i) == 0.005
    assert r.when("b") == pytest.approx(0.1)  # 10 qps once the burst is spent
    r2 = default_controller_rate_limiter(clock=clock)
    for _ in range(17):
        r2.when("x")
    assert r2.when("x") == 655.36
    assert r2.when("x") == 1000.0


@pytest.mark.parametrize(
    "make",
    [
        lambda: ItemExponentialFailureRateLimiter(-1, 1),
        lambda: ItemExponentialFailureRateLimiter(math.nan, 1),
        lambda: ItemExponentialFailureRateLimiter(0.1, math.inf),
        lambda: ItemFastSlowRateLimiter(0.1, -1, 3),
        lambda: ItemFastSlowRateLimiter(0.1, 1, -3),
        lambda: BucketRateLimiter(0, 10),
        lambda: BucketRateLimiter(-5, 10),
        lambda: BucketRateLimiter(math.nan, 10),
        lambda: BucketRateLimiter(10, 0),
        lambda: WithMaxWaitRateLimiter(ItemExponentialFailureRateLimiter(1, 2), math.nan),
        lambda: MaxOfRateLimiter(),
    ],
)
def test_bad_limiter_arguments_raise_value_error(make: object) -> None:
    with pytest.raises(ValueError):
        make()  # type: ignore[operator]


def test_wrongly_typed_limiter_arguments_raise_type_error() -> None:
    with pytest.raises(TypeError):
        ItemExponentialFailureRateLimiter("1s", 10)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        BucketRateLimiter(10, 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        MaxOfRateLimiter(object())  # type: ignore[arg-type]
