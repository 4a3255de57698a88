"""Where the API server is and how to authenticate: kubeconfig, in-cluster, or a given client.

:func:`load_configuration` resolves a kubernetes_asyncio ``Configuration`` the way controller-runtime's
``GetConfig`` and clientcmd do, first match wins:

1. ``kubeconfig=`` (a path) with an optional ``context=``;
2. the ``KUBECONFIG`` environment variable (a ``os.pathsep``-separated list, merged);
3. in-cluster configuration when ``KUBERNETES_SERVICE_HOST``/``_PORT`` are set (``in_cluster=True``
   forces it, ``False`` skips it): the service account token is re-read whenever the token file
   changes (kubelet rotates projected tokens), so long-running operators keep working;
4. ``~/.kube/config`` when it exists;
5. only ``master=``: an unauthenticated connection to that URL.

``master=`` overrides the server URL of whatever was loaded, like ``--master``. Failures raise
:class:`~pycontroller.errors.ConfigError` naming the file, the context or what was missing; messages
never include a token. :func:`new_api_client` builds the ``ApiClient`` (inside a running event loop,
where aiohttp needs it).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from collections.abc import Mapping
from typing import Any

import yaml  # type: ignore[import-untyped]

from pycontroller.errors import ConfigError

__all__ = [
    "SERVICE_ACCOUNT_DIR",
    "load_configuration",
    "load_in_cluster_configuration",
    "load_kubeconfig",
    "new_api_client",
    "pod_namespace",
]

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def _read_kubeconfig(path: str) -> Mapping[str, Any]:
    if not os.path.exists(path):
        raise ConfigError(f"kubeconfig {path!r} does not exist")
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except OSError as exc:
        raise ConfigError(f"kubeconfig {path!r} cannot be read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"kubeconfig {path!r} is not valid YAML{where}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"kubeconfig {path!r} is not a kubeconfig (expected a mapping at the top)")
    return data


def _check_context(
    paths: list[str], merged_contexts: dict[str, Any], current: str | None, context: str | None
) -> str:
    name = context or current
    where = " and ".join(repr(p) for p in paths)
    if not name:
        raise ConfigError(f"kubeconfig {where} sets no current-context and no context was given")
    if name not in merged_contexts:
        known = ", ".join(sorted(merged_contexts)) or "none"
        raise ConfigError(f"context {name!r} not found in kubeconfig {where} (contexts: {known})")
    return name


def _run_async(coro_fn: Any) -> Any:
    """Run an async loader to completion from sync code, even inside a running loop (in a thread)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro_fn()).result()


def load_kubeconfig(path: str, context: str | None = None) -> Any:
    """A ``Configuration`` from a kubeconfig file (or several, ``os.pathsep``-separated, merged).

    Never suspends (exec/OIDC plugins run to completion on a helper thread). Raises ConfigError for
    a missing, unreadable or malformed file, and for a context it does not define.
    """
    from kubernetes_asyncio.client import Configuration
    from kubernetes_asyncio.config.kube_config import KubeConfigLoader, KubeConfigMerger

    paths = [p for p in path.split(os.pathsep) if p]
    if not paths:
        raise ConfigError("empty kubeconfig path")
    contexts: dict[str, Any] = {}
    current: str | None = None
    for p in paths:
        data = _read_kubeconfig(p)
        for entry in data.get("contexts") or ():
            if isinstance(entry, Mapping) and entry.get("name"):
                contexts.setdefault(str(entry["name"]), entry)
        if current is None and data.get("current-context"):
            current = str(data["current-context"])
    active = _check_context(paths, contexts, current, context)
    merger = KubeConfigMerger(os.pathsep.join(paths))
    configuration = Configuration()
    try:
        loader = KubeConfigLoader(
            config_dict=merger.config,
            config_base_path=None,
            active_context=active,
            config_persister=None,
        )
        _run_async(lambda: loader.load_and_set(configuration))
    except ConfigError:
        raise
    except Exception as exc:  # kubernetes_asyncio's ConfigException and friends
        raise ConfigError(f"kubeconfig {path!r}, context {active!r}: {_safe(exc)}") from None
    return configuration


def _safe(exc: BaseException) -> str:
    from pycontroller.log import scrub

    return scrub(str(exc))[:300]


class _TokenFile:
    """Re-reads the service-account token whenever its file changes (mtime or size)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._stamp: tuple[float, int] | None = None
        self.reload()

    def reload(self) -> None:
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime, st.st_size)
            if stamp == self._stamp:
                return
            with open(self.path, encoding="utf-8") as f:
                token = f.read().strip()
        except OSError as exc:
            raise ConfigError(
                f"service account token {self.path!r} cannot be read: {exc.strerror or exc}"
            ) from None
        if not token:
            raise ConfigError(f"service account token file {self.path!r} is empty")
        self.token = token
        self._stamp = stamp

    def hook(self, configuration: Any, *_: Any) -> None:
        try:
            self.reload()
        except ConfigError:
            return  # keep the last good token; the API server will say 401 if it expired
        configuration.api_key["BearerToken"] = self.token
        configuration.api_key_prefix["BearerToken"] = "Bearer"


def load_in_cluster_configuration(
    *, environ: Mapping[str, str] | None = None, service_account_dir: str = SERVICE_ACCOUNT_DIR
) -> Any:
    """A ``Configuration`` from the pod's service account, with the token re-read when it changes.

    Never suspends. Raises ConfigError when not in a cluster (no service host/port) or when the
    token or CA file is missing or empty.
    """
    from kubernetes_asyncio.client import Configuration

    env = os.environ if environ is None else environ
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise ConfigError(
            "not running in a cluster: KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set"
        )
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    token_path = os.path.join(service_account_dir, "token")
    ca_path = os.path.join(service_account_dir, "ca.crt")
    if not os.path.exists(token_path):
        raise ConfigError(f"in-cluster: service account token {token_path!r} does not exist")
    if not os.path.exists(ca_path):
        raise ConfigError(f"in-cluster: CA certificate {ca_path!r} does not exist")
    token = _TokenFile(token_path)
    configuration = Configuration(host=f"https://{host}:{port}")
    configuration.ssl_ca_cert = ca_path
    token.hook(configuration)
    configuration.refresh_api_key_hook = token.hook
    return configuration


def load_configuration(
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    master: str | None = None,
    in_cluster: bool | None = None,
    environ: Mapping[str, str] | None = None,
    service_account_dir: str = SERVICE_ACCOUNT_DIR,
) -> Any:
    """Resolve a kubernetes_asyncio ``Configuration`` in clientcmd's order (see the module doc).

    Never suspends. Raises ConfigError when nothing usable is found or a source is broken.
    """
    env = os.environ if environ is None else environ
    configuration: Any = None
    if kubeconfig:
        configuration = load_kubeconfig(kubeconfig, context)
    elif env.get("KUBECONFIG") and in_cluster is not True:
        configuration = load_kubeconfig(env["KUBECONFIG"], context)
    elif in_cluster is True or (in_cluster is None and env.get("KUBERNETES_SERVICE_HOST")):
        if context:
            raise ConfigError(f"context {context!r} given, but the in-cluster configuration has no contexts")
        configuration = load_in_cluster_configuration(environ=env, service_account_dir=service_account_dir)
    else:
        home = os.path.join(os.path.expanduser("~"), ".kube", "config")
        if os.path.exists(home):
            configuration = load_kubeconfig(home, context)
        elif master:
            from kubernetes_asyncio.client import Configuration

            configuration = Configuration()
        else:
            raise ConfigError(
                "no Kubernetes configuration found: pass kubeconfig= or master=, set KUBECONFIG, "
                "run in a cluster, or create ~/.kube/config"
            )
    if master:
        if not master.startswith(("http://", "https://")):
            raise ConfigError(f"master {master!r} must be a URL starting with http:// or https://")
        configuration.host = master.rstrip("/")
    return configuration


def new_api_client(configuration: Any = None, **kwargs: Any) -> Any:
    """A kubernetes_asyncio ``ApiClient`` for ``configuration`` (or ``load_configuration(**kwargs)``).

    Must be called with an event loop running (aiohttp binds its session to it); raises ConfigError
    otherwise. The caller closes it (``await client.close()``).
    """
    from kubernetes_asyncio.client import ApiClient

    if configuration is None:
        configuration = load_configuration(**kwargs)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise ConfigError(
            "an ApiClient must be created inside a running event loop (create the Manager in async code)"
        ) from None
    return ApiClient(configuration)


def pod_namespace(service_account_dir: str = SERVICE_ACCOUNT_DIR) -> str | None:
    """The namespace this pod runs in (from its service account), or None outside a cluster."""
    try:
        with open(os.path.join(service_account_dir, "namespace"), encoding="utf-8") as f:
            return f.read().strip() or None
    except OSError:
        return None
