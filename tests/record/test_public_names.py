"""The public names of pycontroller.record and pycontroller.leaderelection exist and are sorted."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("module", ["pycontroller.record", "pycontroller.leaderelection"])
def test_every_exported_name_exists_and_the_list_is_sorted(module: str) -> None:
    mod = importlib.import_module(module)
    assert list(mod.__all__) == sorted(mod.__all__)
    for name in mod.__all__:
        assert getattr(mod, name) is not None
        assert mod.__doc__
