"""``python -m samples.sample_controller``: see :mod:`samples.sample_controller.cli` for the flags."""

import signal
import sys
from typing import Any

from samples.sample_controller.cli import parse_args


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _main() -> int:
    args = parse_args()  # flag errors exit 2 here, before the library is imported
    # SIGTERM during start-up stops the program like Ctrl-C; the Manager later installs its own
    # handlers for a graceful shutdown.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        from samples.sample_controller.app import run
    except KeyboardInterrupt:
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(_main())
