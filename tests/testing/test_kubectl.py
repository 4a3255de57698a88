"""kubectl 1.20 works unchanged against the API servers: discovery, get, create, apply, delete, watch.

kubectl comes from Debian's kubernetes-client package, fetched once into the repository's .tools/
folder (see pycontroller.testing.kubectl); the machine's own kubectl is never used. Each test runs on
both servers, so every expectation here is also checked against the real kube-apiserver.

What kubectl 1.20 needs beyond the REST API: ``create``/``apply`` validate manifests with the OpenAPI
document, fetched as protobuf from ``/openapi/v2`` (Accept
``application/com.github.proto-openapi.spec.v2@v1.0+protobuf``); a 404 there fails the command. A
server may answer ``200`` with an empty body (an empty document: kinds without a schema are not
validated) and ``Content-Type: application/octet-stream``, as kube-apiserver labels it (kubectl cannot
parse the ``@`` of the requested media type if it is echoed back). Discovery is cached per test in
``--cache-dir`` under the test's tmp_path.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.errors import NotFoundError
from pycontroller.testing.kubectl import KubectlUnavailableError, ensure_kubectl

REPO = Path(__file__).resolve().parents[2]
DEADLINE = 30.0
CONFIGMAPS = GroupVersionResource("", "v1", "configmaps")


@pytest.fixture(scope="session")
def kubectl_binary() -> Path:
    try:
        return ensure_kubectl(REPO / ".tools")
    except KubectlUnavailableError as exc:
        pytest.skip(f"kubectl 1.20 is not available: {exc}")


def _requests(stderr: bytes) -> str:
    """The requests kubectl made and its error, from its -v=6 log (the goroutine dump left out)."""
    lines = stderr.decode("utf-8", "replace").splitlines()
    keep = [line for line in lines if "round_trippers" in line or line.startswith(("F", "E", "error"))]
    return "\n".join(keep[-30:])


class Kubectl:
    """Runs kubectl as a subprocess (asynchronously, so an in-process server keeps serving)."""

    def __init__(self, binary: Path, kubeconfig: Path, home: Path, namespace: str) -> None:
        self.binary = binary
        self.namespace = namespace
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "KUBECONFIG": str(kubeconfig),
        }
        self.cache = home / "cache"

    def _args(self, args: tuple[str, ...]) -> list[str]:
        # -v=6 logs each request's method, URL and status (no headers, so no token): shown on failure
        return [str(self.binary), "-v=6", f"--cache-dir={self.cache}", "-n", self.namespace, *args]

    async def __call__(self, *args: str, stdin: bytes | None = None, ok: bool = True) -> str:
        proc = await asyncio.create_subprocess_exec(
            *self._args(args),
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
        )
        try:
            async with asyncio.timeout(DEADLINE):
                out, err = await proc.communicate(stdin)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise AssertionError(f"kubectl {' '.join(args)} did not finish in {DEADLINE:g} s") from None
        if ok:
            assert proc.returncode == 0, f"kubectl {' '.join(args)} failed:\n{_requests(err)}"
        else:
            assert proc.returncode != 0, f"kubectl {' '.join(args)} should have failed"
            return err.decode()
        return out.decode()

    async def start(self, *args: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            *self._args(args),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
        )


@pytest.fixture
def kubectl(kubectl_binary: Path, api_server: Any, namespace: str, tmp_path: Path) -> Kubectl:
    kubeconfig = api_server.write_kubeconfig(tmp_path / "kubeconfig")
    return Kubectl(kubectl_binary, Path(kubeconfig), tmp_path, namespace)


def configmap_yaml(name: str, **data: str) -> bytes:
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata:", f"  name: {name}", "data:"]
    lines += [f'  {k}: "{v}"' for k, v in data.items()] or ["  {}"]
    if not data:
        lines[-2:] = ["data: {}"]
    return ("\n".join(lines) + "\n").encode()


async def test_discovery_lists_versions_and_resources(kubectl: Kubectl) -> None:
    versions = (await kubectl("api-versions")).split()
    assert {"v1", "apps/v1", "coordination.k8s.io/v1", "apiextensions.k8s.io/v1"} <= set(versions)
    resources = (await kubectl("api-resources", "-o", "name")).split()
    assert {"configmaps", "namespaces", "deployments.apps", "leases.coordination.k8s.io"} <= set(resources)
    version = orjson.loads(await kubectl("version", "-o", "json"))
    assert version["serverVersion"]["gitVersion"].startswith("v1.")


async def test_create_get_and_delete_a_configmap(kubectl: Kubectl, tmp_path: Path) -> None:
    manifest = tmp_path / "cm.yaml"
    manifest.write_bytes(configmap_yaml("settings", color="blue"))
    assert (await kubectl("create", "-f", str(manifest))).strip() == "configmap/settings created"
    table = await kubectl("get", "configmaps")
    assert table.split("\n")[0].split()[0] == "NAME"
    assert "settings" in table
    obj = orjson.loads(await kubectl("get", "configmap", "settings", "-o", "json"))
    assert obj["kind"] == "ConfigMap"
    assert obj["data"] == {"color": "blue"}
    assert (await kubectl("get", "cm", "settings", "-o", "jsonpath={.data.color}")) == "blue"
    error = await kubectl("create", "-f", str(manifest), ok=False)
    assert 'configmaps "settings" already exists' in error
    assert (await kubectl("delete", "configmap", "settings")).strip() == 'configmap "settings" deleted'
    error = await kubectl("get", "configmap", "settings", ok=False)
    assert 'configmaps "settings" not found' in error


async def test_client_side_apply_creates_then_configures_then_leaves_unchanged(
    kubectl: Kubectl, rest_client: RestClient, namespace: str, tmp_path: Path
) -> None:
    manifest = tmp_path / "cm.yaml"
    manifest.write_bytes(configmap_yaml("applied", a="1", b="2"))
    assert (await kubectl("apply", "-f", str(manifest))).strip() == "configmap/applied created"
    created = await rest_client.get(CONFIGMAPS, "applied", namespace)
    last = created["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    assert orjson.loads(last)["data"] == {"a": "1", "b": "2"}

    manifest.write_bytes(configmap_yaml("applied", a="1", c="3"))  # b removed, c added
    assert (await kubectl("apply", "-f", str(manifest))).strip() == "configmap/applied configured"
    updated = await rest_client.get(CONFIGMAPS, "applied", namespace)
    assert updated["data"] == {"a": "1", "c": "3"}

    assert (await kubectl("apply", "-f", str(manifest))).strip() == "configmap/applied unchanged"
    assert (await kubectl("delete", "-f", str(manifest))).strip() == 'configmap "applied" deleted'
    with pytest.raises(NotFoundError):
        await rest_client.get(CONFIGMAPS, "applied", namespace)


async def test_get_watch_prints_existing_then_new_objects(
    kubectl: Kubectl, rest_client: RestClient, namespace: str
) -> None:
    await rest_client.create(CONFIGMAPS, {"metadata": {"name": "first", "namespace": namespace}})
    proc = await kubectl.start("get", "configmaps", "--watch", "-o", "name")
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(DEADLINE):
            assert (await proc.stdout.readline()).decode().strip() == "configmap/first"
            await rest_client.create(CONFIGMAPS, {"metadata": {"name": "second", "namespace": namespace}})
            assert (await proc.stdout.readline()).decode().strip() == "configmap/second"
    finally:
        proc.kill()
        await proc.wait()


CRD_YAML = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.{group}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: widgets, singular: widget, kind: Widget, shortNames: [wdg]}}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {{status: {{}}}}
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"""

WIDGET_YAML = """\
apiVersion: {group}/v1
kind: Widget
metadata:
  name: w1
spec:
  size: {size}
"""


async def test_a_crd_and_its_objects_through_kubectl(kubectl: Kubectl, tmp_path: Path) -> None:
    group = f"k{os.urandom(4).hex()}.example.com"
    crd = tmp_path / "crd.yaml"
    crd.write_text(CRD_YAML.format(group=group))
    created = await kubectl("apply", "-f", str(crd))
    assert created.strip() == f"customresourcedefinition.apiextensions.k8s.io/widgets.{group} created"
    await kubectl("wait", "--for=condition=established", f"crd/widgets.{group}", "--timeout=20s")
    try:
        first = tmp_path / "w0.yaml"
        first.write_text(WIDGET_YAML.format(group=group, size=0).replace("name: w1", "name: w0"))
        assert (await kubectl("create", "-f", str(first))).strip() == f"widget.{group}/w0 created"
        watch = await kubectl.start("get", "widgets", "--watch", "-o", "name")
        assert watch.stdout is not None
        try:
            async with asyncio.timeout(DEADLINE):
                assert (await watch.stdout.readline()).decode().strip() == f"widget.{group}/w0"
                widget = tmp_path / "widget.yaml"
                widget.write_text(WIDGET_YAML.format(group=group, size=1))
                assert (await kubectl("apply", "-f", str(widget))).strip() == f"widget.{group}/w1 created"
                assert (await watch.stdout.readline()).decode().strip() == f"widget.{group}/w1"
        finally:
            watch.kill()
            await watch.wait()
        assert "w1" in await kubectl("get", "wdg")  # by short name, through discovery
        widget.write_text(WIDGET_YAML.format(group=group, size=2))
        assert (await kubectl("apply", "-f", str(widget))).strip() == f"widget.{group}/w1 configured"
        assert (await kubectl("get", f"widgets.{group}", "w1", "-o", "jsonpath={.spec.size}")) == "2"
        obj = orjson.loads(await kubectl("get", "widget", "w1", "-o", "json"))
        assert obj["metadata"]["generation"] == 2
        assert (await kubectl("delete", "-f", str(widget))).strip() == f'widget.{group} "w1" deleted'
        assert (await kubectl("delete", "widget", "w0")).strip() == f'widget.{group} "w0" deleted'
        assert (await kubectl("get", "widgets", "-o", "name")).strip() == ""
    finally:
        await kubectl("delete", "-f", str(crd), "--wait=false")


# -- fetching kubectl -------------------------------------------------------------------------------


def test_a_cached_kubectl_is_returned_without_fetching(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYCONTROLLER_KUBECTL", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no apt-get: a fetch would fail
    binary = tmp_path / "kubernetes-client" / "usr" / "bin" / "kubectl"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    assert ensure_kubectl(tmp_path) == binary


def test_without_apt_get_the_error_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYCONTROLLER_KUBECTL", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(KubectlUnavailableError, match="apt-get is not available"):
        ensure_kubectl(tmp_path / "cache")


def test_an_override_that_is_not_executable_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "kubectl"
    target.write_text("not a program")
    monkeypatch.setenv("PYCONTROLLER_KUBECTL", str(target))
    with pytest.raises(KubectlUnavailableError, match="not an executable file"):
        ensure_kubectl(tmp_path / "cache")
