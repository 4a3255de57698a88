"""EnvTest: starting, failing and stopping the real etcd + kube-apiserver pair.

The failure paths run against tiny shell scripts standing in for the binaries, so they need no
assets and take milliseconds; the happy path uses the real binaries when KUBEBUILDER_ASSETS is set.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from pycontroller.client import RestClient
from pycontroller.errors import ConfigError
from pycontroller.testing import EnvTest
from pycontroller.testing.envtest import MissingAssetsError, StartError

ASSETS = os.environ.get("KUBEBUILDER_ASSETS")
needs_assets = pytest.mark.skipif(not ASSETS, reason="KUBEBUILDER_ASSETS is not set")


def _script(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); read its state
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


def test_missing_assets_variable_raises_a_config_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBEBUILDER_ASSETS", raising=False)
    with pytest.raises(MissingAssetsError, match="KUBEBUILDER_ASSETS is not set"):
        EnvTest().start_sync()


def test_a_folder_without_the_binaries_names_the_missing_ones(tmp_path: Path) -> None:
    _script(tmp_path, "etcd", "exit 0")
    with pytest.raises(ConfigError, match="kube-apiserver"):
        EnvTest(tmp_path).start_sync()


def test_a_process_exiting_during_start_raises_with_its_output_and_stops_the_other(tmp_path: Path) -> None:
    pidfile = tmp_path / "apiserver.pid"
    _script(tmp_path, "etcd", "echo 'etcd: cannot open data dir' >&2; exit 3")
    # written then renamed, so the file exists only once it holds the whole pid
    _script(tmp_path, "kube-apiserver", f"echo $$ > {pidfile}.tmp; mv {pidfile}.tmp {pidfile}; exec sleep 60")
    env = EnvTest(tmp_path, start_timeout=30, stop_timeout=2)
    with pytest.raises(StartError, match="cannot open data dir") as info:
        env.start_sync()
    assert "etcd exited with code 3" in str(info.value)
    assert not env.running
    if pidfile.exists():  # the apiserver stand-in was launched: it must be gone
        assert not _alive(int(pidfile.read_text()))


def test_a_server_never_ready_times_out_and_leaves_nothing_running(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    _script(tmp_path, "etcd", f"echo $$ >> {pids}; exec sleep 60")
    _script(tmp_path, "kube-apiserver", f"echo $$ >> {pids}; echo still starting; exec sleep 60")
    env = EnvTest(tmp_path, start_timeout=0.5, stop_timeout=2)
    with pytest.raises(StartError, match=r"not ready after 0\.5 s") as info:
        env.start_sync()
    assert "still starting" in str(info.value)
    started = [int(p) for p in pids.read_text().split()]
    assert len(started) == 2
    assert not any(_alive(pid) for pid in started)


async def test_an_async_start_failure_also_stops_everything(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    _script(tmp_path, "etcd", f"echo $$ >> {pids}; exec sleep 60")
    _script(tmp_path, "kube-apiserver", f"echo $$ >> {pids}; exit 1")
    with pytest.raises(StartError, match="kube-apiserver exited with code 1"):
        async with EnvTest(tmp_path, stop_timeout=2):
            pytest.fail("must not be entered")
    assert not any(_alive(int(pid)) for pid in pids.read_text().split())


def test_the_token_never_appears_in_errors_or_repr(tmp_path: Path) -> None:
    secret = "s3cr3t-token-value"
    _script(tmp_path, "etcd", "exec sleep 60")
    # a stand-in that leaks its token file into its log, as a misconfigured binary might
    _script(
        tmp_path,
        "kube-apiserver",
        'for a in "$@"; do case $a in --token-auth-file=*) cat "${a#*=}";; esac; done; exit 2',
    )
    env = EnvTest(tmp_path, token=secret, stop_timeout=2)
    with pytest.raises(StartError) as info:
        env.start_sync()
    assert secret not in str(info.value)
    assert "<token>" in str(info.value)
    assert secret not in repr(env)


@needs_assets
async def test_the_shared_server_serves_typed_and_raw_clients(
    envtest_server: EnvTest, tmp_path: Path
) -> None:
    from kubernetes_asyncio import config
    from kubernetes_asyncio.client import ApiClient, CoreV1Api

    assert envtest_server.url.startswith("https://127.0.0.1:")
    async with envtest_server.new_client() as api:  # verifies TLS against the self-signed CA
        version = await RestClient(api).request("GET", "/version")
    assert version["gitVersion"].startswith("v1.")

    path = envtest_server.write_kubeconfig(tmp_path / "kubeconfig")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = config.kube_config.Configuration()
    await config.load_kube_config(config_file=str(path), client_configuration=loaded)
    async with ApiClient(configuration=loaded) as api:
        namespaces = await CoreV1Api(api).list_namespace()
    assert "default" in {ns.metadata.name for ns in namespaces.items}


@needs_assets
async def test_an_async_context_manager_starts_and_stops_both_processes() -> None:
    async with EnvTest() as env:
        pids = [proc.pid for proc in env._procs.values()]
        tmp = env.tmpdir
        async with env.new_client(verify=False) as api:
            await RestClient(api).request("GET", "/version")
    assert not env.running
    assert not tmp.exists()
    assert not any(_alive(pid) for pid in pids)


# -- the pytest fixtures (run in an inner pytest session) --------------------------------------------

INNER_TESTS = """
import pytest

async def test_namespace_exists(rest_client, namespace):
    ns = await rest_client.request("GET", f"/api/v1/namespaces/{namespace}")
    assert ns["metadata"]["name"] == namespace

@pytest.mark.fake_only(reason="needs fault injection")
async def test_fake_only(api_server):
    pass

def test_kubeconfig(kubeconfig, api_server):
    assert api_server.url in kubeconfig.read_text()

async def test_fake_fixtures(fake_api_server, fake_clock):
    assert fake_api_server.url.startswith("http://127.0.0.1:")
    assert fake_clock.now() == 1000.0
"""


def _inner_pytest(tmp_path: Path, env: dict[str, str], *args: str) -> str:
    import subprocess

    (tmp_path / "test_inner.py").write_text(INNER_TESTS)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-rs",
            "-o",
            "asyncio_mode=auto",
            f"--rootdir={tmp_path}",
            str(tmp_path / "test_inner.py"),
            *args,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    return result.stdout.decode()


def test_without_assets_envtest_cases_skip_with_the_reason(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "KUBEBUILDER_ASSETS"}
    out = _inner_pytest(tmp_path, env)
    assert "pycontroller: KUBEBUILDER_ASSETS unset, envtest cases are skipped" in out
    assert (
        "KUBEBUILDER_ASSETS is not set: the envtest case needs the real etcd and kube-apiserver binaries"
        in out
    )
    assert "fake-only: needs fault injection" in out
    assert "4 passed, 3 skipped" in out, out


def test_the_session_server_starts_only_when_an_envtest_case_runs(tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    assets.mkdir()
    marker = tmp_path / "started"
    _script(assets, "etcd", f"touch {marker}; exit 1")
    _script(assets, "kube-apiserver", f"touch {marker}; exit 1")
    env = {**os.environ, "KUBEBUILDER_ASSETS": str(assets)}
    out = _inner_pytest(tmp_path, env, "-k", "fake_only or fake_fixtures")
    assert "2 passed, 1 skipped" in out, out
    assert not marker.exists()
    # an envtest case does start it, and a start failure is reported as an error, not a hang
    out = _inner_pytest(tmp_path, env, "-k", "namespace_exists")
    assert marker.exists()
    assert "1 passed, 5 deselected, 1 error" in out, out
    assert "StartError" in out


@needs_assets
async def test_compact_expires_older_versions_on_the_real_server(envtest_server: EnvTest) -> None:
    from pycontroller.client import GroupVersionResource
    from pycontroller.errors import GoneError

    namespaces = GroupVersionResource("", "v1", "namespaces")
    async with envtest_server.new_client() as api:
        client = RestClient(api)
        before = await client.list(namespaces)
        await client.create(namespaces, {"metadata": {"generateName": "compact-"}})
        revision = envtest_server.compact()
        assert revision > int(before["metadata"]["resourceVersion"])
        with pytest.raises(GoneError):
            await client.list(
                namespaces,
                resourceVersion=before["metadata"]["resourceVersion"],
                resourceVersionMatch="Exact",
            )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux-only")
def test_the_servers_die_with_a_test_process_that_is_killed(tmp_path: Path) -> None:
    import signal
    import subprocess
    import time

    pids = tmp_path / "pids"
    _script(tmp_path, "etcd", f"echo $$ >> {pids}; exec sleep 60")
    _script(tmp_path, "kube-apiserver", f"echo $$ >> {pids}; exec sleep 60")
    starter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from pycontroller.testing import EnvTest; EnvTest({str(tmp_path)!r}).start_sync()",
        ]
    )
    try:
        deadline = time.monotonic() + 30
        while not (pids.exists() and len(pids.read_text().split()) == 2):
            assert time.monotonic() < deadline, "the stand-ins never started"
            time.sleep(0.02)
        started = [int(p) for p in pids.read_text().split()]
        assert all(_alive(pid) for pid in started)
        starter.send_signal(signal.SIGKILL)  # no atexit, no finally: only the kernel can clean up
        starter.wait()
        while any(_alive(pid) for pid in started):
            assert time.monotonic() < deadline, "the stand-ins outlived their parent"
            time.sleep(0.02)
    finally:
        if starter.poll() is None:
            starter.kill()
            starter.wait()
