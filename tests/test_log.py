"""Logging: reconcile context on every record, text or JSON, tokens and Secret data never printed."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from pycontroller.controller import Controller
from pycontroller.log import configure_logging, redact, scrub
from pycontroller.testing import FakeClock
from tests.controller.conftest import until
from tests.controller.helpers import make_queue


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = configure_logging(stream=out, logger="test.reconciler", level=logging.DEBUG)
    yield out
    logging.getLogger("test.reconciler").removeHandler(handler)


async def run_one(name: str, reconcile: object) -> None:
    clock = FakeClock()
    ctl = Controller(name, reconcile, clock=clock, queue=make_queue(clock), skip_name_validation=True)  # type: ignore[arg-type]
    task = asyncio.create_task(ctl.run())
    ctl.enqueue("ns/obj")
    await until(lambda: ctl._metrics.total["success"] >= 1)
    ctl.stop()
    await task


async def test_records_a_reconcile_emits_carry_controller_key_and_reconcile_id(stream: io.StringIO) -> None:
    async def reconcile(key: str) -> None:
        logging.getLogger("test.reconciler").info("syncing")

    await run_one("log-text", reconcile)
    line = stream.getvalue().strip().splitlines()[-1]
    assert "syncing" in line and "controller=log-text" in line and "key=ns/obj" in line
    assert "reconcileID=" in line


async def test_json_output_has_the_context_as_fields(stream: io.StringIO) -> None:
    configure_logging(stream=stream, logger="test.reconciler", json=True, level=logging.DEBUG)

    def reconcile(key: str) -> None:  # in a worker thread: the context travels with it
        logging.getLogger("test.reconciler").warning("thread says hi")

    await run_one("log-json", reconcile)
    record = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert record["msg"] == "thread says hi" and record["level"] == "warning"
    assert record["controller"] == "log-json" and record["key"] == "ns/obj"
    assert len(record["reconcileID"]) == 36


def test_records_outside_a_reconcile_have_no_context(stream: io.StringIO) -> None:
    logging.getLogger("test.reconciler").info("idle")
    assert "controller=" not in stream.getvalue()


def test_bearer_tokens_and_passwords_are_scrubbed(stream: io.StringIO) -> None:
    logging.getLogger("test.reconciler").info(
        "headers %s", {"Authorization": "Bearer eyJhbGciOi.secret.sig", "token": "abc123", "password": "pw"}
    )
    out = stream.getvalue()
    assert "eyJhbGciOi" not in out and "abc123" not in out and "'pw'" not in out
    assert "<redacted>" in out


def test_secret_data_is_never_printed() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "data": {"password": "aHVudGVyMg=="},
    }
    assert "aHVudGVyMg==" not in scrub(f"got {secret}")
    assert redact(secret)["data"] == {"password": "<redacted>"}
    assert secret["data"]["password"] == "aHVudGVyMg=="  # redact copies
    cm = {"kind": "ConfigMap", "data": {"a": "b"}}
    assert redact(cm) is cm


def test_exceptions_in_json_are_scrubbed_too(stream: io.StringIO) -> None:
    configure_logging(stream=stream, logger="test.reconciler", json=True)
    try:
        raise RuntimeError("auth failed with Bearer sekret-token-xyz")
    except RuntimeError:
        logging.getLogger("test.reconciler").exception("boom")
    record = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert "sekret-token-xyz" not in record["error"] and "sekret-token-xyz" not in record["msg"]
