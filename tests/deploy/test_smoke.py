"""The HTTPS smoke test against real TLS and HTTP servers on 127.0.0.1 with a throw-away CA."""

from __future__ import annotations

import datetime
import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kit import KitError
from kit.smoke import smoke_test

SITE = "app.soc2kit.test"


def _certificate(subject: str, issuer_key, public_key, issuer: str, *, ca: bool) -> x509.Certificate:  # type: ignore[no-untyped-def]
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("test CA", ca_key, ca_key.public_key(), "test CA", ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = _certificate(SITE, ca_key, key.public_key(), "test CA", ca=False)
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_ca = _certificate("other CA", other_key, other_key.public_key(), "other CA", ca=True)
    files = {"ca": directory / "ca.pem", "other_ca": directory / "other.pem", "cert": directory / "cert.pem"}
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files["other_ca"].write_bytes(other_ca.public_bytes(serialization.Encoding.PEM))
    files["cert"].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    files["key"] = directory / "key.pem"
    files["key"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return files


class Site:
    """What the servers answer; the tests change it to break one thing at a time."""

    readyz_status = 200
    hsts = True
    redirect = True


def _handler(site: type[Site], tls: bool) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if not tls:
                self.send_response(301 if site.redirect else 200)
                if site.redirect:
                    self.send_header("Location", f"https://{SITE}/")
            else:
                self.send_response(site.readyz_status if self.path == "/readyz" else 404)
                if site.hsts:
                    self.send_header("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    return Handler


@pytest.fixture
def servers(pki: dict[str, Path]) -> Iterator[tuple[type[Site], int, int]]:
    site = type("TestSite", (Site,), {})
    https = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(site, tls=True))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["cert"], pki["key"])
    https.socket = context.wrap_socket(https.socket, server_side=True)
    plain = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(site, tls=False))
    threads = [
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        for server in (https, plain)
    ]
    for thread in threads:
        thread.start()
    yield site, https.server_address[1], plain.server_address[1]
    for server in (https, plain):
        server.shutdown()
        server.server_close()


def check(pki: dict[str, Path], https_port: int, http_port: int, ca: str = "ca") -> None:
    smoke_test(SITE, https_port, http_port=http_port, cafile=str(pki[ca]), connect_to="127.0.0.1")


def test_healthy_site_passes(pki: dict[str, Path], servers: tuple[type[Site], int, int]) -> None:
    _, https_port, http_port = servers
    check(pki, https_port, http_port)


def test_untrusted_certificate_fails(pki: dict[str, Path], servers: tuple[type[Site], int, int]) -> None:
    _, https_port, http_port = servers
    with pytest.raises(KitError, match="does not verify"):
        check(pki, https_port, http_port, ca="other_ca")


def test_failing_readyz_fails(pki: dict[str, Path], servers: tuple[type[Site], int, int]) -> None:
    site, https_port, http_port = servers
    site.readyz_status = 503
    with pytest.raises(KitError, match="answered 503"):
        check(pki, https_port, http_port)


def test_missing_hsts_fails(pki: dict[str, Path], servers: tuple[type[Site], int, int]) -> None:
    site, https_port, http_port = servers
    site.hsts = False
    with pytest.raises(KitError, match="no Strict-Transport-Security"):
        check(pki, https_port, http_port)


def test_plain_http_without_redirect_fails(
    pki: dict[str, Path], servers: tuple[type[Site], int, int]
) -> None:
    site, https_port, http_port = servers
    site.redirect = False
    with pytest.raises(KitError, match="expected a permanent redirect to HTTPS"):
        check(pki, https_port, http_port)


def test_nothing_listening_fails_naming_the_address(pki: dict[str, Path]) -> None:
    with pytest.raises(KitError, match=r"cannot connect to 127\.0\.0\.1:9 for app\.soc2kit\.test"):
        smoke_test(SITE, 9, cafile=str(pki["ca"]), connect_to="127.0.0.1")
