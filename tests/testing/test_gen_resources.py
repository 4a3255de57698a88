"""gen_resources: the shipped resource table is what the real server says."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from pycontroller.testing.apiserver import FakeAPIServer, gen_resources
from pycontroller.testing.apiserver.resources import DATA_FILE, data
from pycontroller.testing.apiserver.samples import sample


def test_the_data_file_ships_in_the_package() -> None:
    assert DATA_FILE.name == "resources.json"
    assert DATA_FILE.parent.name == "apiserver"
    assert data()["serverVersion"].startswith("v1.20.")
    assert len(data()["resources"]) == 56


def test_the_storage_version_hash_is_sha256_of_group_version_kind() -> None:
    assert gen_resources.storage_version_hash("apps", "v1", "Deployment") == "8aSe+NMegvE="
    assert gen_resources.storage_version_hash("", "v1", "ConfigMap") == "qFsyl6wFWjQ="


def test_the_served_resources_in_the_docs_are_generated_from_the_data_file() -> None:
    docs = Path(__file__).parents[2] / "docs" / "testing.md"
    text = docs.read_text()
    assert gen_resources.update_docs(text, data()) == text, (
        "docs/testing.md is out of date: run python -m pycontroller.testing.apiserver.gen_resources --docs docs/testing.md"
    )
    for record in data()["resources"]:
        assert f"| {record['plural']} | {record['group'] or 'core'}: " in text


@pytest.mark.envtest
async def test_generating_again_from_the_real_server_gives_the_shipped_file(envtest_server: Any) -> None:
    fresh = await asyncio.to_thread(gen_resources.generate, envtest_server)
    shipped = data()
    known = {g["name"] for g in shipped["groups"]}  # other tests' CRDs may be served meanwhile
    fresh["groups"] = [g for g in fresh["groups"] if g["name"] in known]
    fresh["resources"] = [r for r in fresh["resources"] if r["group"] in known]
    assert fresh == shipped


_RECORDS = [r for r in data()["resources"] if "sampleCreated" in r]
# where the fake knowingly differs from what the real server answered to the sample's create
_KNOWN = {
    ("apiextensions.k8s.io", "customresourcedefinitions"): "the fake establishes a CRD at once",
}


@pytest.mark.parametrize("record", _RECORDS, ids=lambda r: f"{r['plural']}.{r['group'] or 'core'}")
def test_the_fake_creates_each_sample_as_the_real_server_did(record: dict[str, Any]) -> None:
    key = (record["group"], record["plural"])
    if key in _KNOWN:
        pytest.skip(_KNOWN[key])
    server = FakeAPIServer()
    server.add_object(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": gen_resources.NAMESPACE}}
    )
    body = sample(*key, namespace=gen_resources.NAMESPACE if record["discovery"]["namespaced"] else None)
    created = gen_resources.normalized(server.add_object(body))
    assert created == record["sampleCreated"]
