"""The real client address behind the reverse proxy.

X-Forwarded-For is believed only when the direct peer (REMOTE_ADDR) is one of settings.TRUSTED_PROXIES
(addresses or networks; "unix" stands for a unix-socket peer, whose REMOTE_ADDR is empty and
which counts as 127.0.0.1). The header
is then read from the right: each hop that is itself a trusted proxy is skipped, and the first other
address is the client. Entries a client wrote to the left of that are never used, so a forged header
cannot change the address. Used for the audit trail and, through ``get_lockout_key``, for the
django-axes lockout (AXES_CLIENT_IP_CALLABLE).
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

UNIX_SOCKET = "unix"
LOOPBACK = ipaddress.ip_address("127.0.0.1")
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _trusted(entries: tuple[str, ...]) -> tuple[bool, tuple[_Network, ...]]:
    networks = []
    for entry in entries:
        if entry == UNIX_SOCKET:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"DJANGO_TRUSTED_PROXIES contains {entry!r}, which is not an IP address or network; "
                "use addresses/CIDRs (e.g. 127.0.0.1,10.0.0.0/16) or 'unix'."
            ) from exc
    return UNIX_SOCKET in entries, tuple(networks)


def _parse(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    address = address.strip()
    if address.startswith("[") and "]" in address:  # [v6]:port
        address = address[1 : address.index("]")]
    elif address.count(":") == 1:  # v4:port
        address = address.split(":", 1)[0]
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped:
        return parsed.ipv4_mapped
    return parsed


def _is_trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: tuple[_Network, ...]
) -> bool:
    return any(address in network for network in networks)


def get_client_ip(request: HttpRequest) -> str:
    trust_unix, networks = _trusted(tuple(settings.TRUSTED_PROXIES))
    remote = (request.META.get("REMOTE_ADDR", "") or "").strip()
    peer = _parse(remote)
    if peer is None and remote in ("", UNIX_SOCKET):
        # A unix-socket peer is a process on this host: loopback is the honest address for it, and
        # django-axes needs an IP address to key on.
        peer = LOOPBACK
        peer_trusted = trust_unix
    else:
        peer_trusted = peer is not None and _is_trusted(peer, networks)
    if not peer_trusted:
        return str(peer) if peer is not None else remote
    client = peer
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    for hop in reversed([part for part in forwarded.split(",") if part.strip()]):
        address = _parse(hop)
        if address is None:
            break  # garbage in the chain: stop at the last hop we could trust
        client = address
        if not _is_trusted(address, networks):
            break
    return str(client)


# One IPv6 client usually holds a whole /64 (SLAAC, privacy addresses): keyed per address, it could
# try every password limit's worth from each of 2**64 addresses.
IPV6_CLIENT_PREFIX = 64


def get_lockout_key(request: HttpRequest) -> str:
    """The address django-axes counts failures under: the client's IPv4 address, or for IPv6 the first
    address of its /64 (``2001:db8:1:2::``), so that every address of one /64 shares one budget."""
    client = get_client_ip(request)
    address = _parse(client)
    if isinstance(address, ipaddress.IPv6Address):
        network = ipaddress.IPv6Network((address, IPV6_CLIENT_PREFIX), strict=False)
        return str(network.network_address)
    return client
