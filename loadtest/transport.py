"""The two ways the load test reaches the app, as `requests` adapters (locust's HttpUser uses requests).

- `LoopbackSiteAdapter`: HTTPS through the web server. TCP goes to the loopback address in the URL
  (never a DNS lookup); SNI and the certificate check use the site's name; only the site's CA is
  trusted (the local ACME server's root), not the system store.
- `UnixSocketAdapter`: plain HTTP to gunicorn's unix socket, for the direct measurement. URLs keep the
  `https` scheme so the session's `__Host-` cookies (Secure) are sent, as the browser would through the
  proxy; the caller adds the headers the proxy would set (`X-Forwarded-Proto: https`).
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool


class LoopbackSiteAdapter(HTTPAdapter):
    def __init__(self, site_name: str, ca_file: str, **kwargs: Any) -> None:
        self._site_name = site_name
        self._context = ssl.create_default_context(cafile=ca_file)
        super().__init__(**kwargs)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        pool_kwargs.update(
            ssl_context=self._context, server_hostname=self._site_name, assert_hostname=self._site_name
        )
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        # The context above holds the only trusted CA; requests would otherwise add certifi's bundle.
        conn.cert_reqs = "CERT_REQUIRED"
        conn.ca_certs = None
        conn.ca_cert_dir = None


def _unix_connection_class(socket_path: str) -> type[HTTPConnection]:
    class UnixHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            if isinstance(self.timeout, int | float):
                sock.settimeout(self.timeout)
            try:
                sock.connect(socket_path)
            except OSError:
                sock.close()
                raise
            return sock

    return UnixHTTPConnection


class UnixSocketAdapter(HTTPAdapter):
    def __init__(self, socket_path: str, pool_size: int = 10, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pool = HTTPConnectionPool("localhost", maxsize=pool_size)
        self._pool.ConnectionCls = _unix_connection_class(socket_path)

    def get_connection_with_tls_context(
        self, request: Any, verify: Any, proxies: Any = None, cert: Any = None
    ) -> HTTPConnectionPool:
        return self._pool

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        """No TLS on a unix socket."""

    def close(self) -> None:
        self._pool.close()
        super().close()
