"""The real app through the web server, end to end (both scenarios): HTTPS login with CSRF, a customer
record written and read back through the proxy, its sensitive values stored as ciphertext (raw SELECT
on the database host), and a failed login in the audit log that arrives on the log collector.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import urllib.parse
import uuid

import pytest
from conftest import Session, create_app_user

# Creates a user and a customer record: molecule runs it, checks of a live stack do not.
pytestmark = pytest.mark.disruptive

REMOTE_LOG_DIR = "/var/log/remote"
# Ciphertext as the app stores it (packages/soc2kit/src/soc2kit/encryption/README.md, "Ciphertext format").
CIPHERTEXT_PREFIX = "ef2:"  # encrypted and bound to its row (issue #14)


@pytest.fixture(scope="module")
def editor(app_host) -> tuple[str, str]:
    username, password = f"e2e-{uuid.uuid4().hex[:10]}", secrets.token_urlsafe(24)
    create_app_user(app_host, username, password, ("customer_editor", "customer_reader_full"))
    return username, password


@pytest.fixture(scope="module")
def written() -> dict[str, str]:
    token = uuid.uuid4().hex[:12]
    return {
        "full_name": f"End To End {token}",
        "email": f"e2e-{token}@example.com",
        "national_id": f"E2E-{token[:8].upper()}",
        "date_of_birth": "1984-02-29",
        "notes": f"sensitive note {token}",
    }


@pytest.fixture(scope="module")
def created(site, editor, written) -> dict:
    session = Session(site)
    response, body = session.login(*editor)
    assert response.status == 200, body
    response, body = session.request("POST", "/api/customers/", written)
    assert response.status == 201, body
    return {"session": session, "record": body}


def test_admin_login_through_the_printed_url(site, app_host):
    """The admin login form at https://NAME:PORT/admin/, as a browser posts it (Origin with the port)."""
    username, password = f"e2e-staff-{uuid.uuid4().hex[:10]}", secrets.token_urlsafe(24)
    create_app_user(app_host, username, password, (), staff=True)
    session = Session(site)
    response, page = site.https("GET", "/admin/login/?next=/admin/", headers=session.browser_headers())
    assert response.status == 200, page[:500]
    session.keep_cookies(response)
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token, "the admin login page carries no CSRF token"
    form = urllib.parse.urlencode(
        {
            "csrfmiddlewaretoken": token.group(1).decode(),
            "username": username,
            "password": password,
            "next": "/admin/",
        }
    ).encode()
    headers = {**session.browser_headers(), "Content-Type": "application/x-www-form-urlencoded"}
    headers["Referer"] = f"{session.origin}/admin/login/?next=/admin/"
    response, page = site.https("POST", "/admin/login/?next=/admin/", body=form, headers=headers)
    assert response.status == 302, f"admin login answered {response.status}: {page[:300]!r}"
    assert response.getheader("Location") == "/admin/"


def test_readyz_through_the_proxy(site):
    response, body = site.https("GET", "/readyz")
    assert response.status == 200, body
    assert json.loads(body)["status"] == "ok"


def test_login_create_and_read_back_through_the_proxy(created, written):
    session, record = created["session"], created["record"]
    for name, value in written.items():
        assert record[name] == value, name
    response, body = session.request("GET", f"/api/customers/{record['id']}/")
    assert response.status == 200
    assert {name: body[name] for name in written} == written


def test_search_by_encrypted_email_through_the_proxy(created, written):
    response, body = created["session"].request(
        "POST", "/api/customers/search/", {"email": written["email"].upper()}
    )
    assert response.status == 200, body
    assert [item["id"] for item in body["results"]] == [created["record"]["id"]]


def test_raw_select_on_the_database_shows_ciphertext(group_host, created, written):
    db = group_host("db_hosts")
    table = db.check_output(
        "runuser -u postgres -- psql -d soc2kit -Atc "
        "\"SELECT table_schema || '.' || table_name FROM information_schema.tables "
        "WHERE table_name = 'customers_customer'\""
    )
    assert table, "customers_customer table not found"
    row = db.check_output(
        "runuser -u postgres -- psql -d soc2kit -At -F '|' -c "
        f'"SELECT full_name, email, national_id, date_of_birth, notes FROM {table} '
        f'WHERE id = {int(created["record"]["id"])}"'
    )
    stored = row.split("|")
    assert len(stored) == 5, row
    for value in stored:
        assert value.startswith(CIPHERTEXT_PREFIX), value[:40]
    for plaintext in written.values():
        assert plaintext not in row


def test_failed_login_reaches_the_collector_audit_log(site, app_host, group_host, editor):
    # An account's own name is recorded (a name that matches no account only as a keyed hash).
    username = editor[0]
    response, _ = Session(site).login(username, secrets.token_urlsafe(16))
    assert response.status == 401
    collector = group_host("log_collectors")
    folder = f"{REMOTE_LOG_DIR}/{app_host.check_output('hostname --fqdn')}"
    deadline, lines = time.monotonic() + 60, []
    while time.monotonic() < deadline and not lines:
        lines = collector.run(f"grep -rhF -- {username} {folder}").stdout.splitlines()
        time.sleep(1)
    assert lines, f"no log line naming {username} under {folder} on the collector"
    assert any('"action": "login_failed"' in line for line in lines), lines
