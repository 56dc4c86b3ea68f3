"""acme_server role: pebble and its mock DNS on the acme container (ENV=local and molecule only)."""

from __future__ import annotations

testinfra_hosts = ["ansible://acme_servers"]


def test_pebble_package_installed(host):
    assert host.package("pebble").is_installed


def test_pebble_and_mock_dns_enabled_and_running(host):
    for unit in ("pebble", "pebble-challtestsrv"):
        service = host.service(unit)
        assert service.is_enabled, unit
        assert service.is_running, unit


def test_pebble_listens_on_acme_and_management_ports(host):
    for port in (14000, 15000):
        assert (
            host.socket(f"tcp://0.0.0.0:{port}").is_listening or host.socket(f"tcp://:::{port}").is_listening
        )


# A DNS query for the A record of the name in argv[1] to the mock DNS; prints the first answer's address.
DNS_QUERY = "; ".join(
    [
        "import socket, struct, sys",
        "name = b''.join(bytes([len(p)]) + p.encode() for p in sys.argv[1].split('.')) + bytes(1)",
        "query = struct.pack('>HHHHHH', 1, 0x0100, 1, 0, 0, 0) + name + struct.pack('>HH', 1, 1)",
        "sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)",
        "sock.settimeout(5)",
        "sock.sendto(query, ('127.0.0.1', 8053))",
        "answer = sock.recv(512)",
        "assert struct.unpack('>H', answer[6:8])[0] >= 1, 'no answer record'",
        # The first answer record follows the echoed question; its name may be a 2-byte pointer.
        "pos = len(query)",
        "pos = pos + 2 if answer[pos] >= 192 else answer.index(bytes(1), pos) + 1",
        "print(socket.inet_ntoa(answer[pos + 10 : pos + 14]))",
    ]
)


def test_mock_dns_answers_site_name_with_app_address(host, app_host, facts):
    app_address = app_host.check_output("hostname -I").split()[0]
    assert host.check_output("python3 -c %s %s", DNS_QUERY, facts.domain) == app_address


def test_pebble_issues_90_day_certificates(host):
    assert (
        '"certificateValidityPeriod": 7776000' in host.file("/etc/pebble/pebble-config.json").content_string
    )


def test_pebble_listener_key_not_world_readable(host):
    f = host.file("/etc/pebble/listener/key.pem")
    assert f.mode == 0o640
    assert f.group == "pebble"
