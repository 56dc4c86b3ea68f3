"""nginx role: one test per control, on the converged app host (default scenario)."""

from __future__ import annotations

import json

testinfra_hosts = ["ansible://app_hosts"]


def test_nginx_package_installed(host):
    assert host.package("nginx").is_installed


def test_nginx_enabled_and_running(host):
    service = host.service("nginx")
    assert service.is_enabled
    assert service.is_running


def test_nginx_listens_on_http_and_https(host):
    for port in (80, 443):
        assert host.socket(f"tcp://0.0.0.0:{port}").is_listening


def test_nginx_configuration_valid(host):
    assert host.run("nginx -t").rc == 0


def test_debian_default_site_disabled(host):
    assert not host.file("/etc/nginx/sites-enabled/default").exists


def test_nginx_config_files_root_owned_not_world_writable(host):
    for path in (
        "/etc/nginx/nginx.conf",
        "/etc/nginx/sites-available/soc2kit.conf",
        "/etc/nginx/snippets/soc2kit-security-headers.conf",
        "/etc/nginx/snippets/soc2kit-proxy.conf",
    ):
        f = host.file(path)
        assert f.user == "root"
        assert f.mode == 0o644, path


def test_nginx_effective_tls_settings_override_debian_defaults(host):
    dump = host.check_output("nginx -T 2>/dev/null")
    protocols = [line.strip() for line in dump.splitlines() if line.strip().startswith("ssl_protocols")]
    assert protocols == ["ssl_protocols TLSv1.2 TLSv1.3;"]
    assert "ssl_session_tickets off;" in dump
    assert "ssl_prefer_server_ciphers off;" in dump
    assert "ssl_ecdh_curve X25519:prime256v1:secp384r1;" in dump
    assert "ssl_stapling on" not in dump


def test_nginx_server_tokens_off(host):
    assert "server_tokens off;" in host.check_output("nginx -T 2>/dev/null")


def test_nginx_no_add_header_inside_locations(host):
    # An add_header inside a location silently drops the server-level security headers there.
    site = host.file("/etc/nginx/sites-available/soc2kit.conf").content_string
    assert "add_header" not in site


def test_nginx_access_log_lines_are_json(host):
    lines = host.file("/var/log/nginx/access.log").content_string.strip().splitlines()
    assert lines, "access log is empty"
    for line in lines[-50:]:
        entry = json.loads(line)
        assert {"time", "remote_addr", "method", "uri", "status", "request_time"} <= entry.keys()
        assert isinstance(entry["status"], int)


def test_nginx_logs_not_world_readable(host):
    for path in ("/var/log/nginx/access.log", "/var/log/nginx/error.log"):
        assert host.file(path).mode & 0o007 == 0, path


def test_nginx_unit_sandboxed(host):
    assert host.file("/etc/systemd/system/nginx.service.d/soc2kit-hardening.conf").exists
    # systemd-analyze exits non-zero when the exposure is above the threshold.
    result = host.run("systemd-analyze security --threshold=30 --no-pager nginx.service")
    assert result.rc == 0, result.stdout[-400:]
    assert "ProtectSystem=strict" in host.check_output("systemctl cat nginx.service")


def test_nginx_reloads_after_configuration_test(host):
    # The role's handler chain: `nginx -t` then reload (not restart): the master keeps its pid.
    pid_before = host.check_output("cat /run/nginx.pid")
    host.check_output("nginx -t -q && systemctl reload nginx.service")
    assert host.check_output("cat /run/nginx.pid") == pid_before
