"""``python -m samples.copy_operator``: run the copy operator against the configured cluster."""

import sys
from pathlib import Path

from samples.operator_cli import operator_main


def _add(*args: object, **kwargs: object) -> object:
    from samples.copy_operator.operator import add_copy_operator

    return add_copy_operator(*args, **kwargs)  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.exit(
        operator_main(
            prog="python -m samples.copy_operator",
            env_prefix="COPY_OPERATOR_",
            component="copy-operator",
            description="Copy ConfigMaps or Secrets matching a CopyRule's selector into other namespaces.",
            add=_add,
            crd=Path(__file__).resolve().parent / "artifacts" / "crd.yaml",
        )
    )
