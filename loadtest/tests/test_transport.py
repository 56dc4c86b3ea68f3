"""The load test's two transports against real local servers (loopback TLS and a unix socket)."""

from __future__ import annotations

import contextlib
import datetime
import http.server
import socketserver
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from transport import LoopbackSiteAdapter, UnixSocketAdapter

SITE = "app.soc2kit.test"


class RecordingHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[dict[str, str]]

    def do_GET(self) -> None:
        self.seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
        body = b"ok"
        self.send_response(200)
        if self.path == "/set-cookie":
            self.send_header("Set-Cookie", "__Host-sessionid=abc; Secure; HttpOnly; Path=/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_pki(tmp_path: Path, dns_name: str) -> tuple[Path, Path, Path]:
    """A CA and a leaf certificate for dns_name (ECDSA P-256), written as PEM files."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("test CA"))
        .issuer_name(_name("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(dns_name))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca_file, cert_file, key_file


@contextlib.contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[None]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def tls_server(tmp_path, request):
    """A TLS server on 127.0.0.1 with a certificate for request.param; records SNI names and requests."""
    ca_file, cert_file, key_file = make_pki(tmp_path, request.param)
    seen: list[dict[str, str]] = []
    sni: list[str | None] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    context.sni_callback = lambda sock, name, ctx: sni.append(name)
    handler = type("Handler", (RecordingHandler,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with serving(server):
        yield server.server_address[1], ca_file, seen, sni


@pytest.mark.parametrize("tls_server", [SITE], indirect=True)
def test_loopback_adapter_sends_sni_and_host_of_the_site_to_loopback(tls_server):
    port, ca_file, seen, sni = tls_server
    session = requests.Session()
    session.trust_env = False
    session.mount("https://", LoopbackSiteAdapter(SITE, str(ca_file)))
    response = session.get(f"https://127.0.0.1:{port}/readyz", headers={"Host": SITE}, timeout=10)
    assert response.status_code == 200
    assert sni == [SITE]
    assert seen[0]["host"] == SITE


@pytest.mark.parametrize("tls_server", ["other.example.test"], indirect=True)
def test_loopback_adapter_rejects_a_certificate_for_another_name(tls_server):
    port, ca_file, _, _ = tls_server
    session = requests.Session()
    session.trust_env = False
    session.mount("https://", LoopbackSiteAdapter(SITE, str(ca_file)))
    with pytest.raises(requests.exceptions.SSLError):
        session.get(f"https://127.0.0.1:{port}/", headers={"Host": SITE}, timeout=10)


@pytest.mark.parametrize("tls_server", [SITE], indirect=True)
def test_loopback_adapter_trusts_only_the_given_ca(tls_server, tmp_path):
    port, _, _, _ = tls_server
    (tmp_path / "other").mkdir()
    other_ca, _, _ = make_pki(tmp_path / "other", SITE)
    session = requests.Session()
    session.trust_env = False
    session.mount("https://", LoopbackSiteAdapter(SITE, str(other_ca)))
    with pytest.raises(requests.exceptions.SSLError):
        session.get(f"https://127.0.0.1:{port}/", headers={"Host": SITE}, timeout=10)


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        request, _ = super().get_request()
        return request, ("unix", 0)


def test_unix_adapter_reaches_the_socket_and_keeps_secure_cookies(tmp_path):
    seen: list[dict[str, str]] = []
    handler = type("Handler", (RecordingHandler,), {"seen": seen})
    server = UnixHTTPServer(str(tmp_path / "gunicorn.sock"), handler)
    with serving(server):
        session = requests.Session()
        session.trust_env = False
        session.mount("https://", UnixSocketAdapter(str(tmp_path / "gunicorn.sock")))
        session.headers.update({"Host": SITE, "X-Forwarded-Proto": "https"})
        assert session.get(f"https://{SITE}/set-cookie", timeout=10).status_code == 200
        assert session.get(f"https://{SITE}/api/customers/?page=2", timeout=10).status_code == 200
    assert seen[1]["path"] == "/api/customers/?page=2"
    assert seen[1]["host"] == SITE
    assert seen[1]["x-forwarded-proto"] == "https"
    assert "__Host-sessionid=abc" in seen[1]["cookie"]
