"""Configuration loading: kubeconfig (path, context, KUBECONFIG), in-cluster with token rotation, --master."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from pycontroller.config import load_configuration, load_kubeconfig, new_api_client
from pycontroller.errors import ConfigError

SECRET_TOKEN = "s3cr3t-t0ken-value"


def write_kubeconfig(path: Path, *, current: str = "dev", extra: dict[str, Any] | None = None) -> Path:
    cfg: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": current,
        "clusters": [
            {"name": "dev-cluster", "cluster": {"server": "http://127.0.0.1:6443"}},
            {"name": "prod-cluster", "cluster": {"server": "http://127.0.0.1:7443"}},
        ],
        "users": [
            {"name": "dev-user", "user": {"token": SECRET_TOKEN}},
            {"name": "prod-user", "user": {"token": "prod-token"}},
        ],
        "contexts": [
            {"name": "dev", "context": {"cluster": "dev-cluster", "user": "dev-user"}},
            {"name": "prod", "context": {"cluster": "prod-cluster", "user": "prod-user"}},
            {"name": "broken", "context": {"cluster": "missing-cluster", "user": "dev-user"}},
        ],
        **(extra or {}),
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


async def bearer(configuration: Any) -> str:
    return str(await configuration.get_api_key_with_prefix("BearerToken"))


async def test_kubeconfig_current_context_is_used_by_default(tmp_path: Path) -> None:
    cfg = load_kubeconfig(str(write_kubeconfig(tmp_path / "config")))
    assert cfg.host == "http://127.0.0.1:6443"
    assert await bearer(cfg) == f"Bearer {SECRET_TOKEN}"


async def test_a_named_context_selects_its_cluster_and_user(tmp_path: Path) -> None:
    cfg = load_configuration(kubeconfig=str(write_kubeconfig(tmp_path / "config")), context="prod")
    assert cfg.host == "http://127.0.0.1:7443"
    assert await bearer(cfg) == "Bearer prod-token"


def test_master_overrides_the_server_of_the_kubeconfig(tmp_path: Path) -> None:
    cfg = load_configuration(
        kubeconfig=str(write_kubeconfig(tmp_path / "c")), master="http://127.0.0.1:9999/"
    )
    assert cfg.host == "http://127.0.0.1:9999"


def test_master_alone_is_enough(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = load_configuration(master="http://127.0.0.1:8001", environ={})
    assert cfg.host == "http://127.0.0.1:8001"


def test_kubeconfig_env_is_used_and_merged(tmp_path: Path) -> None:
    a = write_kubeconfig(tmp_path / "a")
    b = tmp_path / "b"
    b.write_text(
        yaml.safe_dump(
            {"contexts": [{"name": "other", "context": {"cluster": "dev-cluster", "user": "dev-user"}}]}
        )
    )
    cfg = load_configuration(environ={"KUBECONFIG": f"{b}{os.pathsep}{a}"}, context="other")
    assert cfg.host == "http://127.0.0.1:6443"


def test_missing_kubeconfig_is_a_config_error_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"kubeconfig '.*nope' does not exist"):
        load_configuration(kubeconfig=str(tmp_path / "nope"))


def test_unreadable_kubeconfig_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_configuration(kubeconfig=str(tmp_path))  # a directory


def test_kubeconfig_that_is_not_yaml_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_text("clusters: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_configuration(kubeconfig=str(bad))


def test_unknown_context_is_a_config_error_naming_it_and_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"context 'staging' not found .*contexts: broken, dev, prod"):
        load_configuration(kubeconfig=str(write_kubeconfig(tmp_path / "c")), context="staging")


def test_a_broken_context_errors_without_leaking_the_token(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_configuration(kubeconfig=str(write_kubeconfig(tmp_path / "c")), context="broken")
    assert "broken" in str(info.value)
    assert SECRET_TOKEN not in str(info.value)


def test_nothing_found_is_a_config_error_listing_the_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ConfigError, match="no Kubernetes configuration found"):
        load_configuration(environ={})


def test_bad_master_url_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must be a URL"):
        load_configuration(kubeconfig=str(write_kubeconfig(tmp_path / "c")), master="127.0.0.1:8080")


def service_account(tmp_path: Path, token: str = "tok-1") -> Path:
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text(token)
    (sa / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    return sa


IN_CLUSTER_ENV = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}


async def test_in_cluster_config_uses_the_service_host_and_re_reads_a_rotated_token(tmp_path: Path) -> None:
    sa = service_account(tmp_path)
    cfg = load_configuration(environ=IN_CLUSTER_ENV, service_account_dir=str(sa))
    assert cfg.host == "https://10.0.0.1:443"
    assert cfg.ssl_ca_cert == str(sa / "ca.crt")
    assert await bearer(cfg) == "Bearer tok-1"
    (sa / "token").write_text("tok-rotated-2")
    os.utime(sa / "token", (1, 1))
    assert await bearer(cfg) == "Bearer tok-rotated-2"


def test_in_cluster_without_a_token_file_is_a_config_error(tmp_path: Path) -> None:
    sa = service_account(tmp_path)
    (sa / "token").unlink()
    with pytest.raises(ConfigError, match=r"token .* does not exist"):
        load_configuration(environ=IN_CLUSTER_ENV, service_account_dir=str(sa))


def test_forcing_in_cluster_outside_a_cluster_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not running in a cluster"):
        load_configuration(in_cluster=True, environ={})


async def test_new_api_client_builds_a_client_in_the_running_loop(tmp_path: Path) -> None:
    client = new_api_client(kubeconfig=str(write_kubeconfig(tmp_path / "c")))
    try:
        assert client.configuration.host == "http://127.0.0.1:6443"
    finally:
        await client.close()


def test_new_api_client_outside_a_loop_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="running event loop"):
        new_api_client(kubeconfig=str(write_kubeconfig(tmp_path / "c")))
