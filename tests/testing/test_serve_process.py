from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from pycontroller.errors import ConfigError
from pycontroller.testing.serve_process import fake_api_server_process, free_port


def test_the_child_server_answers_while_the_block_runs_and_is_gone_after(tmp_path: Path) -> None:
    with fake_api_server_process(tmp_path) as served:
        with urllib.request.urlopen(served.url + "/api/v1/namespaces/default", timeout=5) as resp:
            assert b'"name":"default"' in resp.read()
        assert served.url in served.kubeconfig.read_text()
    assert served.process.poll() is not None


def test_a_child_that_cannot_bind_is_reported_with_its_error(tmp_path: Path) -> None:
    with fake_api_server_process(tmp_path) as first:
        port = int(first.url.rsplit(":", 1)[1])
        with pytest.raises(ConfigError, match="did not start"):
            with fake_api_server_process(tmp_path, port=port, start_timeout=20):
                pytest.fail("a second server cannot serve on a taken port")


def test_free_port_gives_a_bindable_loopback_port() -> None:
    assert 0 < free_port() < 65536
