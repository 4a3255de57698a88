"""The HTTPS server: certificates (generated, reloaded), bad input, readiness, the Manager's wiring."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509

from pycontroller.errors import ConfigError
from pycontroller.manager import Manager
from pycontroller.webhook import WebhookServer, generate_self_signed
from tests.controller.conftest import until

from .helpers import admission_review, post, serving, trusting


async def served_cert(server: WebhookServer) -> x509.Certificate:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    _, writer = await asyncio.open_connection("127.0.0.1", server.port, ssl=ctx)
    sslobj = writer.get_extra_info("ssl_object")
    der = sslobj.getpeercert(binary_form=True)
    writer.close()
    return x509.load_der_x509_certificate(der)


def test_the_generated_certificate_names_its_hosts_as_subject_alternative_names() -> None:
    bundle = generate_self_signed(["127.0.0.1", "foo-webhook.default.svc"])
    cert = x509.load_pem_x509_certificate(bundle.cert)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert sans.get_values_for_type(x509.DNSName) == ["foo-webhook.default.svc"]
    ca = x509.load_pem_x509_certificate(bundle.ca_cert)
    assert cert.issuer == ca.subject
    cert.verify_directly_issued_by(ca)


async def test_a_client_trusting_the_ca_reaches_the_server_by_ip_and_by_name() -> None:
    async with serving() as server:
        for host in ("127.0.0.1", "localhost"):
            url = f"https://{host}:{server.port}/nope"
            async with aiohttp.ClientSession() as session, session.post(url, ssl=trusting(server)) as resp:
                assert resp.status == 404
                assert "no webhook is served at /nope" in await resp.text()


async def test_a_rotated_certificate_in_cert_dir_is_served_to_new_connections(tmp_path: Path) -> None:
    generate_self_signed().write(tmp_path)
    server = WebhookServer(host="127.0.0.1", port=0, cert_dir=tmp_path, cert_poll_interval=0.05)
    async with serving(server):
        before = await served_cert(server)
        second = generate_self_signed(common_name="rotated")
        second.write(tmp_path)
        assert server.watcher is not None
        server.watcher.check()  # the poller would do this within cert_poll_interval
        after = await served_cert(server)
        assert after.serial_number != before.serial_number
        assert after.subject.rfc4514_string() == "CN=rotated"
        assert server.ca_bundle == second.ca_cert
        # and the poller alone picks up the next rotation
        third = generate_self_signed(common_name="third")
        third.write(tmp_path)
        for _ in range(500):  # the poller runs every 0.05 s; fail after ~10 s
            if (await served_cert(server)).subject.rfc4514_string() == "CN=third":
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the rotated certificate was never served")


async def test_a_half_written_certificate_keeps_the_previous_one(tmp_path: Path) -> None:
    generate_self_signed().write(tmp_path)
    server = WebhookServer(host="127.0.0.1", port=0, cert_dir=tmp_path)
    async with serving(server):
        before = await served_cert(server)
        (tmp_path / "tls.key").write_bytes(generate_self_signed().key)  # key no longer matches
        assert server.watcher is not None
        assert server.watcher.check() is False
        assert (await served_cert(server)).serial_number == before.serial_number


def test_without_certificates_or_self_signed_the_server_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cert_dir"):
        WebhookServer()


async def test_a_cert_dir_without_files_fails_start_naming_the_file(tmp_path: Path) -> None:
    server = WebhookServer(host="127.0.0.1", port=0, cert_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"tls\.crt"):
        await server.start()
    await server.stop()


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"", "application/json", "request body is empty"),
        (b"{not json", "application/json", "the body is not JSON"),
        (b'{"kind": "Pod", "apiVersion": "v1"}', "application/json", "not a AdmissionReview"),
        (b'{"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v2", "request": {}}',
         "application/json", "unsupported AdmissionReview apiVersion"),
        (b'{"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1"}', "application/json", "has no request"),
        (b'{"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "request": {"operation": "CREATE"}}',
         "application/json", "has no uid"),
        (b"{}", "text/plain", "contentType=text/plain, expected application/json"),
    ],
)  # fmt: skip
async def test_bad_admission_input_is_400_with_a_message_and_the_server_keeps_serving(
    body: bytes, content_type: str, message: str
) -> None:
    server = WebhookServer(host="127.0.0.1", port=0, self_signed=True)
    calls: list[Any] = []
    path = server.add_validator("v1", "ConfigMap", calls.append)
    async with serving(server):
        status, answer = await post(server, path, body, content_type=content_type)
        assert status == 400
        assert answer["kind"] == "Status" and answer["code"] == 400 and message in answer["message"]
        assert calls == []
        status, answer = await post(server, path, admission_review("CREATE", {"metadata": {}}))
        assert status == 200 and answer["response"]["allowed"] is True


async def test_a_conversion_review_without_uid_or_objects_is_400() -> None:
    server = WebhookServer(host="127.0.0.1", port=0, self_signed=True)
    server.add_conversion("a.io", "Foo", "v1", {})
    async with serving(server):
        base = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview"}
        status, answer = await post(server, "/convert", {**base, "request": {"desiredAPIVersion": "a.io/v1"}})
        assert status == 400 and "has no uid" in answer["message"]
        status, answer = await post(
            server, "/convert", {**base, "request": {"uid": "1", "desiredAPIVersion": "a.io/v1"}}
        )
        assert status == 400 and "no objects list" in answer["message"]
        status, answer = await post(server, "/convert", admission_review())
        assert status == 400 and "not a ConversionReview" in answer["message"]


async def test_plain_http_unknown_paths_and_get_are_answered_without_affecting_others() -> None:
    server = WebhookServer(host="127.0.0.1", port=0, self_signed=True)
    path = server.add_validator("v1", "ConfigMap", lambda r: None)
    async with serving(server):
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://127.0.0.1:{server.port}{path}", data=b"{}") as resp:
                assert resp.status == 400
                assert await resp.text() == "Client sent an HTTP request to an HTTPS server.\n"
            async with session.get(server.url + path, ssl=trusting(server)) as resp:
                assert resp.status == 405
        # a client that connects and sends nothing does not block others
        _, idle = await asyncio.open_connection("127.0.0.1", server.port)
        status, answer = await post(server, path, admission_review("CREATE", {"metadata": {}}))
        assert status == 200 and answer["response"]["allowed"] is True
        idle.close()


async def test_registering_the_same_path_twice_is_refused() -> None:
    server = WebhookServer(host="127.0.0.1", port=0, self_signed=True)
    server.add_validator("v1", "ConfigMap", lambda r: None)
    with pytest.raises(ValueError, match="already registered"):
        server.add_validator("v1", "ConfigMap", lambda r: None)
    with pytest.raises(ValueError, match="operations"):
        server.add_mutator("v1", "Secret", lambda r: None, operations=("PATCH",))


async def test_the_manager_starts_the_webhook_server_before_the_caches_and_readyz_checks_it() -> None:
    from kubernetes_asyncio.client import ApiClient, Configuration

    from tests.manager.conftest import StandInFactory

    factory = StandInFactory()
    factory.log = []
    server = WebhookServer(host="127.0.0.1", port=0, self_signed=True)
    async with ApiClient(Configuration(host="http://127.0.0.1:9")) as client:
        mgr = Manager(
            client,
            informer_factory=factory,
            metrics_bind_address="0",
            health_probe_bind_address="127.0.0.1:0",
            handle_signals=False,
            webhook_server=server,
        )
        assert mgr.webhook_server is server
        path = mgr.add_validator("v1", "ConfigMap", lambda r: None)
        mgr.informer_for("", "v1", "pods")
        run = asyncio.create_task(mgr.run())
        await until(lambda: factory.started == 1, timeout=10)
        assert server.serving  # before the caches started
        status, _ = await post(server, path, admission_review("CREATE", {"metadata": {}}))
        assert status == 200
        url = f"http://127.0.0.1:{mgr.health_probe_port}/readyz/webhook"
        async with aiohttp.ClientSession() as session, session.get(url) as resp:
            assert resp.status == 200
        factory.synced.set()
        mgr.request_shutdown()
        await asyncio.wait_for(run, 10)
    assert not server.serving and factory.log[-1] == "caches stopped"


async def test_the_webhook_server_serves_until_the_controllers_have_stopped() -> None:
    from kubernetes_asyncio.client import ApiClient, Configuration

    server = WebhookServer(host="127.0.0.1", port=0, self_signed=True)
    seen: list[bool] = []

    class Controller:
        name = "needs-webhooks"

        def __init__(self) -> None:
            self._stop = asyncio.Event()

        async def run(self) -> None:
            await self._stop.wait()
            seen.append(server.serving)  # still serving while the controller stops

        def stop(self) -> None:
            self._stop.set()

    async with ApiClient(Configuration(host="http://127.0.0.1:9")) as client:
        mgr = Manager(client, metrics_bind_address="0", handle_signals=False, webhook_server=server)
        mgr.add(Controller())
        run = asyncio.create_task(mgr.run())
        await until(lambda: server.serving, timeout=10)
        mgr.request_shutdown()
        await asyncio.wait_for(run, 10)
    assert seen == [True] and not server.serving


async def test_the_default_webhook_server_reads_controller_runtimes_cert_dir() -> None:
    from kubernetes_asyncio.client import ApiClient, Configuration

    async with ApiClient(Configuration(host="http://127.0.0.1:9")) as client:
        mgr = Manager(client, metrics_bind_address="0", handle_signals=False)
        server = mgr.webhook_server
        assert server is mgr.webhook_server
        assert server.cert_dir is not None and server.cert_dir.parts[-2:] == (
            "k8s-webhook-server",
            "serving-certs",
        )
        mgr.add_validator("v1", "ConfigMap", lambda r: None)
        with pytest.raises(ValueError, match="already registered"):
            mgr.webhook_server = WebhookServer(port=0, self_signed=True)


async def test_a_body_over_the_limit_is_413_and_the_server_keeps_serving() -> None:
    from pycontroller.webhook.server import MAX_BODY_BYTES

    server = WebhookServer(host="127.0.0.1", port=0, self_signed=True)
    path = server.add_validator("v1", "ConfigMap", lambda r: None)
    async with serving(server):
        status, answer = await post(server, path, b"x" * (MAX_BODY_BYTES + 1))
        assert status == 413 and "request body too large" in answer["message"]
        status, answer = await post(server, path, admission_review("CREATE", {"metadata": {}}))
        assert status == 200 and answer["response"]["allowed"] is True
