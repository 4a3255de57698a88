"""The package's public names."""

from __future__ import annotations

import pycontroller.workqueue as wq


def test_all_is_sorted_and_every_name_exists() -> None:
    assert wq.__all__ == sorted(wq.__all__)
    for name in wq.__all__:
        assert hasattr(wq, name), name


def test_the_names_other_code_relies_on_are_exported() -> None:
    required = {
        "Queue",
        "DelayingQueue",
        "RateLimitingQueue",
        "RateLimiter",
        "ItemExponentialFailureRateLimiter",
        "ItemFastSlowRateLimiter",
        "BucketRateLimiter",
        "MaxOfRateLimiter",
        "WithMaxWaitRateLimiter",
        "default_controller_rate_limiter",
        "MetricsProvider",
    }
    assert required <= set(wq.__all__)
