"""The wheel built from the repository installs pycontroller alone, with its console script."""

from __future__ import annotations

import configparser
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("wheel", reason="building a wheel offline needs the 'wheel' package (test extra)")
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("build")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "HOME": str(build), "PIP_NO_INDEX": "1", "TMPDIR": str(build)},
    )
    assert proc.returncode == 0, proc.stderr
    (found,) = out.glob("pycontroller-*.whl")
    return found


def test_the_wheel_installs_only_the_pycontroller_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"pycontroller"}
    assert "pycontroller/py.typed" in names
    assert "pycontroller/cli.py" in names and "pycontroller/__main__.py" in names
    assert not any(name.startswith("samples/") for name in names)


def test_the_wheel_declares_the_console_script_and_the_pytest_plugin(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        (entry_points,) = [n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt")]
        text = zf.read(entry_points).decode()
    parser = configparser.ConfigParser()
    parser.read_string(text)
    assert parser["console_scripts"]["pycontroller"] == "pycontroller.cli:entry_point"
    assert parser["pytest11"]["pycontroller"] == "pycontroller.testing.pytest_plugin"
