"""The AWS modes of the app hosts as the rehearsal deploys them (needs `make deploy ENV=rehearsal`): secrets
from Secrets Manager and logs to CloudWatch Logs, both moto (`rh-moto`), on both app hosts.

- Secrets: the app reads them from Secrets Manager with the host's credentials; no secret value is on a
  host's disk, in gunicorn's environment, in the journal or a log file, or in the deploy's Ansible output;
  migrations log in as the schema owner from the root-only migrate.env, the app as its own role.
- Logs: each kind of line lands in its group, in the host's own stream; rsyslog hands its disk queue to the
  shipper with confirmed transactions; lines logged while CloudWatch cannot be reached (and the shipper
  killed meanwhile) arrive once it can.

This is the kit's only run of these modes on a host deployed in them (the default molecule scenario runs
file mode and RELP), so these checks run here. The secret values are read from moto by this test: they are
the rehearsal's own, and are compared on the hosts, never printed.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from kit import aws, rehearsal
from rehearsal_hosts import inventory_name, on_host, readyz_status

ROOT = Path(__file__).resolve().parents[2]
SHIP_CONF = "/etc/rsyslog.d/60-soc2kit-ship.conf"
SHIPPER_DIR = "/opt/soc2kit-log-shipper"
# Members of a database secret that name things and are no secret (as in scripts/kit/verify/secrets.py).
DESCRIPTIVE_MEMBERS = {"engine", "host", "port", "dbname", "dbInstanceIdentifier", "username"}
NEEDLES = "/run/soc2kit-needles"
OUTAGE_TABLE = "soc2kit_test_cloudwatch_outage"
HOSTS = range(rehearsal.APP_HOST_COUNT)


def client(service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=rehearsal.MOTO_URL_CONTROLLER,
        region_name=outputs()["region"],
        aws_access_key_id=rehearsal.MOTO_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=rehearsal.MOTO_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def outputs() -> dict[str, Any]:
    return json.loads(aws.outputs_file(rehearsal.ENV).read_text(encoding="utf-8"))


def secret_values(arns: list[str]) -> list[str]:
    """Each secret's value, or the secret members of a JSON secret."""
    secretsmanager = client("secretsmanager")
    values = []
    for arn in arns:
        value = secretsmanager.get_secret_value(SecretId=arn)["SecretString"]
        try:
            members = json.loads(value)
        except ValueError:
            values.append(value)
            continue
        values += [str(v) for k, v in members.items() if k not in DESCRIPTIVE_MEMBERS]
    assert all(len(v) >= 16 for v in values), "a secret value is too short to search for"
    return values


def found_on_host(index: int, values: list[str], places: str, journal: bool = False) -> str:
    """The places (a shell word list) on host `index` holding any of `values`, and `(journal)` when the
    journal does; compared on the host, from a root-only file of the values."""
    on_host(index, f"umask 077; cat > {NEEDLES}", stdin="\n".join(values) + "\n")
    search = f"grep -rlF -f {NEEDLES} {places} 2>/dev/null"
    if journal:
        search += f"; journalctl -q -o cat --no-pager | grep -qF -f {NEEDLES} && echo '(journal)'"
    try:
        return on_host(index, f"{search}; true")
    finally:
        on_host(index, f"rm -f {NEEDLES}")


@pytest.mark.parametrize("index", HOSTS)
def test_app_is_ready_with_its_secrets_from_secrets_manager(index: int) -> None:
    assert readyz_status(index) == "200"
    app_env = on_host(index, "cat /etc/django-app/app.env")
    assert 'DJANGO_SECRETS_BACKEND="aws"' in app_env
    for name in ("DJANGO_SECRET_KEY", "DATABASE_CREDENTIALS", "FIELD_ENCRYPTION_BLIND_INDEX_KEY"):
        assert f'DJANGO_SECRET_ARNS_{name}="arn:aws:secretsmanager:' in app_env
    assert on_host(index, "test -e /etc/django-app/secrets.env; echo $?") == "1"
    for unit in ("django-app.service", "django-app-candidate@.service"):
        assert "secrets.env" not in on_host(index, f"cat /etc/systemd/system/{unit}")


@pytest.mark.parametrize("index", HOSTS)
def test_migrations_log_in_as_the_owner_from_migrate_env_and_the_app_as_its_own_role(index: int) -> None:
    """The hosts' role cannot read the owner's secret: migrate's login comes from the root-only migrate.env,
    the app's from its Secrets Manager secret."""
    assert "DJANGO_DATABASE_CREDENTIALS_SOURCE=url" in on_host(index, "cat /etc/django-app/migrate.env")
    assert on_host(index, "stat -c '%U %a' /etc/django-app/migrate.env") == "root 400"
    command = (
        'shell -c \'from django.db import connection; print("login", connection.settings_dict["USER"])\''
    )
    logins = {}
    for flag in ("--migrate-env ", ""):
        output = on_host(index, f"django-app-manage {flag}{command}")
        (logins[flag],) = [line.split(" ", 1)[1] for line in output.splitlines() if line.startswith("login ")]
    users = {
        purpose: json.loads(client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])[
            "username"
        ]
        for purpose, arn in outputs()["secret_arns"].items()
        if purpose in ("db_owner_credentials", "db_app_credentials")
    }
    assert users["db_owner_credentials"] != users["db_app_credentials"]
    assert logins == {"--migrate-env ": users["db_owner_credentials"], "": users["db_app_credentials"]}


@pytest.mark.parametrize("index", HOSTS)
def test_no_app_secret_on_disk_in_the_environment_or_any_log(index: int) -> None:
    stack = outputs()
    app_secrets = secret_values(
        [arn for purpose, arn in stack["secret_arns"].items() if purpose != "db_owner_credentials"]
    )
    pid = on_host(index, "systemctl show -p MainPID --value django-app.service")
    assert pid not in ("", "0")
    # The release's own files and config, not its virtual environment (third-party code).
    places = "/etc /srv/django-app/current/*.* /srv/django-app/current/config /var/log /run/django-app "
    places += f"/proc/{pid}/environ"
    assert found_on_host(index, app_secrets, places, journal=True) == ""


@pytest.mark.parametrize("index", HOSTS)
def test_owner_and_master_credentials_only_in_the_root_only_migrate_env(index: int) -> None:
    stack = outputs()
    privileged = secret_values([stack["secret_arns"]["db_owner_credentials"], stack["db_admin_secret_arn"]])
    found = found_on_host(index, privileged, "/etc /var/log /run/django-app /srv/django-app/current/config")
    assert set(found.split()) <= {"/etc/django-app/migrate.env"}, found


def test_no_secret_in_the_deploys_ansible_output() -> None:
    stack = outputs()
    values = secret_values([*stack["secret_arns"].values(), stack["db_admin_secret_arn"]])
    logs = sorted((ROOT / ".cache" / "logs").glob("*-rehearsal-*.log"))
    assert logs, "no log of the rehearsal's deploy in .cache/logs"
    for log in logs[-3:]:  # this deploy's: the stand-ins, site.yml and its idempotence run
        text = log.read_text(encoding="utf-8", errors="replace")
        assert not any(value in text for value in values), f"a secret value is in {log.name}"


def log_events(groups: dict[str, str]) -> dict[str, dict[str, list[str]]]:
    """{group: {stream: [messages]}} of the given groups, read from moto."""
    logs = client("logs")
    found: dict[str, dict[str, list[str]]] = {}
    for group in groups.values():
        found[group] = {}
        for stream in logs.describe_log_streams(logGroupName=group)["logStreams"]:
            args = {"logGroupName": group, "logStreamName": stream["logStreamName"], "startFromHead": True}
            messages: list[str] = []
            while True:
                page = logs.get_log_events(**args)
                messages += [event["message"] for event in page["events"]]
                if not page["events"] or page["nextForwardToken"] == args.get("nextToken"):
                    break
                args["nextToken"] = page["nextForwardToken"]
            found[group][stream["logStreamName"]] = messages
    return found


def wait_for(groups: dict[str, str], stream: str, markers: list[str], timeout: float) -> dict[str, set[str]]:
    """Polls moto until every marker is in `stream` of some group; returns marker -> the groups it is in."""
    deadline = time.monotonic() + timeout
    where: dict[str, set[str]] = {}
    while time.monotonic() < deadline:
        events = log_events(groups)
        where = {
            marker: {g for g, streams in events.items() if any(marker in m for m in streams.get(stream, []))}
            for marker in markers
        }
        if all(where.values()):
            return where
        time.sleep(2)
    return where


@pytest.fixture(scope="module")
def groups() -> dict[str, str]:
    return dict(outputs()["log_group_names"])


@pytest.mark.parametrize("index", HOSTS)
def test_each_kind_of_line_lands_in_its_group_in_the_hosts_stream(index: int, groups: dict[str, str]) -> None:
    run = uuid.uuid4().hex[:12]
    probes = {kind: f"cw-{kind}-{run}" for kind in ("app", "app-audit", "auditd", "web", "auth", "other")}
    app_json = json.dumps({"level": "INFO", "logger": "django.request", "message": probes["app"]})
    audit_json = json.dumps({"level": "INFO", "logger": "soc2kit.audit", "message": probes["app-audit"]})
    on_host(index, 'logger -t django-app "$(cat)"', stdin=app_json)
    on_host(index, 'logger -t django-app "$(cat)"', stdin=audit_json)
    on_host(index, f"logger -t auditd 'type=USER_LOGIN msg={probes['auditd']}'")
    on_host(index, f"logger -p authpriv.notice -t sudo {probes['auth']}")
    on_host(index, f"logger -t soc2kit-probe {probes['other']}")
    log_dir = {"nginx": "/var/log/nginx", "apache": "/var/log/apache2"}[rehearsal.deployed_web("")]
    probe_file = f"{log_dir}/soc2kit-probe-cw-access.log"
    line = json.dumps(
        {"remote_addr": "127.0.0.1", "request": f"GET /{probes['web']} HTTP/1.1", "status": 200}
    )
    on_host(index, f"cat >> {probe_file}", stdin=line + "\n")
    stream = inventory_name(index)
    try:
        where = wait_for(groups, stream, list(probes.values()), timeout=90)
    finally:
        on_host(index, f"rm -f {probe_file}")
    expected = {
        "app": groups["app"],
        "app-audit": groups["audit"],
        "auditd": groups["audit"],
        "web": groups["web"],
        "auth": groups["system"],
        "other": groups["system"],
    }
    assert {kind: where.get(probes[kind], set()) for kind in probes} == {k: {g} for k, g in expected.items()}
    # Each host ships to its own stream only.
    streams = set(log_events({"system": groups["system"]})[groups["system"]])
    assert streams <= {inventory_name(i) for i in HOSTS}, streams


@pytest.mark.parametrize("index", HOSTS)
def test_rsyslog_hands_its_disk_queue_to_the_shipper_from_its_own_venv(index: int) -> None:
    config = on_host(index, f"cat {SHIP_CONF}")
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
    on_host(index, "rsyslogd -N1 >/dev/null 2>&1")
    lock = on_host(index, f"cat {SHIPPER_DIR}/requirements.txt")
    pinned = next(line.split("==")[1].split()[0] for line in lock.splitlines() if line.startswith("boto3=="))
    python = f"{SHIPPER_DIR}/venv/bin/python"
    assert on_host(index, f"{python} -c 'import boto3; print(boto3.__version__)'") == pinned
    assert on_host(index, "stat -c '%U %a' /etc/soc2kit-log-shipper/config.json") == "root 600"


def test_lines_logged_while_cloudwatch_cannot_be_reached_arrive_once_it_can(groups: dict[str, str]) -> None:
    """CloudWatch (moto) unreachable from a host's shipper, lines logged, the shipper killed mid-outage; all
    arrive once it is reachable again."""
    index = 0
    run = uuid.uuid4().hex[:12]
    markers = [f"cw-outage-{run}-{i}" for i in range(50)]
    moto_address = rehearsal.MOTO_URL_HOSTS.removeprefix("http://").split(":")[0]
    on_host(
        index,
        f"nft add table inet {OUTAGE_TABLE} && "
        f"nft add chain inet {OUTAGE_TABLE} out '{{ type filter hook output priority -10; }}' && "
        # Root's sockets only: the shipper runs as root, the app (its secrets, its checkpoints) as itself.
        f"nft add rule inet {OUTAGE_TABLE} out meta skuid 0 ip daddr {moto_address} tcp dport 5000 "
        "reject with tcp reset",
    )
    try:
        for marker in markers[:25]:
            on_host(index, f"logger -t soc2kit-outage {marker}")
        time.sleep(3)
        # The shipper is rsyslog's child: a crash mid-outage must not lose the queued lines either.
        on_host(index, "pkill -KILL -P $(pidof rsyslogd) || true")
        for marker in markers[25:]:
            on_host(index, f"logger -t soc2kit-outage {marker}")
        time.sleep(5)
        assert not wait_for(groups, inventory_name(index), markers[:1], timeout=1)[markers[0]], (
            "a line arrived while CloudWatch could not be reached: the outage did not hold"
        )
    finally:
        on_host(index, f"nft delete table inet {OUTAGE_TABLE}", check=False)
    where = wait_for(groups, inventory_name(index), markers, timeout=180)
    missing = [marker for marker, found in where.items() if found != {groups["system"]}]
    assert not missing, f"{len(missing)} of {len(markers)} lines did not arrive: {missing[:5]}"
