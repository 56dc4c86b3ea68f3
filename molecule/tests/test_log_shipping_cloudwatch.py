"""log_shipping_transport=cloudwatch against a moto server standing in for CloudWatch Logs.

Set-up, all on the app host: moto's server on 127.0.0.1:5000 (moto_host.py, shared with the other
AWS-mode tests) with the four host log groups the Pulumi stack would create. Then ansible/site.yml,
limited to the app hosts and the log_shipping tag, switches the host to the cloudwatch transport
with the endpoint pointed at moto: rsyslog hands its disk queue to the shipper (omprog), which must
put each kind of line into its group, in the host's stream. At the end the same run without the
overrides puts the host back on RELP to the collector, so later tests see the converged stack.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid

import moto_host
import pytest
from conftest import scenario_playbook
from moto_host import MOTO_URL, REGION
from testinfra.utils.ansible_runner import AnsibleRunner

# Changes the deployment or interrupts a service while it runs (see conftest.py).
pytestmark = pytest.mark.disruptive

SHIP_CONF = "/etc/rsyslog.d/60-soc2kit-ship.conf"
SHIPPER_DIR = "/opt/soc2kit-log-shipper"
GROUPS = {kind: f"/soc2kit/molecule/{kind}" for kind in ("app", "web", "audit", "system")}

# Runs on the app host with moto's python: creates the log groups that do not exist yet.
CREATE_GROUPS = r"""
import sys
import boto3

endpoint, region, names = sys.argv[1], sys.argv[2], sys.argv[3:]
logs = boto3.client("logs", endpoint_url=endpoint, region_name=region)
existing = {g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]}
for name in names:
    if name not in existing:
        logs.create_log_group(logGroupName=name)
"""

# Runs on the app host: prints {group: {stream: [messages]}} for every given group.
READ_EVENTS = r"""
import json, sys
import boto3

endpoint, region, names = sys.argv[1], sys.argv[2], sys.argv[3:]
logs = boto3.client("logs", endpoint_url=endpoint, region_name=region)
found = {}
for name in names:
    found[name] = {}
    for stream in logs.describe_log_streams(logGroupName=name)["logStreams"]:
        args = {"logGroupName": name, "logStreamName": stream["logStreamName"], "startFromHead": True}
        messages = []
        while True:
            page = logs.get_log_events(**args)
            messages += [event["message"] for event in page["events"]]
            if not page["events"] or page["nextForwardToken"] == args.get("nextToken"):
                break
            args["nextToken"] = page["nextForwardToken"]
        found[name][stream["logStreamName"]] = messages
print(json.dumps(found))
"""


def site_log_shipping(**extra) -> subprocess.CompletedProcess:
    """ansible/site.yml on the app hosts, log_shipping tag only, with extra variables."""
    return scenario_playbook("site.yml", "--tags", "log_shipping", "--limit", "app_hosts", **extra)


def create_groups(host) -> None:
    result = moto_host.run_python(host, CREATE_GROUPS, MOTO_URL, REGION, *GROUPS.values())
    assert result.rc == 0, result.stderr[-2000:]


def read_events(host) -> dict[str, dict[str, list[str]]]:
    result = moto_host.run_python(host, READ_EVENTS, MOTO_URL, REGION, *GROUPS.values())
    assert result.rc == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def wait_for(host, stream: str, markers: list[str], timeout: float = 90.0) -> dict[str, set[str]]:
    """Polls moto until every marker is in the host's stream of some group; returns marker -> groups."""
    deadline = time.monotonic() + timeout
    where: dict[str, set[str]] = {}
    while time.monotonic() < deadline:
        events = read_events(host)
        where = {
            marker: {
                group
                for group, streams in events.items()
                if any(marker in message for message in streams.get(stream, []))
            }
            for marker in markers
        }
        if all(where.values()):
            return where
        time.sleep(2)
    return where


@pytest.fixture(scope="module")
def stream() -> str:
    """The app host's inventory name: the shipper's default log stream."""
    runner = AnsibleRunner.get_runner(os.environ["MOLECULE_INVENTORY_FILE"])
    return runner.get_hosts("app_hosts")[0]


@pytest.fixture(scope="module")
def cloudwatch(app_host):
    """The app host shipping to moto's CloudWatch Logs (and back on RELP afterwards)."""
    if "omrelp" not in app_host.file(SHIP_CONF).content_string:
        pytest.fail(f"the scenario must converge with log_shipping_transport relp ({SHIP_CONF}: no omrelp)")
    moto_host.start(app_host)
    try:
        create_groups(app_host)
        result = site_log_shipping(
            log_shipping_transport="cloudwatch",
            log_shipping_cloudwatch_region=REGION,
            log_shipping_cloudwatch_log_groups=GROUPS,
            log_shipping_cloudwatch_endpoint_url=MOTO_URL,
            # moto accepts any credentials; on EC2 the instance role provides real ones.
            log_shipping_cloudwatch_environment=moto_host.DUMMY_CREDENTIALS,
        )
        yield result
    finally:
        back = site_log_shipping()
        moto_host.stop(app_host)
        assert back.returncode == 0, back.stdout[-4000:]
        assert "omrelp" in app_host.file(SHIP_CONF).content_string


@pytest.fixture(scope="module")
def delivered(app_host, cloudwatch, stream):
    """One line of each kind written on the app host; marker -> the groups it arrived in."""
    assert cloudwatch.returncode == 0, cloudwatch.stdout[-4000:]
    run = uuid.uuid4().hex[:12]
    probes = {
        "app": f"cw-app-{run}",
        "app-audit": f"cw-app-audit-{run}",
        "auditd": f"cw-auditd-{run}",
        "web": f"cw-web-{run}",
        "auth": f"cw-auth-{run}",
        "other": f"cw-other-{run}",
    }
    app_json = json.dumps({"level": "INFO", "logger": "django.request", "message": probes["app"]})
    audit_json = json.dumps({"level": "INFO", "logger": "soc2kit.audit", "message": probes["app-audit"]})
    app_host.check_output("logger -t django-app %s", app_json)
    app_host.check_output("logger -t django-app %s", audit_json)
    app_host.check_output("logger -t auditd %s", f"type=USER_LOGIN msg={probes['auditd']}")
    app_host.check_output("logger -p authpriv.notice -t sudo %s", probes["auth"])
    app_host.check_output("logger -t soc2kit-probe %s", probes["other"])
    log_dir = next(d for d in ("/var/log/nginx", "/var/log/apache2") if app_host.file(d).is_directory)
    probe_file = f"{log_dir}/soc2kit-probe-cw-access.log"
    request = f"GET /{probes['web']} HTTP/1.1"
    line = json.dumps({"remote_addr": "127.0.0.1", "request": request, "status": 200})
    app_host.check_output("echo %s >> %s", line, probe_file)
    try:
        where = wait_for(app_host, stream, list(probes.values()))
    finally:
        app_host.run("rm -f %s", probe_file)
    return {name: where.get(marker, set()) for name, marker in probes.items()}


def test_cloudwatch_deploy_succeeds(cloudwatch):
    assert cloudwatch.returncode == 0, cloudwatch.stdout[-4000:]


def test_rsyslog_hands_its_disk_queue_to_the_shipper_with_confirmed_transactions(app_host, cloudwatch):
    config = app_host.file(SHIP_CONF).content_string
    for setting in (
        'type="omprog"',
        'confirmMessages="on"',
        'useTransactions="on"',
        'queue.type="Disk"',
        'queue.saveOnShutdown="on"',
        'action.resumeRetryCount="-1"',
    ):
        assert setting in config
    assert "omrelp" not in config
    assert app_host.run("rsyslogd -N1").rc == 0
    assert app_host.service("rsyslog").is_running


def test_shipper_runs_boto3_from_its_own_venv_installed_from_the_hash_pinned_lock(app_host, cloudwatch):
    lock = app_host.file(f"{SHIPPER_DIR}/requirements.txt").content_string
    pinned = next(line.split("==")[1].split()[0] for line in lock.splitlines() if line.startswith("boto3=="))
    python = f"{SHIPPER_DIR}/venv/bin/python"
    version = app_host.check_output(f"{python} -c 'import boto3; print(boto3.__version__)'")
    assert version == pinned
    config = app_host.file("/etc/soc2kit-log-shipper/config.json")
    assert (config.user, config.mode) == ("root", 0o600)


def test_app_json_lands_in_the_app_group(delivered):
    assert delivered["app"] == {GROUPS["app"]}


def test_app_audit_logger_lands_in_the_audit_group(delivered):
    assert delivered["app-audit"] == {GROUPS["audit"]}


def test_auditd_lines_land_in_the_audit_group(delivered):
    assert delivered["auditd"] == {GROUPS["audit"]}


def test_web_access_line_lands_in_the_web_group(delivered):
    assert delivered["web"] == {GROUPS["web"]}


def test_auth_and_other_lines_land_in_the_system_group(delivered):
    assert delivered["auth"] == {GROUPS["system"]}
    assert delivered["other"] == {GROUPS["system"]}


def test_log_stream_is_the_hosts_name(app_host, delivered, stream):
    events = read_events(app_host)
    assert set(events[GROUPS["system"]]) == {stream}


def test_lines_logged_while_cloudwatch_is_down_arrive_once_it_is_back(app_host, delivered, stream):
    """moto stopped (CloudWatch unreachable), lines logged, the shipper killed mid-outage; all arrive."""
    run = uuid.uuid4().hex[:12]
    markers = [f"cw-outage-{run}-{i}" for i in range(50)]
    moto_host.stop(app_host)
    for marker in markers[:25]:
        app_host.check_output("logger -t soc2kit-outage %s", marker)
    time.sleep(3)
    # The shipper is rsyslog's child: a crash mid-outage must not lose the queued lines either.
    app_host.run("pkill -KILL -P $(pidof rsyslogd)")
    for marker in markers[25:]:
        app_host.check_output("logger -t soc2kit-outage %s", marker)
    time.sleep(5)
    moto_host.start(app_host)  # moto starts empty: the groups exist again, the stream does not
    create_groups(app_host)
    where = wait_for(app_host, stream, markers, timeout=120)
    missing = [marker for marker, groups in where.items() if groups != {GROUPS["system"]}]
    assert not missing, f"{len(missing)} of {len(markers)} lines did not arrive in the system group"
