"""Fault test: the log collector is down for a while under steady log traffic; nothing is lost.

The app host writes numbered messages at a steady rate while the collector's rsyslog (and its
socket unit, so nothing re-activates it) is stopped for SOC2KIT_LOG_OUTAGE_SECONDS (default 60).
After the collector returns, every number must arrive. RELP is at-least-once: a message sent but
not acknowledged before the connection broke is sent again, so duplicates are counted and allowed
up to the RELP window (1024, the most that can be unacknowledged at once).
"""

import os
import time
import uuid

import pytest

# Changes the deployment or interrupts a service while it runs (see conftest.py).
pytestmark = [pytest.mark.disruptive, pytest.mark.groups("app_hosts", "log_collectors")]

OUTAGE_SECONDS = int(os.environ.get("SOC2KIT_LOG_OUTAGE_SECONDS", "60"))
MESSAGES_PER_SECOND = 20
RELP_WINDOW = 1024
DRAIN_TIMEOUT = 90.0


def _received(collector, path, run_id):
    """Sequence numbers of this run's messages stored on the collector (with repeats)."""
    out = collector.run(f"grep -hoE 'run={run_id} seq=[0-9]+' {path} || true").stdout
    return [int(line.rsplit("=", 1)[1]) for line in out.splitlines()]


def test_collector_outage_loses_no_message(app_host, collector, record_property):
    assert OUTAGE_SECONDS >= 5, "SOC2KIT_LOG_OUTAGE_SECONDS must be at least 5"
    run_id = uuid.uuid4().hex[:12]
    tag = "soc2kit-outage"
    unit = f"soc2kit-outage-writer-{run_id}"
    count_file = f"/run/{unit}.count"
    writer_seconds = OUTAGE_SECONDS + 10
    # Paced by wall-clock time so the rate holds whatever logger costs; the count is written at the end.
    script = (
        f"end=$((SECONDS+{writer_seconds})); i=0; "
        f"while [ $SECONDS -lt $end ]; do i=$((i+1)); logger -t {tag} 'run={run_id} seq='$i; "
        f"sleep {1 / MESSAGES_PER_SECOND}; done; echo $i > {count_file}"
    )
    app_host.check_output("systemd-run --quiet --collect --unit %s /bin/bash -c %s", unit, script)
    try:
        time.sleep(3)
        collector.check_output("systemctl stop syslog.socket rsyslog.service")
        stopped_at = time.monotonic()
        try:
            time.sleep(OUTAGE_SECONDS / 2)
            queued = app_host.run("ls /var/spool/rsyslog/ | grep -c '^soc2kit_relp' || true").stdout.strip()
            assert int(queued or 0) > 0, "no disk queue file on the app host while the collector is down"
            time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped_at)))
            assert app_host.run("systemctl is-active --quiet %s", unit).rc == 0, (
                "writer ended before the outage did"
            )
        finally:
            collector.check_output("systemctl start rsyslog.service syslog.socket")
        outage = time.monotonic() - stopped_at

        deadline = time.monotonic() + writer_seconds + 30
        while app_host.run("test -s %s", count_file).rc != 0:
            assert time.monotonic() < deadline, "log writer did not finish"
            time.sleep(1)
        sent = int(app_host.check_output("cat %s", count_file))
    finally:
        app_host.run("systemctl stop %s", unit)
        app_host.run("rm -f %s", count_file)

    fqdn = app_host.check_output("hostname --fqdn")
    path = f"/var/log/remote/{fqdn}/{tag}.log"
    started = time.monotonic()
    received = _received(collector, path, run_id)
    while len(set(received)) < sent and time.monotonic() - started < DRAIN_TIMEOUT:
        time.sleep(1)
        received = _received(collector, path, run_id)
    drained = time.monotonic() - started

    missing = sorted(set(range(1, sent + 1)) - set(received))
    duplicates = len(received) - len(set(received))
    figures = {
        "outage_seconds": round(outage, 1),
        "sent": sent,
        "received_unique": len(set(received)),
        "duplicates": duplicates,
        "missing": len(missing),
        "drain_seconds": round(drained, 1),
    }
    for name, value in figures.items():
        record_property(name, value)
    print(f"log collector outage: {figures}")
    assert not missing, f"{len(missing)} of {sent} messages lost (first: {missing[:10]}); {figures}"
    assert duplicates <= RELP_WINDOW, f"more duplicates than the RELP window allows: {figures}"
