"""``python -m samples.loadtest_operator [flags]``: ``pycontroller run samples.loadtest_operator.operator:setup [flags]``.

The flags and their environment variables are ``pycontroller run``'s (``--help``); add
``--crd samples/loadtest_operator/artifacts/crd.yaml`` to install the CRD first, ``--embedded`` to run
against an in-memory API server.
"""

import sys

from pycontroller.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "samples.loadtest_operator.operator:setup", *sys.argv[1:]]))
