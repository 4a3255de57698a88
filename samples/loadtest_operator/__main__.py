"""``python -m samples.loadtest_operator``: run the load-test operator against the configured cluster."""

import sys
from pathlib import Path

from samples.operator_cli import operator_main


def _add(*args: object, **kwargs: object) -> object:
    from samples.loadtest_operator.operator import add_loadtest_operator

    return add_loadtest_operator(*args, **kwargs)  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.exit(
        operator_main(
            prog="python -m samples.loadtest_operator",
            env_prefix="LOADTEST_OPERATOR_",
            component="loadtest-operator",
            description="Run LoadTests: Pods sending HTTP requests to a Service, with the outcome in status.state.",
            add=_add,
            crd=Path(__file__).resolve().parent / "artifacts" / "crd.yaml",
        )
    )
