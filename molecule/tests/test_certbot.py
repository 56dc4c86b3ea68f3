"""certbot role: certificate from the local ACME CA, renewal by systemd, loud failures."""

from __future__ import annotations

import pytest

testinfra_hosts = ["ansible://app_hosts"]

DOMAIN = "app.soc2kit.test"
LIVE = f"/etc/letsencrypt/live/{DOMAIN}"
CA_BUNDLE = "/etc/letsencrypt/soc2kit-acme-ca-bundle.pem"
ACME_DIR = "https://acme:14000/dir"


def test_certbot_packages_installed(host):
    assert host.package("certbot").is_installed


def test_certbot_timer_enabled_and_active(host):
    timer = host.service("certbot.timer")
    assert timer.is_enabled
    assert timer.is_running


def test_certificate_lineage_present(host):
    for name in ("cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"):
        assert host.file(f"{LIVE}/{name}").exists, name


def test_private_key_is_ecdsa_and_root_only(host):
    key = host.file(f"{LIVE}/privkey.pem").linked_to
    f = host.file(key)
    assert f.user == "root"
    assert f.mode == 0o600
    assert "ASN1 OID: prime256v1" in host.check_output(f"openssl pkey -in {key} -noout -text")


def test_certificate_issued_by_acme_ca_for_the_site(host):
    text = host.check_output(f"openssl x509 -in {LIVE}/cert.pem -noout -issuer -ext subjectAltName")
    assert "Pebble Intermediate CA" in text
    assert f"DNS:{DOMAIN}" in text


def test_certificate_chain_verifies_against_acme_root_of_this_run(host):
    host.check_output(f"curl -fsS --cacert {CA_BUNDLE} -o /tmp/acme-root.pem https://acme:15000/roots/0")
    result = host.run(
        f"openssl verify -CAfile /tmp/acme-root.pem -untrusted {LIVE}/chain.pem {LIVE}/cert.pem"
    )
    assert result.rc == 0, result.stderr


def test_certificate_lives_90_days(host):
    out = host.check_output(f"openssl x509 -in {LIVE}/cert.pem -noout -startdate -enddate")
    start = host.check_output(
        f'date -d "$(openssl x509 -in {LIVE}/cert.pem -noout -startdate | cut -d= -f2)" +%s'
    )
    end = host.check_output(
        f'date -d "$(openssl x509 -in {LIVE}/cert.pem -noout -enddate | cut -d= -f2)" +%s'
    )
    # pebble sets notAfter one second before the end of the period.
    assert 7776000 - 1 <= int(end) - int(start) <= 7776000, out


def test_cli_ini_points_at_configured_acme_server_with_ecdsa_webroot(host):
    conf = host.file("/etc/letsencrypt/cli.ini").content_string
    assert f"server = {ACME_DIR}" in conf
    assert "key-type = ecdsa" in conf
    assert "authenticator = webroot" in conf


def test_renewal_configuration_keeps_acme_server_and_ecdsa(host):
    conf = host.file(f"/etc/letsencrypt/renewal/{DOMAIN}.conf").content_string
    assert f"server = {ACME_DIR}" in conf
    assert "key_type = ecdsa" in conf


def test_scheduled_renewal_trusts_acme_ca_bundle(host):
    env = host.check_output("systemctl show certbot.service -p Environment")
    assert f"REQUESTS_CA_BUNDLE={CA_BUNDLE}" in env
    assert host.file(CA_BUNDLE).mode == 0o644


def test_renewal_failure_reported_by_onfailure_unit(host):
    assert "certbot-renewal-failure.service" in host.check_output(
        "systemctl show certbot.service -p OnFailure"
    )


def test_deploy_hook_validates_before_reload(host):
    hook = host.file("/etc/letsencrypt/renewal-hooks/deploy/50-soc2kit-reload-web-server")
    assert hook.mode == 0o755
    assert ("nginx -t" in hook.content_string) or ("apache2ctl configtest" in hook.content_string)
    assert host.run(hook.path).rc == 0


def test_renew_dry_run_against_local_acme_server_passes(host):
    result = host.run(
        f"REQUESTS_CA_BUNDLE={CA_BUNDLE} certbot renew --dry-run "
        f"--server {ACME_DIR} --no-random-sleep-on-renew"
    )
    assert result.rc == 0, result.stdout + result.stderr
    assert "Congratulations, all simulated renewals succeeded" in result.stdout + result.stderr


@pytest.fixture
def failing_renewal(host):
    """certbot.service made to renew against a wrong ACME directory URL (runtime drop-in, removed after)."""
    dropin = "/run/systemd/system/certbot.service.d/zz-test-failing-renewal.conf"
    host.check_output(
        "mkdir -p /run/systemd/system/certbot.service.d && printf '%s\\n' '[Service]' 'ExecStart=' "
        "'ExecStart=/usr/bin/certbot -q renew --force-renewal --no-random-sleep-on-renew "
        "--server https://acme:14000/no-such-directory' "
        f"> {dropin} "
        "&& systemctl daemon-reload"
    )
    yield
    host.run(f"rm -f {dropin} && systemctl daemon-reload && systemctl reset-failed certbot.service")


def test_failed_renewal_logged_at_err_and_old_certificate_kept(host, failing_renewal):
    serial_before = host.check_output(f"openssl x509 -in {LIVE}/cert.pem -noout -serial")
    since = host.check_output("date '+%Y-%m-%d %H:%M:%S'")
    assert host.run("timeout 120 systemctl start certbot.service").rc != 0
    # OnFailure= runs asynchronously; wait for its message at err priority.
    found = host.run(
        "for i in $(seq 1 30); do "
        f"journalctl --since '{since}' -p err -t certbot-renewal --no-pager -q | grep -q FAILED && exit 0; "
        "sleep 1; done; exit 1"
    )
    assert found.rc == 0, "no err-priority report of the failed renewal in the journal"
    assert host.check_output(f"openssl x509 -in {LIVE}/cert.pem -noout -serial") == serial_before
