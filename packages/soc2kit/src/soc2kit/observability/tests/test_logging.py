"""Real log output (through the configured handlers, filter and JSON formatter) carries no secrets or
personal data; alerts reach the configured handler (mail to ADMINS by default)."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.conf import settings
from django.core import mail

from soc2kit.observability.alerts import raise_alert
from soc2kit.observability.redaction import REDACTED, redact_text

SECRETS_AND_PII = {
    "password": "Tr0ub4dor&3-horse",
    "email": "jane.doe@example.com",
    "national_id": "123-45-6789",
    "bearer": "eyJhbGciOiJIUzI1NiJ9.payload.sig",
    "cookie": "sessionid=abc123sessionvalue",
    "db_password": "db-Pa55word-xyz",
    "nino": "QQ123456C",
}


@pytest.fixture
def log_output():
    """Swap the stream of the configured stdout handler; yield a function returning parsed JSON lines."""
    handler = next(h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler))
    stream = io.StringIO()
    previous = handler.setStream(stream)

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]

    yield lines
    handler.setStream(previous)


def raw(lines: list[dict]) -> str:
    return json.dumps(lines)


def assert_clean(text: str) -> None:
    for value in [
        *SECRETS_AND_PII.values(),
        settings.SECRET_KEY,
        settings.FIELD_ENCRYPTION["BLIND_INDEX_KEY"],
    ]:
        assert value not in text, value


def test_message_args_and_extra_are_redacted(log_output):
    logger = logging.getLogger("soc2kit.test")
    logger.warning(
        "login for %s with password=%s failed; id %s; auth: %s",
        SECRETS_AND_PII["email"],
        SECRETS_AND_PII["password"],
        SECRETS_AND_PII["national_id"],
        "Bearer " + SECRETS_AND_PII["bearer"],
    )
    logger.info(
        "request headers",
        extra={
            "headers": {
                "Authorization": "Basic dXNlcjpwYXNz",
                "Cookie": SECRETS_AND_PII["cookie"],
                "Accept": "json",
            },
            "national_id": SECRETS_AND_PII["national_id"],
            "customer": {"email": SECRETS_AND_PII["email"], "id": 7},
            "note": f"connect postgres://app:{SECRETS_AND_PII['db_password']}@db/x "
            f"and id {SECRETS_AND_PII['nino']}",
        },
    )
    logger.error(
        "key leaked: %s and blind key %s", settings.SECRET_KEY, settings.FIELD_ENCRYPTION["BLIND_INDEX_KEY"]
    )
    lines = log_output()
    assert_clean(raw(lines))
    first, second, third = lines
    assert first["level"] == "WARNING"
    assert first["logger"] == "soc2kit.test"
    assert first["message"].startswith("login for [REDACTED] with password=[REDACTED] failed")
    assert second["headers"] == {"Authorization": REDACTED, "Cookie": REDACTED, "Accept": "json"}
    assert second["national_id"] == REDACTED
    assert second["customer"] == {"email": REDACTED, "id": 7}
    assert third["message"] == f"key leaked: {REDACTED} and blind key {REDACTED}"


def test_exception_text_is_redacted(log_output):
    try:
        raise ValueError(f"bad customer {SECRETS_AND_PII['email']} id {SECRETS_AND_PII['national_id']}")
    except ValueError:
        logging.getLogger("soc2kit.test").exception("failed for token=%s", "tok_live_0123456789")
    (line,) = log_output()
    assert "ValueError: bad customer [REDACTED] id [REDACTED]" in line["exc_info"]
    assert_clean(raw([line]))
    assert "tok_live_0123456789" not in raw([line])


def test_timestamps_and_small_numbers_survive(log_output):
    logging.getLogger("soc2kit.test").info("at 2026-11-29 16:02:31 served 1234 rows for customer 42")
    (line,) = log_output()
    assert line["message"] == "at 2026-11-29 16:02:31 served 1234 rows for customer 42"


@pytest.mark.django_db
def test_django_request_logging_of_a_login_is_clean(log_output, make_user):
    from conftest import ApiClient

    make_user("jane.doe@example.com")
    client = ApiClient()
    client.login_api(
        "jane.doe@example.com", SECRETS_AND_PII["password"], HTTP_COOKIE=SECRETS_AND_PII["cookie"]
    )
    client.get("/api/customers/", {"email": SECRETS_AND_PII["email"], "national_id": "123456789"})
    lines = log_output()
    assert any(line["logger"] == "django.request" for line in lines)  # "Unauthorized: ..." records
    assert_clean(raw(lines))


def test_every_configured_handler_redacts():
    handlers = logging.getLogger().handlers + logging.getLogger("soc2kit.alerts").handlers
    configured = [h for h in handlers if not type(h).__module__.startswith("_pytest")]  # pytest's own capture
    assert len(configured) == 3  # stdout on root, stdout + alert on soc2kit.alerts
    for handler in configured:
        assert any(type(f).__name__ == "RedactionFilter" for f in handler.filters), handler


def test_alert_goes_to_admins_by_mail_without_pii():
    mail.outbox.clear()
    raise_alert("lockout", f"client 203.0.113.9 locked out trying {SECRETS_AND_PII['email']}", audit_id=3)
    (message,) = mail.outbox
    assert message.to == ["security@example.test"]
    assert "SECURITY ALERT lockout" in message.subject
    assert "203.0.113.9" in message.body
    assert SECRETS_AND_PII["email"] not in f"{message.subject}{message.body}"


def test_redact_text_patterns():
    assert redact_text("Authorization: Bearer abc.def.ghi", []) == f"Authorization: {REDACTED}"
    assert redact_text('{"password": "hunter2hunter2"}', []) == f'{{"password": {REDACTED}}}'
    assert redact_text("card 4111 1111 1111 1111 ok", []) == f"card {REDACTED} ok"


# Canary values of one scripted session; none may reach any log line. The national id is written
# with spaces, a spelling that no digit-run pattern catches.
CANARY = {
    "email": "canary.person@example.net",
    "national_id": "QZ 12 34 56 C",
    "password_as_username": "Canary-Passw0rd-in-username",
    "bearer": "canary-bearer-token-5f3a9c",
    "validation": "canary-not-an-email",
}


@pytest.mark.django_db
def test_a_scripted_session_leaves_no_personal_value_in_any_log_line(log_output, client_for, settings):
    from conftest import ApiClient

    mail.outbox.clear()
    editor = client_for("eddie", "customer_editor", "customer_reader_full")
    created = editor.send(
        "POST",
        "/api/customers/",
        {"full_name": "Canary Person", "email": CANARY["email"], "national_id": CANARY["national_id"]},
    )
    assert created.status_code == 201
    assert editor.send("POST", "/api/customers/search/", {"email": CANARY["email"]}).status_code == 200
    found = editor.send("POST", "/api/customers/search/", {"national_id": CANARY["national_id"]})
    assert found.json()["count"] == 1
    assert editor.get("/api/customers/", {"national_id": CANARY["national_id"]}).status_code == 400
    assert editor.get(f"/api/customers/{CANARY['national_id']}/").status_code == 404  # no route
    assert editor.get(f"/api/customers/{created.json()['id'] + 1000}/").status_code == 404  # route, no row
    assert editor.send("PATCH", f"/api/customers/{created.json()['id']}/", {"email": CANARY["validation"]})
    stranger = ApiClient()
    assert stranger.login_api(CANARY["password_as_username"], "whatever-123").status_code == 401
    assert stranger.get("/api/customers/", HTTP_AUTHORIZATION=f"Bearer {CANARY['bearer']}").status_code == 401
    assert stranger.post("/api/customers/search/", {"email": CANARY["email"]}).status_code == 403  # CSRF

    lines = log_output()
    text = raw(lines) + "".join(f"{message.subject}{message.body}" for message in mail.outbox)
    for name, value in CANARY.items():
        assert value not in text, name
        assert value.replace(" ", "") not in text, name
    assert "Canary Person" not in text
    # The warnings are still there, and say which route and status.
    warnings = [line for line in lines if line["logger"].startswith(("django.request", "django.security"))]
    messages = {line["message"] for line in warnings}
    assert "Not Found: /api/[REDACTED]" in messages
    assert "Not Found: /api/customers/<int:pk>/" in messages
    assert "Bad Request: /api/customers/" in messages
    assert all(line.get("request") in ("GET", "POST", "PATCH") for line in warnings)
    assert {line["status_code"] for line in warnings} >= {400, 401, 403, 404}
