"""Test support: an in-memory Kubernetes API server, an envtest launcher, a fake clock, pytest fixtures.

The library never imports this package; tests, samples and users' test suites do.
"""

from pycontroller.testing.fake_clock import FakeClock, FakeTimer

__all__ = ["FakeClock", "FakeTimer"]
