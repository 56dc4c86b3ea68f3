"""apache role: one test per control, on the converged app host (apache scenario)."""

from __future__ import annotations

import json

testinfra_hosts = ["ansible://app_hosts"]


def test_apache_packages_installed(host):
    for name in ("apache2", "libapache2-mod-security2"):
        assert host.package(name).is_installed, name


def test_apache_enabled_and_running(host):
    service = host.service("apache2")
    assert service.is_enabled
    assert service.is_running


def test_apache_listens_on_http_and_https(host):
    listening = host.check_output("ss -Htln")
    for port in (80, 443):
        assert f":{port} " in listening, port


def test_apache_configuration_valid(host):
    assert host.run("apache2ctl configtest").rc == 0


def test_apache_uses_event_mpm(host):
    assert "Server MPM:     event" in host.check_output("apache2ctl -V")


def test_apache_required_modules_loaded(host):
    modules = host.check_output("apache2ctl -M 2>/dev/null")
    for module in (
        "ssl_module",
        "headers_module",
        "proxy_module",
        "proxy_http_module",
        "reqtimeout_module",
        "security2_module",
    ):
        assert module in modules, module
    for module in ("status_module", "autoindex_module", "deflate_module", "mpm_prefork_module"):
        assert module not in modules, module


def test_debian_defaults_disabled(host):
    for path in ("/etc/apache2/sites-enabled/000-default.conf", "/etc/apache2/conf-enabled/security.conf"):
        assert not host.file(path).exists, path


def test_apache_tls_settings_override_debian_defaults(host):
    ssl_conf = host.file("/etc/apache2/mods-available/ssl.conf").content_string
    assert "SSLProtocol -all +TLSv1.2 +TLSv1.3" in ssl_conf
    assert "SSLSessionTickets off" in ssl_conf
    assert "SSLHonorCipherOrder off" in ssl_conf
    assert "SSLOpenSSLConfCmd Curves X25519:prime256v1:secp384r1" in ssl_conf
    assert "SSLUseStapling off" in ssl_conf


def test_apache_server_tokens_prod(host):
    conf = host.file("/etc/apache2/conf-enabled/soc2kit.conf").content_string
    assert "ServerTokens Prod" in conf
    assert "ServerSignature Off" in conf
    assert "TraceEnable Off" in conf


def test_apache_config_files_root_owned_not_world_writable(host):
    for path in (
        "/etc/apache2/mods-available/ssl.conf",
        "/etc/apache2/conf-available/soc2kit.conf",
        "/etc/apache2/sites-available/soc2kit.conf",
    ):
        f = host.file(path)
        assert f.user == "root"
        assert f.mode == 0o644, path


def test_apache_access_log_lines_are_json(host):
    lines = host.file("/var/log/apache2/access.log").content_string.strip().splitlines()
    assert lines, "access log is empty"
    for line in lines[-50:]:
        entry = json.loads(line)
        assert {"time", "remote_addr", "method", "uri", "status", "request_time_us"} <= entry.keys()
        assert isinstance(entry["status"], int)


def test_apache_logs_not_world_readable(host):
    for path in ("/var/log/apache2/access.log", "/var/log/apache2/error.log"):
        assert host.file(path).mode & 0o007 == 0, path


def test_apache_unit_sandboxed(host):
    assert host.file("/etc/systemd/system/apache2.service.d/soc2kit-hardening.conf").exists
    result = host.run("systemd-analyze security --threshold=40 --no-pager apache2.service")
    assert result.rc == 0, result.stdout[-400:]
    assert "ProtectSystem=strict" in host.check_output("systemctl cat apache2.service")


def test_apache_reloads_gracefully_after_configuration_test(host):
    pid_before = host.check_output("cat /run/apache2/apache2.pid")
    host.check_output("apache2ctl configtest && systemctl reload apache2.service")
    assert host.check_output("cat /run/apache2/apache2.pid") == pid_before
