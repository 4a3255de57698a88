"""The public facade: what users import must exist, be sorted, and be typed."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import pycontroller

PUBLIC_MODULES = [
    "pycontroller",
    "pycontroller.errors",
    "pycontroller.clock",
    "pycontroller.client",
    "pycontroller.workqueue",
    "pycontroller.restmapper",
    "pycontroller.conditions",
    "pycontroller.retry",
    "pycontroller.mergepatch",
    "pycontroller.controllerutil",
    "pycontroller.handler",
    "pycontroller.sync_client",
    "pycontroller.webhook",
]
ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_name_in_all_is_importable_and_all_is_sorted(module_name: str) -> None:
    module = importlib.import_module(module_name)
    names = module.__all__
    assert names == sorted(names)
    assert len(names) == len(set(names))
    for name in names:
        assert getattr(module, name) is not None


def test_the_package_ships_a_py_typed_marker() -> None:
    assert (Path(pycontroller.__file__).parent / "py.typed").is_file()


def test_the_library_never_imports_the_testing_package() -> None:
    offenders = []
    for path in (ROOT / "pycontroller").rglob("*.py"):
        if "testing" in path.relative_to(ROOT / "pycontroller").parts:
            continue
        text = path.read_text()
        if "pycontroller.testing" in text.replace('"pycontroller.testing', "").replace(
            "`pycontroller.testing", ""
        ):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_the_ci_script_runs_the_readme_test_command_verbatim() -> None:
    readme = (ROOT / "README.md").read_text().splitlines()
    commands = [line for line in readme[:10] if line.startswith("python3.11 -m venv")]
    assert len(commands) == 2, "the README opens with exactly two commands"
    test_command = commands[1]
    assert "pytest" in test_command
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()
