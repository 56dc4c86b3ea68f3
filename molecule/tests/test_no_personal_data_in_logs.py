"""No personal data in any log (issue #14, section 4), on both web servers: one scripted session with
canary values goes through the published HTTPS port as a user's client would, then every log on every app
host - the files under /var/log (rotated and compressed ones included) and the journal - and every log
shipped - on the log collector, or every event of every CloudWatch Logs group (the rehearsal's moto) - is
searched for each canary. Zero hits are allowed.

The access logs keep a path with its query string dropped and every segment that holds anything but
letters, '.', '-' and '_' replaced by ":redacted" (nginx.conf, Apache's site, gunicorn's copy of it):
route words and static file names stay, ids, e-mail addresses and national ids do not.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import string
import time
import uuid

import pytest
from conftest import Session, create_app_user, current_facts

# Creates a user and customer records: molecule and the rehearsal run it, checks of a live stack do not.
# The app hosts are all it needs: the shipped logs are on the collector or in CloudWatch Logs.
pytestmark = [pytest.mark.disruptive, pytest.mark.groups("app_hosts")]

REMOTE_LOG_DIR = "/var/log/remote"
WEB_ACCESS_LOG = {"nginx": "/var/log/nginx/access.log", "apache": "/var/log/apache2/access.log"}
# What may stand between the parts of a value on its way into a log line: a separator as typed, its
# percent-encoding, or nothing (a national id is compacted for its blind index).
SEPARATOR = r"(?:[\s+._@!:-]|%[0-9A-Fa-f]{2})?"

# Runs on each host with `python3 -c`; the patterns arrive hex-encoded, so that no canary appears in a
# command line (auditd or the journal would record it, and the search would find its own trace).
SEARCH_LOGS = r"""
import gzip, json, lzma, os, re, subprocess, sys
patterns = {name: re.compile(p.encode(), re.I) for name, p in json.loads(bytes.fromhex(sys.argv[1])).items()}
hits = {name: [] for name in patterns}
files = 0

def scan(where, data):
    for name, pattern in patterns.items():
        for match in pattern.finditer(data):
            excerpt = data[max(0, match.start() - 150):match.end() + 150].decode("utf-8", "replace")
            hits[name].append(f"{where}: ...{excerpt}...")
            break

for folder, _, names in os.walk("/var/log"):
    for file_name in names:
        path = os.path.join(folder, file_name)
        if not os.path.isfile(path) or os.path.islink(path):
            continue
        opener = gzip.open if path.endswith(".gz") else lzma.open if path.endswith(".xz") else open
        try:
            with opener(path, "rb") as handle:
                scan(path, handle.read())
            files += 1
        except OSError as error:
            hits.setdefault("unreadable", []).append(f"{path}: {error}")
journal = subprocess.run(["journalctl", "--no-pager", "-o", "export"], capture_output=True, check=True)
scan("journalctl -o export", journal.stdout)
print(json.dumps({"files": files, "journal_bytes": len(journal.stdout), "hits": hits}))
"""


def letters(length: int) -> str:
    """A random run of lower-case letters: kept as it is in an access log path (a route word)."""
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(length))


def digits(length: int) -> str:
    return "".join(secrets.choice(string.digits) for _ in range(length))


@pytest.fixture(scope="module")
def canaries() -> dict[str, str]:
    """Values of this run that must never reach a log: the written form of each."""
    # Digit runs of 12: a shorter one could turn up by chance in hundreds of megabytes of logs.
    national_id = f"{digits(4)} {digits(4)} {digits(4)}"  # written with spaces, as people do
    return {
        "full_name": f"Canaryname {letters(10).title()}",
        "email": f"canary.mail.{letters(10)}@example.org",
        "national_id": national_id,
        "notes": f"canary note {letters(12)}",
        "password typed as a username": f"Pw-{secrets.token_urlsafe(18)}",
        "password": f"Pw-{secrets.token_urlsafe(18)}",
        "bearer token": f"canarytoken{secrets.token_hex(16)}",
        "basic auth user": f"canaryuser{letters(10)}",
        "basic auth password": f"Pw-{secrets.token_urlsafe(18)}",
        "invalid email": f"not-an-address-{letters(10)}",
        "invalid national id": f"{digits(6)}!{digits(6)}",
        "path id": f"{digits(6)}-{digits(6)}",
    }


def basic_credentials(canaries: dict[str, str]) -> str:
    return base64.b64encode(
        f"{canaries['basic auth user']}:{canaries['basic auth password']}".encode()
    ).decode()


def search_patterns(canaries: dict[str, str]) -> dict[str, str]:
    """One regular expression per canary, matching it however it may have been written or encoded
    (case, separators or none between its parts, percent-encoding, the Basic credentials' base64)."""
    patterns = {}
    for name, value in canaries.items():
        parts = [re.escape(part) for part in re.split(r"[\s.@!-]+", value) if part]
        patterns[name] = SEPARATOR.join(parts) if len(parts) > 1 else parts[0]
    patterns["basic auth credentials (base64)"] = re.escape(basic_credentials(canaries))
    return patterns


@pytest.fixture(scope="module")
def markers() -> dict[str, str]:
    """Letters-only words of this run: they stay readable in the access logs and find its lines."""
    return {name: letters(12) for name in ("record_path", "static_path", "flush")}


@pytest.fixture(scope="module")
def scripted_session(site, app_host, canaries, markers) -> None:
    """The user session of the issue, through the published HTTPS port; every answer is checked, so the
    logs searched afterwards hold what each step would have logged."""
    username, password = f"logs-{uuid.uuid4().hex[:10]}", secrets.token_urlsafe(24)
    create_app_user(app_host, username, password, ("customer_editor", "customer_reader_full"))
    session = Session(site)
    response, body = session.login(username, password)
    assert response.status == 200, body

    record = {name: canaries[name] for name in ("full_name", "email", "national_id", "notes")}
    response, body = session.request("POST", "/api/customers/", record | {"date_of_birth": "1975-03-14"})
    assert response.status == 201, body
    record_id = body["id"]

    for field in ("email", "national_id"):
        response, body = session.request("POST", "/api/customers/search/", {field: canaries[field]})
        assert response.status == 200, body
        assert [item["id"] for item in body["results"]] == [record_id], f"search by {field}"

    # A client still searching the old way: the values in the query string must not reach a log.
    email, national_id = canaries["email"].replace("@", "%40"), canaries["national_id"].replace(" ", "+")
    query = f"email={email}&national_id={national_id}"
    response, body = session.request("GET", f"/api/customers/?{query}")
    assert response.status == 400, body

    # A Referer carrying a search in its query string (a page of the site), and Authorization headers.
    response, body = session.request(
        "GET",
        "/api/customers/?page_size=1",
        headers={"Referer": f"https://{current_facts().domain}/customers/?email={canaries['email']}"},
    )
    assert response.status == 200, body
    response, body = session.request(
        "GET", "/api/customers/", headers={"Authorization": f"Bearer {canaries['bearer token']}"}
    )
    assert response.status == 200, body
    response, body = session.request(
        "GET", "/api/customers/", headers={"Authorization": f"Basic {basic_credentials(canaries)}"}
    )
    assert response.status == 200, body

    # 404s whose paths hold an id: the app's, a path of no route, and a static file.
    id_in_path = canaries["national_id"].replace(" ", "%20")
    for path in (
        f"/api/customers/{id_in_path}/",
        f"/{markers['record_path']}/{canaries['path id']}/history/",
        f"/static/{markers['static_path']}/{canaries['path id']}.txt",
    ):
        response, body = session.request("GET", path)
        assert response.status == 404, (path, body)

    # A validation error: neither value may be echoed or logged.
    invalid = {
        "full_name": "Valid Name",
        "email": canaries["invalid email"],
        "national_id": canaries["invalid national id"],
    }
    response, body = session.request("POST", "/api/customers/", invalid)
    assert response.status == 400, body
    assert {"email", "national_id"} <= set(body["errors"]), body

    # A failed login with a password typed into the username field.
    response, body = Session(site).login(canaries["password typed as a username"], canaries["password"])
    assert response.status == 401, body

    # Last: a request every log on the path records, to know when the collector has everything before it.
    response, _ = session.request("GET", f"/{markers['flush']}/")
    assert response.status == 404


def cloudwatch_events(region: str) -> dict[str, bytes]:
    """Every event of every CloudWatch Logs group, one blob per group (the controller's AWS environment:
    the rehearsal points AWS_ENDPOINT_URL at its moto stand-in)."""
    import boto3

    client = boto3.client("logs", region_name=region)
    blobs = {}
    for page in client.get_paginator("describe_log_groups").paginate():
        for group in page["logGroups"]:
            name = group["logGroupName"]
            messages = [
                event["message"]
                for events in client.get_paginator("filter_log_events").paginate(logGroupName=name)
                for event in events["events"]
            ]
            blobs[name] = "\n".join(messages).encode()
    return blobs


@pytest.fixture(scope="module")
def logs_settled(scripted_session, facts, app_hosts, group_host, markers) -> None:
    """Wait until the last request of the session has been shipped in the web server's access log and the
    app's (gunicorn's) log: every line before it was written locally and shipped before it (one queue per
    host)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if facts.log_transport == "cloudwatch":
            holding = {
                name.rsplit("/", 1)[-1]
                for name, blob in cloudwatch_events(facts.log_region).items()
                if markers["flush"].encode() in blob
            }
            missing = sorted({"web", "app"} - holding)
        else:
            collector = group_host("log_collectors")
            # A balancer sends the request to one of the app hosts: settled when one host's pair holds it.
            pairs = [
                [f"{folder}/{facts.web_server}-access.log", f"{folder}/django-app.log"]
                for folder in (
                    f"{REMOTE_LOG_DIR}/{host.check_output('hostname --fqdn')}" for host in app_hosts
                )
            ]
            shipped = [
                all(collector.run(f"grep -qF -- {markers['flush']} {path}").rc == 0 for path in pair)
                for pair in pairs
            ]
            missing = [] if any(shipped) else pairs
        if not missing:
            return
        time.sleep(2)
    pytest.fail(f"the session's last request was not shipped to {missing} within 90 s")


def canary_hits(host, canaries: dict[str, str]) -> dict:
    patterns = json.dumps(search_patterns(canaries)).encode().hex()
    result = host.run("python3 -c %s %s", SEARCH_LOGS, patterns)
    assert result.rc == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    # The search saw the logs.
    assert report["files"] > 10, report
    assert report["journal_bytes"] > 0, report
    return report


def test_no_canary_in_any_log_on_the_app_hosts(logs_settled, app_hosts, canaries):
    found = {}
    for host in app_hosts:
        report = canary_hits(host, canaries)
        found |= {
            f"{host.backend.hostname}: {name}": places for name, places in report["hits"].items() if places
        }
    assert not found, json.dumps(found, indent=1)


def test_no_canary_in_any_shipped_log(logs_settled, facts, group_host, canaries):
    if facts.log_transport == "cloudwatch":
        blobs = cloudwatch_events(facts.log_region)
        # The search saw the shipped logs: at least the web server's and the app's groups hold events.
        assert len([blob for blob in blobs.values() if blob]) >= 2, sorted(blobs)
        found = {}
        for name, pattern in search_patterns(canaries).items():
            regex = re.compile(pattern.encode(), re.I)
            places = [group for group, blob in blobs.items() if regex.search(blob)]
            if places:
                found[name] = places
    else:
        report = canary_hits(group_host("log_collectors"), canaries)
        found = {name: places for name, places in report["hits"].items() if places}
    assert not found, json.dumps(found, indent=1)


def test_access_logs_keep_route_words_and_redact_ids(scripted_session, app_hosts, markers):
    # Behind a balancer each app host logged part of the session: the logs of all of them together.
    web_uris: set[str] = set()
    gunicorn_uris: set[str] = set()
    for host in app_hosts:
        web_uris |= {
            json.loads(line)["uri"]
            for line in host.file(WEB_ACCESS_LOG[current_facts().web_server]).content_string.splitlines()
            if line.startswith("{")
        }
        gunicorn_uris |= {
            json.loads(line)["uri"]
            for line in host.check_output("journalctl --no-pager -o cat -u django-app.service").splitlines()
            if line.startswith('{"logger":"gunicorn.access"')
        }
    record_path = f"/{markers['record_path']}/:redacted/history/"
    assert record_path in web_uris, sorted(uri for uri in web_uris if markers["record_path"] in uri)
    assert record_path in gunicorn_uris, sorted(uri for uri in gunicorn_uris if markers["record_path"] in uri)
    assert f"/static/{markers['static_path']}/:redacted" in web_uris
    assert "/api/customers/:redacted/" in web_uris
    assert "/api/customers/:redacted/" in gunicorn_uris
    assert not [uri for uri in web_uris | gunicorn_uris if "?" in uri], "a query string was logged"
