from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson
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


def _get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, orjson.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, orjson.loads(err.read())


def test_expire_watches_ends_the_watches_and_answers_the_newest_version_with_410(tmp_path: Path) -> None:
    with fake_api_server_process(tmp_path) as served:
        path = served.url + "/api/v1/namespaces/default/configmaps"
        body = orjson.dumps({"metadata": {"name": "a"}})
        request = urllib.request.Request(path, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as resp:
            rv = orjson.loads(resp.read())["metadata"]["resourceVersion"]
        assert _get(f"{path}?resourceVersion={rv}&resourceVersionMatch=Exact")[0] == 200
        with urllib.request.urlopen(f"{path}?watch=true&resourceVersion={rv}", timeout=5) as watch:
            served.expire_watches()
            assert watch.read() == b"", "the open watch was ended"
        code, status = _get(f"{path}?resourceVersion={rv}&resourceVersionMatch=Exact")
        assert code == 410 and status["reason"] == "Expired"
        assert b"ended 1 watches" in served.log.read_bytes()
