"""HTTPS smoke test of a deployed site: the certificate verifies for the public name, /readyz answers 200
over HTTPS with HSTS, and plain HTTP redirects to HTTPS.

`connect_to` sends the connection to another address while TLS and the Host header use the public
name (what `curl --resolve` does), so the local stack is tested through 127.0.0.1.
"""

from __future__ import annotations

import http.client
import socket
import ssl

from . import KitError

TIMEOUT_SECONDS = 15


def _request(
    host: str, port: int, path: str, *, tls: ssl.SSLContext | None, connect_to: str | None
) -> http.client.HTTPResponse:
    address = (connect_to or host, port)
    try:
        sock = socket.create_connection(address, timeout=TIMEOUT_SECONDS)
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname=host)
    except ssl.SSLCertVerificationError as error:
        raise KitError(
            f"smoke test: the certificate of https://{host}:{port} does not verify: {error.verify_message}",
            "check that certbot obtained the certificate for this name (certbot certificates on the host) "
            "and that the client trusts its CA",
        ) from error
    except OSError as error:
        raise KitError(
            f"smoke test: cannot connect to {address[0]}:{port} for {host}: {error}",
            "check DNS (the name must point at the host or load balancer) and that ports 80/443 are open",
        ) from error
    connection_class = http.client.HTTPSConnection if tls is not None else http.client.HTTPConnection
    connection = connection_class(host, port, timeout=TIMEOUT_SECONDS)
    connection.sock = sock  # already connected (and TLS-wrapped) to the chosen address
    connection.request("GET", path, headers={"Host": host if port in (80, 443) else f"{host}:{port}"})
    return connection.getresponse()


def smoke_test(
    host: str,
    https_port: int = 443,
    *,
    http_port: int | None = 80,
    cafile: str | None = None,
    connect_to: str | None = None,
    path: str = "/readyz",
) -> None:
    """Raises KitError naming the first thing that does not hold."""
    tls = ssl.create_default_context(cafile=cafile)
    tls.minimum_version = ssl.TLSVersion.TLSv1_2
    response = _request(host, https_port, path, tls=tls, connect_to=connect_to)
    url = f"https://{host}:{https_port}{path}"
    if response.status != 200:
        raise KitError(
            f"smoke test: {url} answered {response.status} {response.reason}, expected 200",
            "look at the app's log (journalctl -u the app service) and the web server's error log "
            "on the host",
        )
    if not response.getheader("Strict-Transport-Security"):
        raise KitError(
            f"smoke test: {url} has no Strict-Transport-Security header",
            "check the web server role's headers",
        )
    if http_port is not None:
        plain = _request(host, http_port, "/", tls=None, connect_to=connect_to)
        location = plain.getheader("Location") or ""
        if plain.status not in (301, 308) or not location.startswith(f"https://{host}"):
            raise KitError(
                f"smoke test: http://{host}:{http_port}/ answered {plain.status} (Location {location!r}), "
                "expected a permanent redirect to HTTPS",
                "check the web server role's HTTP server block",
            )
    print(f"smoke test: {url} ok (200, HSTS, TLS verified)", flush=True)
