"""``python -m samples.sample_controller``: see :mod:`samples.sample_controller.cli` for the flags."""

import sys

from samples.sample_controller.cli import parse_args


def _main() -> int:
    args = parse_args()  # flag errors exit 2 here, before the library is imported
    from samples.sample_controller.app import run

    return run(args)


if __name__ == "__main__":
    sys.exit(_main())
