"""X-Forwarded-For is believed only from the configured proxies, and read from the right."""

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from soc2kit.accounts.client_ip import get_client_ip


def ip(remote: str, forwarded: str | None = None) -> str:
    meta: dict[str, Any] = {"REMOTE_ADDR": remote}  # WSGI environ entries, as **extra
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return get_client_ip(RequestFactory().get("/", **meta))


@pytest.fixture(autouse=True)
def _proxies(settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1", "::1", "unix", "10.0.0.0/16"]


def test_direct_client_is_remote_addr():
    assert ip("203.0.113.7") == "203.0.113.7"


def test_forwarded_header_from_an_untrusted_peer_is_ignored():
    assert ip("203.0.113.7", "198.51.100.1") == "203.0.113.7"


def test_forwarded_header_from_the_proxy_gives_the_client():
    assert ip("127.0.0.1", "198.51.100.1") == "198.51.100.1"
    assert ip("::1", "2001:db8::5") == "2001:db8::5"
    assert ip("", "198.51.100.1") == "198.51.100.1"  # gunicorn on a unix socket: empty REMOTE_ADDR


def test_client_forged_entries_left_of_the_real_one_are_ignored():
    # the client sent "X-Forwarded-For: 1.2.3.4"; nginx appended the address it saw
    assert ip("127.0.0.1", "1.2.3.4, 198.51.100.1") == "198.51.100.1"


def test_chains_of_trusted_proxies_are_skipped():
    assert ip("127.0.0.1", "198.51.100.1, 10.0.3.4") == "198.51.100.1"


def test_garbage_in_the_header_stops_at_the_last_trusted_hop():
    assert ip("127.0.0.1", "198.51.100.1, not-an-ip") == "127.0.0.1"
    assert ip("127.0.0.1", "") == "127.0.0.1"


def test_ports_and_mapped_addresses_are_normalised():
    assert ip("127.0.0.1", "198.51.100.1:4711") == "198.51.100.1"
    assert ip("::ffff:203.0.113.7") == "203.0.113.7"


def test_unix_socket_peer_untrusted_when_not_configured(settings):
    settings.TRUSTED_PROXIES = ["127.0.0.2"]
    assert ip("", "198.51.100.1") == "127.0.0.1"
    assert ip("") == "127.0.0.1"


def test_bad_proxy_setting_is_a_clear_error(settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1", "proxy.example"]
    with pytest.raises(ImproperlyConfigured, match=r"'proxy\.example'"):
        ip("127.0.0.1")
