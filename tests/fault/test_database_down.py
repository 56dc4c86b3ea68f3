"""The database unreachable when the app starts: the app is not ready, says why, and writes nothing.

PostgreSQL is stopped in the db container, then django-app.service is restarted. gunicorn may come up
(Django opens no connection at import), but `/readyz` through the web server must answer 503 naming
the database, the app's journal must name it too, and a login and a create must fail. Once PostgreSQL
is back (restored in `finally`), the customer and audit tables hold exactly the rows they held before.
"""

from __future__ import annotations

import time

import pytest
import requests

from .ops import container_or_fail, psql, unit_state, wait_for
from .traffic import SiteSession

SERVICE = "django-app.service"


def _counts(stack, database: str, schema: str) -> dict[str, int]:
    rows = psql(
        stack,
        database,
        f'SELECT (SELECT count(*) FROM "{schema}".customers_customer), '
        f'(SELECT count(*) FROM "{schema}".audit_auditevent);\n',
    ).stdout.strip()
    customers, audit = rows.split("|")
    return {"customers": int(customers), "audit_events": int(audit)}


def _attempt(call) -> int | str:
    """The HTTP status of call(), or why there was none (the app may not answer at all)."""
    try:
        return call().status_code
    except (requests.RequestException, ValueError, KeyError) as exc:
        return f"no usable answer: {type(exc).__name__}"


def _ready(session: SiteSession):
    try:
        response = session.get("/readyz")
    except requests.RequestException:
        return None
    return response if response.status_code == 200 else None


@pytest.mark.quick
def test_app_started_without_database_is_not_ready_names_it_and_writes_nothing(
    stack, app_database, api_users, figures
):
    database, schema = app_database
    db = container_or_fail(stack, "db_hosts")
    clusters = stack.exec(
        db, ["systemctl", "list-units", "--plain", "--no-legend", "--state=active", "postgresql@*"]
    ).stdout.split()
    clusters = [name for name in clusters if name.startswith("postgresql@")]
    assert clusters, f"no active PostgreSQL cluster unit in container {db}"
    before = _counts(stack, database, schema)
    session = SiteSession(stack)
    since = stack.exec(stack.app, ["date", "+%Y-%m-%d %H:%M:%S"]).stdout.strip()
    try:
        stack.exec(db, ["systemctl", "stop", "postgresql.service", *clusters])
        restart = stack.exec(stack.app, ["systemctl", "restart", SERVICE], check=False)
        time.sleep(2)
        state = unit_state(stack, stack.app, SERVICE)
        readyz = session.get("/readyz")
        login = _attempt(lambda: session.login(**api_users["editor"]))
        create = _attempt(
            lambda: session.post(
                "/api/customers/",
                json={"full_name": "Fault Test", "email": "fault@example.com", "national_id": "FT-123456789"},
            )
        )
        journal = stack.exec(
            stack.app, ["journalctl", "-u", SERVICE, "--since", since, "--no-pager", "-q", "-o", "cat"]
        ).stdout
    finally:
        stack.exec(db, ["systemctl", "start", "postgresql.service", *clusters])
        stack.exec(stack.app, ["systemctl", "restart", SERVICE], check=False)
        wait_for(lambda: _ready(session), 90, "/readyz to answer 200 after PostgreSQL is back")
    after = _counts(stack, database, schema)
    body = readyz.text
    figures.update(
        service_after_restart=f"{state.get('ActiveState')}/{state.get('SubState')}",
        systemctl_restart_exit=restart.returncode,
        readyz_status=readyz.status_code,
        readyz_body=body[:300],
        login=login,
        create=create,
        rows_before=before,
        rows_after=after,
    )
    if state.get("ActiveState") == "active":
        assert readyz.status_code == 503, (
            f"/readyz answered {readyz.status_code} with the database down: {body[:300]}"
        )
        # The field-encryption keys are wrapped in the database too, so they may be listed as well.
        assert "database" in readyz.json().get("failing", []), body[:300]
    else:  # the app refused to start: its own error must name the database
        assert readyz.status_code >= 500
    assert "database" in journal.lower(), "the app's journal does not name the database"
    assert login != 200, "a login succeeded with the database down"
    assert not (isinstance(create, int) and 200 <= create < 300), (
        f"a create answered {create} with the database down"
    )
    assert after == before, f"rows changed across the outage: before {before}, after {after}"
