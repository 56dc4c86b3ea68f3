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
    from soc2kit.conftest import ApiClient

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
    assert SECRETS_AND_PII["email"] not in message.subject + message.body


def test_redact_text_patterns():
    assert redact_text("Authorization: Bearer abc.def.ghi", []) == f"Authorization: {REDACTED}"
    assert redact_text('{"password": "hunter2hunter2"}', []) == f'{{"password": {REDACTED}}}'
    assert redact_text("card 4111 1111 1111 1111 ok", []) == f"card {REDACTED} ok"
