"""Serving certificates: a generated CA + serving certificate, and a watcher that reloads them.

:func:`generate_self_signed` makes a CA and a serving certificate signed by it (ECDSA P-256, valid
one year) whose subject alternative names hold the given IPs and DNS names. The API server (Go's TLS)
refuses a certificate that names its host in the Common Name only, so the SANs are what matters:
``127.0.0.1`` for a webhook reached at ``https://127.0.0.1:PORT``, ``<service>.<namespace>.svc``
for one reached through a Service.

:class:`CertWatcher` is controller-runtime's certwatcher: it loads ``tls.crt``/``tls.key`` into an
``ssl.SSLContext`` and, polled every ``interval`` seconds, reloads them when their modification time
or size changes (cert-manager or a mounted Secret rotating them). New TLS handshakes use the new
certificate; open connections keep theirs. A half-written pair (key and certificate not matching) is
logged and the previous certificate kept until the next change.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import logging
import os
import ssl
from collections.abc import Callable, Iterable
from pathlib import Path

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CertBundle", "CertWatcher", "generate_self_signed"]

log = logging.getLogger("pycontroller.webhook")

CERT_FILE = "tls.crt"
KEY_FILE = "tls.key"
CA_FILE = "ca.crt"


@attrs.frozen
class CertBundle:
    """PEM bytes of a CA certificate and a serving certificate + key signed by it."""

    ca_cert: bytes
    cert: bytes
    key: bytes

    def write(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``tls.crt``, ``tls.key`` (mode 0600) and ``ca.crt`` into ``directory``; returns it.

        Each file is written atomically (a watcher never sees half a file), the key first.
        """
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        for name, data, mode in (
            (KEY_FILE, self.key, 0o600),
            (CERT_FILE, self.cert, 0o644),
            (CA_FILE, self.ca_cert, 0o644),
        ):
            partial = target / f".{name}.partial"
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(partial, target / name)
        return target


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def generate_self_signed(
    hosts: Iterable[str] = ("127.0.0.1", "localhost"),
    *,
    common_name: str = "pycontroller-webhook",
    days: int = 365,
) -> CertBundle:
    """A new CA and a serving certificate for ``hosts`` (IP addresses and DNS names, as SANs).

    CPU-bound (a few milliseconds); never suspends. ``hosts`` must not be empty.
    """
    hosts = list(dict.fromkeys(hosts))
    if not hosts:
        raise ValueError("generate_self_signed needs at least one host (IP address or DNS name)")
    now = datetime.datetime.now(datetime.UTC)
    not_before = now - datetime.timedelta(minutes=5)  # tolerate a little clock skew
    not_after = now + datetime.timedelta(days=days)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"{common_name}-ca")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return CertBundle(
        ca_cert=ca_cert.public_bytes(pem),
        cert=cert.public_bytes(pem),
        key=key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size)


class CertWatcher:
    """Keeps an ``ssl.SSLContext`` loaded with the current ``tls.crt``/``tls.key`` of a directory.

    ``context`` is the server-side SSLContext to hand to a TLS server. :meth:`check` (never suspends)
    reloads when the files changed and returns whether it did; :meth:`run` polls every ``interval``
    seconds until cancelled. ``on_change`` callbacks run after each successful reload (the caBundle
    keeper listens there).
    """

    def __init__(
        self,
        cert_dir: str | os.PathLike[str],
        *,
        cert_name: str = CERT_FILE,
        key_name: str = KEY_FILE,
        interval: float = 1.0,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"CertWatcher interval must be positive, got {interval}")
        self.cert_dir = Path(cert_dir)
        self.cert_path = self.cert_dir / cert_name
        self.key_path = self.cert_dir / key_name
        self.interval = interval
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.reloads = 0
        self.on_change: list[Callable[[], None]] = []
        self._stamps: tuple[tuple[int, int] | None, tuple[int, int] | None] | None = None
        self.current_cert: bytes = b""
        self._load(initial=True)

    def _load(self, initial: bool = False) -> bool:
        stamps = (_stamp(self.cert_path), _stamp(self.key_path))
        if stamps == self._stamps:
            return False
        try:
            self.context.load_cert_chain(self.cert_path, self.key_path)
            cert = self.cert_path.read_bytes()
        except (OSError, ssl.SSLError) as exc:
            if initial:
                raise FileNotFoundError(
                    f"cannot load the webhook certificate {self.cert_path} and key {self.key_path}: {exc}"
                ) from exc
            log.error("Reloading the webhook certificate failed, keeping the previous one: %s", exc)
            self._stamps = stamps  # retried when the files change again
            return False
        self._stamps = stamps
        self.current_cert = cert
        if not initial:
            self.reloads += 1
            log.info("Updated the webhook serving certificate", extra={"certPath": str(self.cert_path)})
            for callback in list(self.on_change):
                try:
                    callback()
                except Exception:  # one listener's failure must not stop the reload
                    log.exception("A certificate change listener failed")
        return True

    def check(self) -> bool:
        """Reload if ``tls.crt`` or ``tls.key`` changed; True when a new certificate was loaded."""
        return self._load()

    def ca_bundle(self) -> bytes:
        """The PEM to trust this server with: ``ca.crt`` of the directory if present, else ``tls.crt``."""
        ca = self.cert_dir / CA_FILE
        try:
            return ca.read_bytes()
        except FileNotFoundError:
            return self.current_cert

    async def run(self) -> None:
        """Poll for changes every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            self.check()
