"""Installing CRDs from files, directories and dicts into either server, and the errors on bad input."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.testing import EnvTest
from pycontroller.testing.apiserver import FakeAPIServer
from pycontroller.testing.crd_install import CRDInstallError, CRDNotEstablishedError, load_crds

HERE = Path(__file__).parent


def crd(
    group: str, kind: str, *, plural: str | None = None, short: list[str] | None = None
) -> dict[str, Any]:
    plural = plural or kind.lower() + "s"
    names: dict[str, Any] = {"plural": plural, "kind": kind}
    if short:
        names["shortNames"] = short
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": names,
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }


def test_files_directories_multi_document_yaml_and_dicts_are_read_in_order(tmp_path: Path) -> None:
    folder = tmp_path / "bases"
    folder.mkdir()
    (folder / "b.yaml").write_text(
        yaml.safe_dump_all([crd("x.example.com", "Bee"), crd("x.example.com", "Cee")])
    )
    (folder / "a.json").write_text(__import__("json").dumps(crd("x.example.com", "Ay")))
    (folder / "notes.txt").write_text("not read: not a manifest extension")
    single = tmp_path / "d.yml"
    single.write_text("---\n" + yaml.safe_dump(crd("x.example.com", "Dee")) + "---\n")
    loaded = load_crds([folder, str(single), crd("x.example.com", "Eee")])
    assert [c["spec"]["names"]["kind"] for c in loaded] == ["Ay", "Bee", "Cee", "Dee", "Eee"]


def test_an_unparsable_file_is_an_error_naming_it_and_the_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: v1\nkind: [unclosed\n")
    with pytest.raises(CRDInstallError, match=r"broken\.yaml: not valid YAML \(line 3"):
        load_crds([broken])


def test_a_file_that_is_not_a_crd_is_an_error_naming_it(tmp_path: Path) -> None:
    cm = tmp_path / "configmap.yaml"
    cm.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    with pytest.raises(
        CRDInstallError, match=r"configmap\.yaml: not a CustomResourceDefinition \(kind 'ConfigMap'"
    ):
        load_crds([cm])
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just text\n")
    with pytest.raises(CRDInstallError, match=r"scalar\.yaml: not a CustomResourceDefinition \(a str"):
        load_crds([scalar])
    with pytest.raises(CRDInstallError, match=r"missing\.yaml: no such CRD file or directory"):
        load_crds([tmp_path / "missing.yaml"])


def test_a_bad_crd_file_fails_the_constructor_before_anything_starts(tmp_path: Path) -> None:
    broken = tmp_path / "bad.yaml"
    broken.write_text(":\n  - [")
    with pytest.raises(CRDInstallError, match=r"bad\.yaml"):
        FakeAPIServer(crds=[broken])
    with pytest.raises(CRDInstallError, match=r"bad\.yaml"):
        EnvTest(crds=[broken])


async def test_the_fake_serves_its_crds_before_it_is_handed_out(tmp_path: Path) -> None:
    path = tmp_path / "crds.yaml"
    path.write_text(yaml.safe_dump_all([crd("y.example.com", "Foo"), crd("y.example.com", "Bar")]))
    async with FakeAPIServer(crds=[path]) as server:
        client = RestClient(server.new_client(), owns_api_client=True)
        try:
            got = await client.get(
                GroupVersionResource("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
                "foos.y.example.com",
            )
            established = next(c for c in got["status"]["conditions"] if c["type"] == "Established")
            assert established["status"] == "True"
            assert (
                await client.list(GroupVersionResource("y.example.com", "v1", "bars"), namespace="default")
            )["items"] == []
        finally:
            await client.close()


def test_installing_a_crd_again_updates_it() -> None:
    server = FakeAPIServer(crds=[crd("z.example.com", "Foo")])
    changed = crd("z.example.com", "Foo", short=["fo"])
    [stored] = server.install_crds([changed])
    assert stored["spec"]["names"]["shortNames"] == ["fo"]
    assert stored["metadata"]["generation"] == 2


def test_a_crd_whose_names_conflict_is_never_established_and_named_in_the_error() -> None:
    with pytest.raises(CRDNotEstablishedError) as failure:
        FakeAPIServer(crds=[crd("w.example.com", "Foo"), crd("w.example.com", "Foo", plural="others")])
    assert "'others.w.example.com' was not Established" in str(failure.value)
    assert 'ListKindConflict: "FooList" is already in use' in str(failure.value)
    assert isinstance(failure.value, TimeoutError)


@pytest.mark.envtest
async def test_the_real_server_installs_crds_and_times_out_on_one_never_established(
    envtest_server: Any,
) -> None:
    group = "inst.example.com"
    await asyncio.to_thread(envtest_server.install_crds, [crd(group, "Foo", short=["ifo"])])
    conflicting = crd(group, "Thing", short=["ifo"])
    with pytest.raises(CRDNotEstablishedError) as failure:
        await asyncio.to_thread(envtest_server.install_crds, [conflicting], timeout=2.0)
    message = str(failure.value)
    assert "'things.inst.example.com' was not Established and served within 2 s" in message
    assert 'ShortNamesConflict: "ifo" is already in use' in message


@pytest.mark.envtest
def test_envtest_installs_its_crds_before_start_returns(tmp_path: Path) -> None:
    path = tmp_path / "crds"
    path.mkdir()
    (path / "foo.yaml").write_text(yaml.safe_dump(crd("start.example.com", "Foo")))
    if not os.environ.get("KUBEBUILDER_ASSETS"):
        pytest.skip("KUBEBUILDER_ASSETS is not set")
    env = EnvTest(crds=[path])
    env.start_sync()
    try:
        import json
        import ssl
        import urllib.request

        ctx = ssl.create_default_context(cafile=str(env.ca_file))
        ctx.check_hostname = False
        req = urllib.request.Request(
            env.url + "/apis/start.example.com/v1", headers={"Authorization": f"Bearer {env.token}"}
        )
        with urllib.request.urlopen(req, context=ctx) as resp:
            assert "foos" in {r["name"] for r in json.loads(resp.read())["resources"]}
    finally:
        env.stop_sync()
