"""The HTTPS front, seen from outside, the same for nginx and Apache (runs in both scenarios).

Every check goes to where the inventory publishes the site (loopback ports for containers, the public
name on AWS), with SNI and Host set to the site's name and the certificate verified against the ACME
server's root (the local ACME server's root of this run, or the system's trust store).
"""

from __future__ import annotations

import json
import ssl
import time
import uuid
import warnings
from http.cookies import SimpleCookie

import pytest
from conftest import APP_CSP_DIRECTIVES, PROXY_OWNED_HEADERS, csp_directives

# Mozilla server-side TLS 6.0 intermediate TLS 1.2 suites (ECDSA certificate: the ECDSA ones).
MOZILLA_TLS12_ECDSA = [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
]
# Suites outside the profile that OpenSSL still offers: CBC and SHA-1 based, no forward secrecy.
NON_MOZILLA_TLS12 = [
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-ECDSA-AES256-SHA384",
    "ECDHE-ECDSA-AES128-SHA256",
    "AES128-GCM-SHA256",
]


def _context(site, version: ssl.TLSVersion, ciphers: str | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if site.acme_root:
        ctx.load_verify_locations(str(site.acme_root))
    else:
        ctx.load_default_certs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ctx.maximum_version = version
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


def test_certificate_chains_to_acme_root_and_names_the_site(site):
    with site.handshake(site.tls_context()) as tls:  # default context: chain and host name verified
        cert = tls.getpeercert()
    assert ("DNS", site.domain) in cert["subjectAltName"]


def test_certificate_key_is_ecdsa(site):
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

    with site.handshake(site.tls_context()) as tls:
        der = tls.getpeercert(binary_form=True)
    key = x509.load_der_x509_certificate(der).public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)


@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
def test_tls10_and_tls11_refused_by_server(site, version):
    ctx = _context(site, getattr(ssl.TLSVersion, version), "ALL:@SECLEVEL=0")
    with pytest.raises(ssl.SSLError) as refused:
        site.handshake(ctx)
    # The server's protocol_version alert, not a client that could not even offer the version.
    assert refused.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION"


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_tls12_and_tls13_accepted(site, version):
    with site.handshake(_context(site, getattr(ssl.TLSVersion, version))) as tls:
        assert tls.version() == version.replace("_", ".")


@pytest.mark.parametrize("cipher", MOZILLA_TLS12_ECDSA)
def test_tls12_mozilla_intermediate_suites_accepted(site, cipher):
    with site.handshake(_context(site, ssl.TLSVersion.TLSv1_2, cipher)) as tls:
        assert tls.cipher()[0] == cipher


@pytest.mark.parametrize("cipher", NON_MOZILLA_TLS12)
def test_tls12_suites_outside_the_profile_refused(site, cipher):
    with pytest.raises(ssl.SSLError):
        site.handshake(_context(site, ssl.TLSVersion.TLSv1_2, cipher))


def test_tls12_session_tickets_not_issued(site):
    with site.handshake(_context(site, ssl.TLSVersion.TLSv1_2)) as tls:
        tls.do_handshake()
        assert tls.session is not None
        assert not tls.session.has_ticket


def test_http_redirects_to_https_with_path_and_query(site):
    response, _ = site.http("GET", "/some/page/?q=1")
    assert response.status == 301
    assert response.getheader("Location") == f"https://{site.domain}/some/page/?q=1"


def test_acme_challenge_served_over_http_not_redirected(site, app_host):
    token = uuid.uuid4().hex
    path = f"/var/www/acme-challenge/.well-known/acme-challenge/{token}"
    app_host.check_output(f"echo {token}-content > {path}")
    try:
        response, body = site.http("GET", f"/.well-known/acme-challenge/{token}")
    finally:
        app_host.check_output(f"rm -f {path}")
    assert response.status == 200
    assert body.decode().strip() == f"{token}-content"


# Response kinds: the app's redirect from the root, its JSON, its own error page, a static file from
# the release's collectstatic (served by the web server itself), a missing static file (the web
# server's error page), the app's login page.
STATIC_FILE = "/static/admin/css/base.css"
RESPONSE_PATHS = ["/", "/healthz", "/missing/page/", STATIC_FILE, "/static/absent.css", "/accounts/login/"]


@pytest.mark.parametrize("path", RESPONSE_PATHS)
def test_security_headers_present_exactly_once(site, path):
    response, _ = site.https("GET", path)
    for name, value in PROXY_OWNED_HEADERS.items():
        assert response.msg.get_all(name) == [value], f"{name} on {path}: {response.msg.get_all(name)}"


@pytest.mark.parametrize("path", ["/healthz", "/missing/page/", "/accounts/login/"])
def test_app_csp_passes_through_exactly_once(site, path):
    response, _ = site.https("GET", path)
    headers = response.msg.get_all("Content-Security-Policy") or []
    assert len(headers) == 1, headers
    assert csp_directives(headers[0]) == APP_CSP_DIRECTIVES


def test_server_header_reveals_no_version(site):
    response, _ = site.https("GET", "/")
    server = response.getheader("Server", "")
    assert not any(ch.isdigit() for ch in server), server


def test_static_files_served_by_web_server_not_app(site):
    response, body = site.https("GET", STATIC_FILE)
    assert response.status == 200
    assert b"django" in body.lower()  # the admin's stylesheet from the release's collectstatic
    # Every response of the app carries its CSP; a file the web server serves itself does not.
    assert response.getheader("Content-Security-Policy") is None
    assert "max-age=" in response.getheader("Cache-Control", "")


def test_app_receives_forwarded_proto_https_and_host(site):
    # The production settings redirect plain-HTTP requests (SECURE_SSL_REDIRECT honours X-Forwarded-Proto)
    # and answer 400 to a Host outside DJANGO_ALLOWED_HOSTS: a 200 from the app proves both reached it.
    response, body = site.https("GET", "/healthz")
    assert response.status == 200, body[:300]
    assert json.loads(body) == {"status": "ok"}
    # A Host the app does not serve is refused by the app, so the proxy passes Host on as sent.
    response, _ = site.https("GET", "/healthz", headers={"Host": "other.example"})
    assert response.status == 400
    assert response.getheader("Content-Security-Policy") is not None  # Django's answer, not the proxy's


# A file upload (multipart, as a browser sends it) with the CSRF cookie and the site's Referer but no
# token: Django reads the whole body looking for the token, then refuses the POST with 403 (its CSP
# header shows the answer is the app's), so the body went through the proxy. Beyond its body limit
# (20 MB) the proxy itself answers 413.
BOUNDARY = "soc2kit-upload-boundary"


def upload(site, size: int):
    response, _ = site.https("GET", "/accounts/login/")
    cookies = "; ".join(
        f"{name}={morsel.value}"
        for header in response.msg.get_all("Set-Cookie") or []
        for name, morsel in SimpleCookie(header).items()
    )
    assert "csrftoken" in cookies, cookies
    body = (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="upload.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + b"x" * size
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    headers = {
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Cookie": cookies,
        "Referer": f"https://{site.domain}/accounts/login/",
    }
    return site.https("POST", "/accounts/login/", body=body, headers=headers)


def test_upload_within_body_limit_reaches_app(site):
    response, _ = upload(site, 5 * 1024 * 1024)
    assert response.status == 403
    assert response.getheader("Content-Security-Policy") is not None


def test_upload_over_body_limit_refused_with_413(site):
    response, _ = upload(site, 21 * 1024 * 1024)
    assert response.status == 413
    assert response.getheader("Content-Security-Policy") is None


# Last in this module: it uses up this client's login allowance, then waits until it is whole again.
def test_login_path_rate_limited_beyond_burst(site, facts):
    def attempts() -> list[int]:
        return [site.https("POST", "/api/auth/login/", body=b"u=x")[0].status for _ in range(25)]

    statuses = attempts()
    if statuses[0] == 429:
        # Earlier tests (the personal-data session, the uploads above) used this client's allowance up; it is
        # whole again after this wait, and then the first attempts must pass the limit.
        time.sleep(facts.login_refill_seconds)
        statuses = attempts()
    assert statuses[0] == 403, statuses  # the app's answer (no CSRF token): the first ones pass the limit
    assert 429 in statuses, statuses
    # Other paths are not limited.
    assert site.https("GET", "/healthz")[0].status == 200
    # A check leaves what it checks as it found it: without this wait, whoever logs in next from this address
    # (the user who just ran `make deploy` and types the printed login, the next test) is refused with 429.
    time.sleep(facts.login_refill_seconds)
    refilled = site.https("POST", "/api/auth/login/", body=b"u=x")[0].status
    assert refilled == 403, f"the login allowance is not whole again ({refilled})"
