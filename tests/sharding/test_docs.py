"""Every Python block of docs/sharding.md runs; the Manager it builds shards as documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from pycontroller.client import RestClient

DOC = Path(__file__).resolve().parents[2] / "docs" / "sharding.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


def test_the_doc_has_code_to_run() -> None:
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
async def test_each_python_block_runs(index: int, fake_api_server: Any) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(BLOCKS[index], f"{DOC}:block{index}", "exec"), namespace)
    build = namespace.get("build_manager")
    if build is None:
        return
    client = RestClient(fake_api_server.new_client(), owns_api_client=True)
    try:
        mgr = build(client, "replica-7")
        foos = mgr.informer_for("samplecontroller.k8s.io", "v1alpha1", "foos")
        deployments = mgr.informer_for("apps", "v1", "deployments")
        selector = "shard.sharding.pycontroller.dev/foo-controller=replica-7"
        assert foos.label_selector == selector and deployments.label_selector == selector
        assert mgr.sharding.shard.name == "replica-7"
    finally:
        await client.close()
