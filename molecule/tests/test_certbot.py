"""certbot role: certificate from the inventory's ACME CA, renewal by systemd, loud failures.

The site's name, the ACME directory and the certificate's issuer come from the inventory (site_facts.py):
pebble on the local stacks, Let's Encrypt on AWS.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import ACME_CA_BUNDLE as CA_BUNDLE
from conftest import aide_differences, scenario_playbook

testinfra_hosts = ["ansible://app_hosts"]
# An ACME directory that cannot answer (nothing listens on port 9 of the host's loopback): a renewal
# against it fails without any traffic leaving the host.
UNREACHABLE_ACME_DIR = "https://127.0.0.1:9/no-such-directory"
APP_HOSTS_VARS = Path(__file__).resolve().parents[2] / "ansible" / "group_vars" / "app_hosts.yml"
ACME_WEBROOT = yaml.safe_load(APP_HOSTS_VARS.read_text(encoding="utf-8"))["site_acme_webroot"]


@pytest.fixture(scope="module")
def live(facts) -> str:
    return f"/etc/letsencrypt/live/{facts.domain}"


def test_certbot_packages_installed(host):
    assert host.package("certbot").is_installed


def test_certbot_timer_enabled_and_active(host):
    timer = host.service("certbot.timer")
    assert timer.is_enabled
    assert timer.is_running


def test_certificate_lineage_present(host, live):
    for name in ("cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"):
        assert host.file(f"{live}/{name}").exists, name


def test_private_key_is_ecdsa_and_root_only(host, live):
    key = host.file(f"{live}/privkey.pem").linked_to
    f = host.file(key)
    assert f.user == "root"
    assert f.mode == 0o600
    assert "ASN1 OID: prime256v1" in host.check_output(f"openssl pkey -in {key} -noout -text")


def test_certificate_issued_by_acme_ca_for_the_site(host, facts, live):
    text = host.check_output(f"openssl x509 -in {live}/cert.pem -noout -issuer -ext subjectAltName")
    assert facts.acme_issuer in text
    assert f"DNS:{facts.domain}" in text


def test_certificate_chain_verifies_against_acme_root(host, facts, live):
    """Against the private ACME server's root of this run, or the host's system trust store."""
    trust = ""
    if facts.acme_root_url:
        host.check_output(f"curl -fsS --cacert {CA_BUNDLE} -o /tmp/acme-root.pem {facts.acme_root_url}")
        trust = "-CAfile /tmp/acme-root.pem"
    result = host.run(f"openssl verify {trust} -untrusted {live}/chain.pem {live}/cert.pem")
    assert result.rc == 0, result.stderr


def test_certificate_lives_90_days(host, live):
    out = host.check_output(f"openssl x509 -in {live}/cert.pem -noout -startdate -enddate")
    start = host.check_output(
        f'date -d "$(openssl x509 -in {live}/cert.pem -noout -startdate | cut -d= -f2)" +%s'
    )
    end = host.check_output(
        f'date -d "$(openssl x509 -in {live}/cert.pem -noout -enddate | cut -d= -f2)" +%s'
    )
    # pebble sets notAfter one second before the end of the period.
    assert 7776000 - 1 <= int(end) - int(start) <= 7776000, out


def test_cli_ini_points_at_configured_acme_server_with_ecdsa_and_challenge(host, facts):
    conf = host.file("/etc/letsencrypt/cli.ini").content_string
    assert f"server = {facts.acme_directory_url}" in conf
    assert "key-type = ecdsa" in conf
    assert f"authenticator = {facts.acme_challenge}" in conf


def test_renewal_configuration_keeps_acme_server_and_ecdsa(host, facts):
    conf = host.file(f"/etc/letsencrypt/renewal/{facts.domain}.conf").content_string
    assert f"server = {facts.acme_directory_url}" in conf
    assert "key_type = ecdsa" in conf


def test_scheduled_renewal_trusts_the_acme_servers_ca(host, facts):
    """A private ACME server only through certbot's own bundle; a public one through the system's store."""
    env = host.check_output("systemctl show certbot.service -p Environment")
    if facts.private_acme_server:
        assert f"REQUESTS_CA_BUNDLE={CA_BUNDLE}" in env
        assert host.file(CA_BUNDLE).mode == 0o644
    else:
        assert "REQUESTS_CA_BUNDLE" not in env


def test_renewal_failure_reported_by_onfailure_unit(host):
    assert "certbot-renewal-failure.service" in host.check_output(
        "systemctl show certbot.service -p OnFailure"
    )


def test_deploy_hook_validates_before_reload(host):
    hook = host.file("/etc/letsencrypt/renewal-hooks/deploy/50-soc2kit-reload-web-server")
    assert hook.mode == 0o755
    assert ("nginx -t" in hook.content_string) or ("apache2ctl configtest" in hook.content_string)
    assert host.run(hook.path).rc == 0


def test_renew_dry_run_against_the_acme_server_passes(host, facts):
    # --server always: without it certbot goes to Let's Encrypt's staging server whatever the renewal
    # configuration says (a public ACME server's own directory is replaced by its staging one there too).
    trust = f"REQUESTS_CA_BUNDLE={CA_BUNDLE} " if facts.private_acme_server else ""
    result = host.run(
        f"{trust}certbot renew --dry-run --server {facts.acme_directory_url} --no-random-sleep-on-renew"
    )
    assert result.rc == 0, result.stdout + result.stderr
    assert "Congratulations, all simulated renewals succeeded" in result.stdout + result.stderr


@pytest.mark.cis("6.1.4.1")
def test_certbot_log_files_are_not_readable_by_others_whatever_the_callers_umask(host):
    # certbot has no umask setting: an operator's shell (umask 0022) would leave 0644 logs without the
    # role's default ACL on /var/log/letsencrypt. `certbot certificates` reads only, and opens a new log.
    result = host.run("umask 0022 && certbot certificates")
    assert result.rc == 0, result.stdout + result.stderr
    loose = host.check_output("find /var/log/letsencrypt -type f -perm /0137 -printf '%m %p\\n'")
    assert loose == "", f"certbot log files readable by others or writable by the group: {loose}"


@pytest.fixture
def failing_renewal(host):
    """certbot.service made to renew against a wrong ACME directory URL (runtime drop-in, removed after)."""
    dropin = "/run/systemd/system/certbot.service.d/zz-test-failing-renewal.conf"
    host.check_output(
        "mkdir -p /run/systemd/system/certbot.service.d && printf '%s\\n' '[Service]' 'ExecStart=' "
        "'ExecStart=/usr/bin/certbot -q renew --force-renewal --no-random-sleep-on-renew "
        f"--server {UNREACHABLE_ACME_DIR}' "
        f"> {dropin} "
        "&& systemctl daemon-reload"
    )
    yield
    # certbot also made an account folder for the unreachable server: remove it with the drop-in.
    host.run(
        f"rm -f {dropin} && rm -rf /etc/letsencrypt/accounts/127.0.0.1:9 "
        "&& systemctl daemon-reload && systemctl reset-failed certbot.service"
    )


# Disruptive: it raises a real renewal-failure alert (err priority) on the host it runs on.
@pytest.mark.disruptive
def test_failed_renewal_logged_at_err_and_old_certificate_kept(host, live, failing_renewal):
    serial_before = host.check_output(f"openssl x509 -in {live}/cert.pem -noout -serial")
    since = host.check_output("date '+%Y-%m-%d %H:%M:%S'")
    assert host.run("timeout 120 systemctl start certbot.service").rc != 0
    # OnFailure= runs asynchronously; wait for its message at err priority.
    found = host.run(
        "for i in $(seq 1 30); do "
        f"journalctl --since '{since}' -p err -t certbot-renewal --no-pager -q | grep -q FAILED && exit 0; "
        "sleep 1; done; exit 1"
    )
    assert found.rc == 0, "no err-priority report of the failed renewal in the journal"
    assert host.check_output(f"openssl x509 -in {live}/cert.pem -noout -serial") == serial_before


@pytest.mark.disruptive  # runs the site's AIDE tasks, which refresh the baseline when anything changed
@pytest.mark.cis("6.3.1")
def test_certbot_runs_are_no_change_for_aide_nor_for_a_redeploy(host):
    """certbot creates and removes its lock file in /etc/letsencrypt on every run (the timer's, or the dry
    run above), and an HTTP-01 token in the webroot on every renewal. Neither may show in the daily
    `aide --check`, nor make a re-deploy refresh the baseline: `make deploy ENV=local` run twice gave
    changed=1 for this."""
    name = host.backend.get_hostname()

    def aide_tasks_changed() -> str:
        done = scenario_playbook("site.yml", "--tags", "aide", "--limit", name)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        recap = re.search(rf"^{re.escape(name)}\s*:.*\bchanged=(\d+)", done.stdout, re.M)
        assert recap, done.stdout[-2000:]
        return recap.group(1)

    # First the baseline takes in whatever earlier tests changed (the failed renewal's account folder).
    aide_tasks_changed()
    with host.sudo():
        before = host.file("/etc/letsencrypt").mtime
        host.run_expect([0], "certbot certificates")
        token = f"{ACME_WEBROOT}/.well-known/acme-challenge/soc2kit-probe-token"
        host.run_expect([0], f"touch {token} && rm {token}")
        assert host.file("/etc/letsencrypt").mtime > before, "certbot's lock file no longer comes and goes"
    rc, listed = aide_differences(host, f"^(/etc/letsencrypt|{re.escape(ACME_WEBROOT)})")
    assert rc == 0, f"AIDE reports certbot's own comings and goings:\n{listed}"
    assert aide_tasks_changed() == "0", f"the AIDE tasks refreshed the baseline of {name} after certbot's run"
