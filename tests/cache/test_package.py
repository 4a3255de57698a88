"""The pycontroller.cache facade and the public names of its modules."""

from __future__ import annotations

import importlib

import pytest

import pycontroller.cache as cache

MODULES = [
    "pycontroller.cache",
    "pycontroller.cache.keys",
    "pycontroller.cache.store",
    "pycontroller.cache.delta_fifo",
    "pycontroller.cache.listers",
    "pycontroller.cache.handlers",
    "pycontroller.cache.informer",
    "pycontroller.cache.factory",
    "pycontroller.cache.mutation",
    "pycontroller.cache.metrics",
    "pycontroller.cache.options",
    "pycontroller.cache.multi_namespace",
    "pycontroller.labels",
]


@pytest.mark.parametrize("module_name", MODULES)
def test_every_public_name_resolves_and_all_is_sorted(module_name: str) -> None:
    module = importlib.import_module(module_name)
    names = list(module.__all__)
    # ruff's RUF022 order: CONSTANTS, then Classes, then functions, each alphabetical.
    assert names == sorted(names, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n))
    assert len(names) == len(set(names))
    for name in names:
        assert getattr(module, name) is not None, name


def test_the_cache_package_lists_its_lazy_names_in_dir() -> None:
    assert set(cache.__all__) <= set(dir(cache))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        cache.Nope  # noqa: B018
