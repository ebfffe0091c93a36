"""Network faults: a feed whose server cannot be reached, will not talk, or breaks off.

Each fault goes through the real pipeline (``faults.run``: a pass among good feeds, with
the archive's invariants checked) and must come back as one line on its own feed, with
nothing of it archived. The certificates are made at test time, by the ``cryptography``
package, and served by a real TLS listener on loopback (``FeedServer(tls=...)``).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fakes.feed_server import FeedServer
from tests.conftest import rss


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_refused_connection_is_reported_with_the_address(faults) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/feed.xml"

    outcome = faults.run([url])

    outcome.failed_once(url, "connection refused", f"127.0.0.1:{port}")
    assert url not in outcome.titles


def test_a_name_that_cannot_resolve_is_reported_as_name_resolution(faults) -> None:
    """`.invalid` never resolves (RFC 6761 §6.4); here the resolver says so at once."""
    url = "http://feed.invalid/feed.xml"

    outcome = faults.run([url])

    outcome.failed_once(url, "name resolution failed", "feed.invalid")


# --- TLS --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificates:
    ca: Path  # the CA the client is told to trust (SSL_CERT_FILE)
    leaves: dict[str, tuple[Path, Path]]  # kind -> (certificate, key) PEM files

    def server_context(self, kind: str) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*self.leaves[kind])
        return context


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A CA, and three leaves for 127.0.0.1: one it signed, one it signed that has expired,
    and one signed by itself."""
    folder = tmp_path_factory.mktemp("tls")
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate(
        "Fault CA", ca_key, "Fault CA", ca_key, now - timedelta(days=1), now + timedelta(days=1), is_ca=True
    )
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    leaves = {}
    for kind, issuer, window in [
        ("valid", "Fault CA", (now - timedelta(days=1), now + timedelta(days=1))),
        ("expired", "Fault CA", (now - timedelta(days=30), now - timedelta(days=1))),
        ("self-signed", "127.0.0.1", (now - timedelta(days=1), now + timedelta(days=1))),
    ]:
        key = ec.generate_private_key(ec.SECP256R1())
        signer = ca_key if issuer == "Fault CA" else key
        leaf = _certificate("127.0.0.1", key, issuer, signer, *window)
        cert_path, key_path = folder / f"{kind}.pem", folder / f"{kind}.key"
        cert_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        leaves[kind] = (cert_path, key_path)
    return Certificates(folder / "ca.pem", leaves)


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    not_before: datetime,
    not_after: datetime,
    is_ca: bool = False,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    )
    if not is_ca:
        address = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
        builder = builder.add_extension(x509.SubjectAlternativeName([address]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("self-signed", ("TLS certificate verification failed", "self-signed certificate")),
        ("expired", ("TLS certificate verification failed", "certificate has expired")),
    ],
    ids=["self-signed", "expired"],
)
def test_a_bad_tls_certificate_is_reported_as_a_certificate_problem(
    faults,
    seeds,
    certificates: Certificates,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    words: tuple[str, ...],
) -> None:
    """The client trusts the fault CA, as an operator with a private CA would (SSL_CERT_FILE):
    the expired leaf is signed by that CA, so its dates are the only thing wrong with it."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca))
    with FeedServer(tls=certificates.server_context(kind)) as server:
        url = server.add("/feed.xml", rss("Secure", seeds[2:3]))
        outcome = faults.run([url])

    outcome.failed_once(url, *words, server.base_url.removeprefix("https://"))
    assert server.count("/feed.xml") == 0  # nothing was asked over a connection we did not trust
    assert url not in outcome.titles


def test_a_valid_certificate_from_the_trusted_ca_is_read(
    faults, seeds, certificates: Certificates, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control for the two above: the same listener, a good certificate, a feed archived."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca))
    with FeedServer(tls=certificates.server_context("valid")) as server:
        url = server.add("/feed.xml", rss("Secure", seeds[2:3]))
        outcome = faults.run([url])

    assert outcome.ok(url) == [seeds[2].title]


# --- servers that answer badly ------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "options", "words"),
    [
        ("hang", {}, ("read timed out", "no data for 2s")),
        ("drip", {"interval": 1.0}, ("timed out after 3s",)),
        ("endless", {"interval": 0.1}, ("timed out after 3s",)),
        ("reset", {}, ("connection reset by the server",)),
        ("reset_mid_body", {}, ("connection reset by the server",)),
    ],
    ids=["no-response", "drip-a-byte-a-second", "chunked-forever", "reset-before-answer", "reset-mid-body"],
)
def test_a_server_that_stalls_or_breaks_off_is_reported(
    faults, feed_server, mode: str, options: dict[str, Any], words: tuple[str, ...]
) -> None:
    """read timeout 2s, deadline 3s (write_config): a drip or an endless body is cut by the
    deadline, whatever it sends; half a feed and then a reset archives nothing of it."""
    url = feed_server.misbehave(f"/{mode}.xml", mode, **options)

    outcome = faults.run([url])

    outcome.failed_once(url, *words)
    assert url not in outcome.titles
    assert feed_server.count(f"/{mode}.xml") == 1  # asked once; no retry within the pass
