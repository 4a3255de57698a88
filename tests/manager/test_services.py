"""The Manager's services: cache-backed client, API reader, event recorder, readiness, bound addresses."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from pycontroller import Manager, NotFoundError, RestClient
from pycontroller.cached_client import CacheNotStartedError, parse_field_selector
from pycontroller.client import GroupVersionResource
from pycontroller.testing import eventually, running

CONFIGMAPS = GroupVersionResource("", "v1", "configmaps")
EVENTS = GroupVersionResource("", "v1", "events")


def _manager(api_client: Any, namespace: str, **kwargs: Any) -> Manager:
    kwargs.setdefault("metrics_bind_address", "0")
    return Manager(api_client, namespace=namespace, handle_signals=False, **kwargs)


def _cm(name: str, labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {}}, "data": data}


async def test_client_reads_come_from_the_cache_started_on_first_read(
    api_client: Any, rest_client: Any, namespace: str
) -> None:
    await rest_client.create(CONFIGMAPS, _cm("a", {"app": "web"}, v="1"), namespace)
    await rest_client.create(CONFIGMAPS, _cm("b", {"app": "db"}, v="2"), namespace)
    mgr = _manager(api_client, namespace)
    async with running(mgr):
        assert CONFIGMAPS not in mgr.factory.informers  # nothing asked for it yet
        got = await mgr.client.get(CONFIGMAPS, "a", namespace)
        assert got["data"] == {"v": "1"}
        assert (got["apiVersion"], got["kind"]) == ("v1", "ConfigMap")  # typed, so replace(got) works
        informer = mgr.factory.informers[CONFIGMAPS]
        assert informer.has_synced()
        # a copy: changing it leaves the cache alone
        got["data"]["v"] = "changed"
        assert informer.indexer.get_by_key(f"{namespace}/a")["data"] == {"v": "1"}

        by_kind = await mgr.client.get(("v1", "ConfigMap"), "b", namespace)  # a kind, through the mapper
        assert by_kind["data"] == {"v": "2"}
        assert len(mgr.factory.informers) == 1  # the same shared informer
        listed = await mgr.client.list(CONFIGMAPS, namespace, label_selector="app=web")
        assert [o["metadata"]["name"] for o in listed["items"]] == ["a"]
        assert listed["metadata"]["resourceVersion"]
        by_field = await mgr.client.list(CONFIGMAPS, namespace, fieldSelector="metadata.name!=a")
        assert "a" not in [o["metadata"]["name"] for o in by_field["items"]]
        assert "b" in [o["metadata"]["name"] for o in by_field["items"]]
        assert len((await mgr.client.list(CONFIGMAPS, namespace, limit=1))["items"]) == 1

        with pytest.raises(NotFoundError, match='configmaps "nope" not found'):
            await mgr.client.get(CONFIGMAPS, "nope", namespace)
        with pytest.raises(ValueError, match="continue"):
            await mgr.client.list(CONFIGMAPS, namespace, **{"continue": "token"})

        # writes go to the API server; the cache follows the watch
        await mgr.client.create(CONFIGMAPS, _cm("c", v="3"), namespace)

        async def cached() -> None:
            assert (await mgr.client.get(CONFIGMAPS, "c", namespace))["data"] == {"v": "3"}

        await eventually(cached)
        # the API reader is the raw client: it sees the server at once
        assert isinstance(mgr.get_api_reader(), RestClient)
        assert mgr.get_api_reader() is not mgr.client
        assert (await mgr.get_api_reader().get(CONFIGMAPS, "c", namespace))["data"] == {"v": "3"}


async def test_a_cached_read_before_the_manager_runs_is_a_typed_error(
    api_client: Any, namespace: str
) -> None:
    mgr = _manager(api_client, namespace)
    with pytest.raises(CacheNotStartedError, match="not running"):
        await mgr.client.get(CONFIGMAPS, "x", namespace)


def test_field_selectors_parse_like_the_api_servers() -> None:
    assert parse_field_selector("a.b=x, c==y,d!=z") == [
        ("a.b", "x", True),
        ("c", "y", True),
        ("d", "z", False),
    ]
    assert parse_field_selector("") == []
    with pytest.raises(ValueError, match="field=value"):
        parse_field_selector("justaname")


async def test_event_recorders_share_one_broadcaster_flushed_when_the_manager_stops(
    api_client: Any, rest_client: Any, namespace: str
) -> None:
    mgr = _manager(api_client, namespace)
    cm = await rest_client.create(CONFIGMAPS, _cm("subject"), namespace)
    early = mgr.get_event_recorder_for("comp-a")
    early.event(cm, "Normal", "Early", "recorded before run()")
    async with running(mgr):
        late = mgr.get_event_recorder_for("comp-b")
        assert mgr.event_broadcaster is not None
        late.event(cm, "Warning", "Late", "recorded while running")
    # the Manager stopped: whatever was queued has been written
    events = (await rest_client.list(EVENTS, namespace))["items"]
    seen = {(e["reason"], e["source"]["component"], e["type"]) for e in events}
    assert ("Early", "comp-a", "Normal") in seen
    assert ("Late", "comp-b", "Warning") in seen
    with pytest.raises(TypeError):
        mgr.get_event_recorder_for("")


async def test_wait_until_ready_waits_for_the_lease_when_electing(api_client: Any, namespace: str) -> None:
    mgr = _manager(
        api_client,
        namespace,
        leader_election=True,
        leader_election_id=f"ready-{namespace}",
        leader_election_namespace=namespace,
        leader_election_release_on_cancel=True,
    )
    assert not mgr.elected().is_set()
    async with running(mgr):
        assert mgr._caches_synced
        assert mgr.elected().is_set()
        assert mgr.elector is not None and mgr.elector.is_leader()


async def test_start_up_logs_the_addresses_actually_bound(
    api_client: Any, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    mgr = _manager(
        api_client, namespace, metrics_bind_address="127.0.0.1:0", health_probe_bind_address="127.0.0.1:0"
    )
    with caplog.at_level(logging.INFO, logger="pycontroller.manager"):
        async with running(mgr):
            metrics, probes = mgr.metrics_port, mgr.health_probe_port
    text = caplog.text
    assert f"http://127.0.0.1:{metrics}" in text and f"http://127.0.0.1:{probes}" in text
    assert metrics != 0 and probes != 0
