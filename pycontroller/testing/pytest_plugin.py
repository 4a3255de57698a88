"""pytest plugin (entry point ``pycontroller``): API-server fixtures for testing operators.

Installed with pycontroller, so the fixtures are available in any test suite without imports:

``api_server``
    Parametrized over ``fake`` (a fresh in-memory :class:`~pycontroller.testing.FakeAPIServer` per
    test, in the test's event loop) and ``envtest`` (the real kube-apiserver + etcd of
    :class:`~pycontroller.testing.EnvTest`, ONE per test session, started lazily by the first test
    that needs it). The envtest case is skipped, with the reason, when ``KUBEBUILDER_ASSETS`` is
    unset; the envtest case carries the ``envtest`` mark (``-m "not envtest"`` deselects it).
    Because the real server is shared, isolate tests with the ``namespace`` fixture and unique names
    for cluster-scoped objects. A test marked ``@pytest.mark.fake_only(reason="...")`` skips its
    envtest case with that reason. When ``KUBEBUILDER_ASSETS`` is set but unusable, the envtest
    cases ERROR with the launcher's message (a configured tier must not pass by skipping).
``rest_client``
    A :class:`pycontroller.client.RestClient` over ``api_server`` (closed after the test).
``api_client``
    A kubernetes_asyncio ``ApiClient`` over ``api_server`` (closed after the test).
``namespace``
    The name of a fresh namespace created for the test (deleted after it; on envtest, with no
    namespace controller, it stays ``Terminating``, which is harmless).
``kubeconfig``
    The path of a kubeconfig file for ``api_server`` (in the test's ``tmp_path``), for kubectl or an
    operator run as a subprocess.
``fake_api_server``
    A fresh FakeAPIServer only, for fault-injection tests.
``envtest_server``
    The session's EnvTest (skips when the assets are missing).
``fake_clock``
    A :class:`pycontroller.testing.FakeClock`.
``crds``
    The CRD sources installed into ``api_server`` and ``fake_api_server`` before the test gets
    them: the arguments of the test's ``@pytest.mark.crds("config/crd/bases", {...})`` marks
    (files, directories, multi-document YAML, dicts; relative paths are taken from the test
    file's folder, then from the working directory), or ``[]``. Override the fixture in a
    ``conftest.py`` to give every test the same CRDs. On the shared envtest server they are
    created or updated by each test that asks, and stay installed.
``manager``
    A :class:`pycontroller.Manager` on ``api_server``, not started (``async with running(manager):``
    runs it), its cache limited to the ``namespace`` fixture's namespace, no metrics or probe
    server, no signal handlers. Its ApiClient is closed after the test.
``client``
    ``manager.client``: reads from the Manager's cache (while it runs), writes to ``api_server``.

Markers: ``envtest`` (set on every envtest case), ``fake_only(reason=...)`` and ``crds(*sources)``. In pytest-asyncio's
strict mode mark async tests with ``@pytest.mark.asyncio`` as usual; the fixtures work in both modes.

Event loops: the async fixtures are function-scoped and run in the test's own loop (pytest-asyncio
``loop_scope="function"``), so clients never cross loops. The shared EnvTest is managed by a
*synchronous* session fixture (it owns two subprocesses, not loop objects), which is why it can be
shared by tests running in different loops; each test makes its own client.
"""

from __future__ import annotations

import importlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from pycontroller.testing.envtest import ASSETS_ENV, EnvTest

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - without pytest-asyncio only the sync fixtures exist
    pytest_asyncio = None  # type: ignore[assignment]

__all__ = [
    "api_client",
    "api_server",
    "client",
    "crds",
    "envtest_server",
    "fake_api_server",
    "fake_clock",
    "kubeconfig",
    "manager",
    "namespace",
    "rest_client",
]

_NO_ASSETS = f"{ASSETS_ENV} is not set: the envtest case needs the real etcd and kube-apiserver binaries"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "envtest: needs the real kube-apiserver and etcd (KUBEBUILDER_ASSETS)")
    config.addinivalue_line(
        "markers", "fake_only(reason): semantics only the in-memory API server offers; envtest case skipped"
    )
    config.addinivalue_line(
        "markers", "crds(*sources): CRD files, directories or dicts installed into api_server before the test"
    )


def pytest_report_header(config: pytest.Config) -> str:
    assets = os.environ.get(ASSETS_ENV)
    if assets:
        return f"pycontroller: envtest assets at {assets}"
    return f"pycontroller: {ASSETS_ENV} unset, envtest cases are skipped"


def _fake_server_class() -> Any:
    try:
        module = importlib.import_module("pycontroller.testing.apiserver")
        return module.FakeAPIServer
    except (ImportError, AttributeError) as exc:
        pytest.skip(f"the in-memory API server is not available: {exc}")


@pytest.fixture(scope="session")
def envtest_server() -> Iterator[EnvTest]:
    """The session's shared real kube-apiserver; started on first use, stopped at session end."""
    if not os.environ.get(ASSETS_ENV):
        pytest.skip(_NO_ASSETS)
    server = EnvTest()
    server.start_sync()
    try:
        yield server
    finally:
        server.stop_sync()


@pytest.fixture
def crds(request: pytest.FixtureRequest) -> list[Any]:
    """CRD sources from the test's ``crds`` marks (override to install CRDs for every test)."""
    sources: list[Any] = []
    base = Path(str(request.node.path)).parent
    for mark in reversed(list(request.node.iter_markers("crds"))):  # module marks first
        for source in mark.args:
            if isinstance(source, (str, os.PathLike)) and not Path(source).is_absolute():
                local = base / source
                source = local if local.exists() else Path(source)
            sources.append(source)
    return sources


@pytest.fixture
def fake_clock() -> Any:
    """A fresh :class:`pycontroller.testing.FakeClock`."""
    from pycontroller.testing.fake_clock import FakeClock

    return FakeClock()


if pytest_asyncio is not None:

    @pytest_asyncio.fixture(loop_scope="function")
    async def fake_api_server(crds: list[Any]) -> AsyncIterator[Any]:
        """A fresh in-memory API server (with ``crds``), started in the test's loop, stopped after."""
        server = _fake_server_class()(crds=crds)
        await server.start()
        try:
            yield server
        finally:
            await server.stop()

    @pytest_asyncio.fixture(
        loop_scope="function",
        params=["fake", pytest.param("envtest", marks=pytest.mark.envtest)],
    )
    async def api_server(request: pytest.FixtureRequest, crds: list[Any]) -> AsyncIterator[Any]:
        """An API server (with ``crds`` installed): the in-memory fake (per test) or the session's envtest."""
        if request.param == "envtest":
            marker = request.node.get_closest_marker("fake_only")
            if marker is not None:
                reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")
                pytest.skip(f"fake-only: {reason}" if reason else "fake-only test")
            envtest = request.getfixturevalue("envtest_server")
            if crds:
                import asyncio

                await asyncio.to_thread(envtest.install_crds, crds)
            yield envtest
            return
        server = _fake_server_class()(crds=crds)
        await server.start()
        try:
            yield server
        finally:
            await server.stop()

    @pytest.fixture
    def kubeconfig(api_server: Any, tmp_path: Path) -> Path:
        """A kubeconfig file for ``api_server`` in the test's tmp_path (it may hold a token)."""
        return Path(api_server.write_kubeconfig(tmp_path / "kubeconfig"))

    @pytest_asyncio.fixture(loop_scope="function")
    async def api_client(api_server: Any) -> AsyncIterator[Any]:
        """A kubernetes_asyncio ApiClient for ``api_server``, closed after the test."""
        client = api_server.new_client()
        try:
            yield client
        finally:
            await client.close()

    @pytest_asyncio.fixture(loop_scope="function")
    async def rest_client(api_server: Any) -> AsyncIterator[Any]:
        """A :class:`pycontroller.client.RestClient` for ``api_server``, closed after the test."""
        from pycontroller.client import RestClient

        client = RestClient(api_server.new_client(), owns_api_client=True)
        try:
            yield client
        finally:
            await client.close()

    @pytest_asyncio.fixture(loop_scope="function")
    async def namespace(rest_client: Any) -> AsyncIterator[str]:
        """The name of a namespace created for this test (unique across the session)."""
        name = f"test-{uuid.uuid4().hex[:12]}"
        await rest_client.request(
            "POST",
            "/api/v1/namespaces",
            body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
        )
        try:
            yield name
        finally:
            from pycontroller.errors import ApiError

            try:
                await rest_client.request("DELETE", f"/api/v1/namespaces/{name}")
            except ApiError:
                pass  # already gone, or the server is down: nothing to clean

    @pytest_asyncio.fixture(loop_scope="function")
    async def manager(api_server: Any, namespace: str) -> AsyncIterator[Any]:
        """A Manager on ``api_server`` caching ``namespace`` only; run it with ``running(manager)``."""
        from pycontroller.manager import Manager

        api_client = api_server.new_client()
        try:
            yield Manager(
                api_client=api_client,
                namespace=namespace,
                metrics_bind_address="0",
                health_probe_bind_address="0",
                handle_signals=False,
            )
        finally:
            await api_client.close()

    @pytest.fixture
    def client(manager: Any) -> Any:
        """The ``manager`` fixture's cache-backed client (reads need the Manager running)."""
        return manager.client
