"""``python -m pycontroller run MODULE[:FUNCTION]``: see :mod:`pycontroller.cli`."""

from pycontroller.cli import entry_point

if __name__ == "__main__":
    entry_point()
