"""The daily read-only host checks (roles/hardening, issue 16 §2) on every app host: a timer once a day at a
random time, one JSON result per control shipped to the collector, and a SECURITY ALERT line on the collector
when a control that passed fails (drift)."""

from __future__ import annotations

import json
import re
import shlex
import time

import pytest

REMOTE_DIR = "/var/log/remote"
STATE_FILE = "/var/lib/soc2kit-daily-checks/last.json"
SERVICE = "soc2kit-daily-checks.service"
# A file of the role's file modes that nothing else touches while the test runs (and that holds no secret).
PROBE_FILE, PROBE_MODE = "/etc/group-", "0600"
# useradd/userdel (the probe-account tests of test_hardening.py) rewrite these backups 0644; the role's
# file_modes puts them back at the next converge. The drift test needs a passing start, so it does now.
ACCOUNT_BACKUPS = (
    "chown root:root /etc/passwd- /etc/group- && chown root:shadow /etc/shadow- /etc/gshadow- && "
)
ACCOUNT_BACKUPS += "chmod 0600 /etc/passwd- /etc/group- /etc/shadow- /etc/gshadow-"


def test_daily_checks_timer_fires_once_a_day_at_a_random_time(app_host):
    timer = app_host.service("soc2kit-daily-checks.timer")
    assert timer.is_enabled
    assert timer.is_running
    shown = app_host.check_output(
        "systemctl show soc2kit-daily-checks.timer -p TimersCalendar -p RandomizedDelayUSec -p Persistent"
    )
    assert "OnCalendar=*-*-* 00:00:00 ;" in shown  # `daily`, as systemd normalises it
    delay = re.search(r"^RandomizedDelayUSec=(\S+)$", shown, re.M)[1]
    assert delay not in ("0", "infinity"), "every host would run its checks at the same second"
    assert "Persistent=yes" in shown


def _run_checks(app_host):
    """Starts the service and waits for it (oneshot); returns this run's results, control -> status."""
    with app_host.sudo():
        app_host.run(f"systemctl start {SERVICE}")  # exits non-zero when a control fails: that is a result
        return {
            control: item["status"]
            for control, item in json.loads(app_host.file(STATE_FILE).content_string).items()
        }


def _collector_lines(collector, path):
    return collector.run(f"cat {shlex.quote(path)}").stdout.splitlines()


def _wait_for_new_line(collector, path, seen, needle, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = [line for line in _collector_lines(collector, path)[seen:] if needle in line]
        if new:
            return new
        time.sleep(1)
    return []


@pytest.mark.disruptive  # loosens /etc/group- for the length of one check run, then restores it
def test_loosened_file_mode_raises_drift_alert_on_collector_then_passes(app_host, collector):
    host_name = app_host.check_output("hostname")
    shipped = f"{REMOTE_DIR}/{app_host.check_output('hostname --fqdn')}/soc2kit-daily-checks.log"
    with app_host.sudo():
        app_host.check_output(ACCOUNT_BACKUPS)
    before = _run_checks(app_host)
    assert before["file_modes"] == "pass", f"file_modes fails on the converged host: {before}"
    passed_at = json.loads(app_host.file(STATE_FILE).content_string)["file_modes"]["time"]
    seen = len(_collector_lines(collector, shipped))
    try:
        with app_host.sudo():
            app_host.check_output(f"chmod 0644 {PROBE_FILE}")
        broken = _run_checks(app_host)
        alerts = _wait_for_new_line(collector, shipped, seen, "SECURITY ALERT daily_check_drift: file_modes")
    finally:
        with app_host.sudo():
            app_host.check_output(f"chmod {PROBE_MODE} {PROBE_FILE}")
    assert broken["file_modes"] == "fail"
    assert alerts, f"no drift alert reached {shipped} on the collector"
    assert f"file_modes on {host_name} passed at {passed_at} and fails now" in alerts[0]
    assert f"{PROBE_FILE} is root:root:0644, expected root:root:{PROBE_MODE}" in alerts[0]
    seen = len(_collector_lines(collector, shipped))
    restored = _run_checks(app_host)
    assert restored["file_modes"] == "pass"
    results = _wait_for_new_line(collector, shipped, seen, '"soc2kit_check": "file_modes"')
    assert results, "the passing result did not reach the collector"
    shipped_result = json.loads(results[-1][results[-1].index("{") :])
    assert shipped_result["status"] == "pass"
    assert shipped_result["host"] == host_name
    assert {"file_modes", "sshd", "certificate_expiry"} <= set(restored), restored
