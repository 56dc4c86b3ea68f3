"""Certificate renewal while the ACME server is down: the renewal fails loudly, the old certificate
keeps serving.

pebble is stopped in the acme container; certbot.service (the timer's unit, with its CA bundle and
its OnFailure= report) is started with a runtime drop-in that forces the renewal now. Expected: the
unit fails, certbot-renewal-failure.service logs the failure at err priority (and, where the scenario
has a log collector, the report reaches it), and the web server still serves the same certificate.

Restore (`finally`): the drop-in goes, pebble starts again. pebble forgets its accounts and its root CA
when it stops, so the restore registers a new ACME account for certbot if needed, renews for real
against the new root (the deploy hook reloads the web server) and saves the new root for clients.
"""

from __future__ import annotations

import socket
import ssl
import time

import pytest
from cryptography import x509
from kit.local import COLLECTOR_LOG_DIR, SITE_NAME, site_ca_file

from .ops import wait_for

DROP_IN_DIR = "/run/systemd/system/certbot.service.d"
DROP_IN = f"{DROP_IN_DIR}/zz-faulttest-forced-renewal.conf"
FORCED_RENEWAL = "/usr/bin/certbot -q renew --force-renewal --no-random-sleep-on-renew"
ACME_DIRECTORY = "https://acme:14000/dir"
ACME_CA_BUNDLE = "/etc/letsencrypt/soc2kit-acme-ca-bundle.pem"
ACCOUNTS_DIR = "/etc/letsencrypt/accounts/acme:14000/dir"
RENEWAL_CONF = f"/etc/letsencrypt/renewal/{SITE_NAME}.conf"


def served_certificate(stack, ca_file) -> x509.Certificate:
    """The certificate the web server presents for the site's name on loopback (verified against ca_file)."""
    context = ssl.create_default_context(cafile=str(ca_file))
    with (
        socket.create_connection(("127.0.0.1", stack.https_port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=SITE_NAME) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der)


def _acme_answers(stack) -> bool:
    result = stack.exec(
        stack.app,
        ["curl", "-fsS", "-o", "/dev/null", "--cacert", ACME_CA_BUNDLE, ACME_DIRECTORY],
        check=False,
    )
    return result.returncode == 0


def _collector_reports(stack, container: str) -> int:
    result = stack.sh(
        container,
        f"grep -rh 'certbot-renewal' {COLLECTOR_LOG_DIR} 2>/dev/null | grep -c FAILED",
        check=False,
    )
    return int(result.stdout.strip() or "0")


def _renew_for_real(stack) -> str:
    """A forced renewal against the restarted pebble; a new account first if pebble forgot ours."""
    renew = ["env", f"REQUESTS_CA_BUNDLE={ACME_CA_BUNDLE}", *FORCED_RENEWAL.split()]
    result = stack.exec(stack.app, renew, check=False)
    if result.returncode == 0:
        return "renewed with the existing account"
    stack.sh(
        stack.app,
        f"rm -rf '{ACCOUNTS_DIR}' && REQUESTS_CA_BUNDLE={ACME_CA_BUNDLE} "
        f"certbot register --server {ACME_DIRECTORY} && account=$(ls '{ACCOUNTS_DIR}') "
        f'&& sed -i "s/^account = .*/account = $account/" {RENEWAL_CONF}',
    )
    stack.exec(stack.app, renew)
    return "renewed after registering a new account (pebble forgot the old one)"


@pytest.mark.quick
def test_renewal_with_acme_server_down_fails_loudly_and_old_certificate_keeps_serving(stack, figures):
    collector = stack.scenario.find("log_collectors")
    reports_before = _collector_reports(stack, collector) if collector else None
    before = served_certificate(stack, stack.ca_file)
    since = stack.exec(stack.app, ["date", "+%Y-%m-%d %H:%M:%S"]).stdout.strip()
    restored = ""
    try:
        stack.exec(stack.acme, ["systemctl", "stop", "pebble.service"])
        assert not _acme_answers(stack), "the ACME server still answers after pebble was stopped"
        stack.sh(
            stack.app,
            f"mkdir -p {DROP_IN_DIR} && printf '%s\\n' '[Service]' 'ExecStart=' 'ExecStart={FORCED_RENEWAL}' "
            f"> {DROP_IN} && systemctl daemon-reload",
        )
        started = time.monotonic()
        renewal = stack.exec(stack.app, ["systemctl", "start", "certbot.service"], check=False)
        renewal_seconds = time.monotonic() - started
        report = wait_for(
            lambda: stack.exec(
                stack.app,
                [
                    "journalctl",
                    "--since",
                    since,
                    "-p",
                    "err",
                    "-t",
                    "certbot-renewal",
                    "--no-pager",
                    "-q",
                    "-o",
                    "cat",
                ],
                check=False,
            ).stdout.strip(),
            30,
            "the err-priority report of certbot-renewal-failure.service",
        )
        certbot_log = stack.exec(
            stack.app,
            ["journalctl", "-u", "certbot.service", "--since", since, "--no-pager", "-q", "-o", "cat"],
        ).stdout
        during = served_certificate(stack, stack.ca_file)
        if collector:
            wait_for(
                lambda: _collector_reports(stack, collector) > reports_before,
                30,
                "the report on the collector",
            )
        reports_after = _collector_reports(stack, collector) if collector else None
    finally:
        stack.exec(stack.app, ["sh", "-c", f"rm -f {DROP_IN} && systemctl daemon-reload"], check=False)
        stack.exec(stack.app, ["systemctl", "reset-failed", "certbot.service"], check=False)
        stack.exec(stack.acme, ["systemctl", "start", "pebble.service"])
        wait_for(lambda: _acme_answers(stack), 60, "pebble to answer again")
        restored = _renew_for_real(stack)
    new_ca = site_ca_file(stack.scenario)  # pebble's new root, for clients and later tests
    after = wait_for(
        lambda: (cert := served_certificate(stack, new_ca)).serial_number != before.serial_number and cert,
        30,
        "the web server to serve the certificate renewed after the restore",
    )
    figures.update(
        renewal_exit=renewal.returncode,
        renewal_seconds=round(renewal_seconds, 1),
        err_report=report.splitlines()[-1],
        certbot_error=next((line for line in certbot_log.splitlines() if "rror" in line), certbot_log[-300:]),
        serial_before=format(before.serial_number, "x"),
        serial_during_outage=format(during.serial_number, "x"),
        collector_reports=(reports_before, reports_after)
        if collector
        else "no log collector in this scenario",
        restore=restored,
        serial_after_restore=format(after.serial_number, "x"),
    )
    assert renewal.returncode != 0, "certbot.service succeeded although the ACME server was down"
    assert "FAILED" in report
    assert during.serial_number == before.serial_number, "the served certificate changed during the outage"
