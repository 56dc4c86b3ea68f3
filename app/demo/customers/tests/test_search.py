"""Exact-match search is no enumeration oracle: it is a POST (values stay out of URLs and logs), needs
the search_customer permission, is rate-limited per user, raises an alert on enumeration-like use, and
is audited with the searched field names only."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from django.core import mail
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.db import connection
from soc2kit.audit.models import AuditEvent

from .test_api import ALICE, BOB, create

pytestmark = pytest.mark.django_db

SEARCH = "/api/customers/search/"


@pytest.fixture
def editor(client_for):
    return client_for("eddie", "customer_editor", "customer_reader_full")


@pytest.fixture
def full_reader(client_for):
    return client_for("fred", "customer_reader_full")


class _ListHandler(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__()
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def alert_records():
    """The records reaching the soc2kit.alerts logger (which does not propagate to pytest's caplog)."""
    records: list[logging.LogRecord] = []
    handler = _ListHandler(records)
    logger = logging.getLogger("soc2kit.alerts")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def search(client, **body):
    return client.send("POST", SEARCH, body)


def audit_text() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(a)::text FROM audit_auditevent a")
        return "\n".join(row[0] for row in cursor.fetchall())


def test_search_is_a_normalised_exact_match_answered_like_the_list(editor, full_reader):
    alice = create(editor)
    create(editor, BOB)
    by_email = search(full_reader, email="  alice.example@EXAMPLE.com ")
    assert by_email.status_code == 200
    body = by_email.json()
    assert set(body) == {"count", "page", "page_size", "num_pages", "results"}
    assert [row["id"] for row in body["results"]] == [alice["id"]]
    assert body["results"][0]["national_id"] == ALICE["national_id"]  # full reader: unmasked
    by_id = search(full_reader, national_id="123 45 6789", page=1, page_size=10).json()
    assert [row["id"] for row in by_id["results"]] == [alice["id"]]
    assert by_id["page_size"] == 10
    assert search(full_reader, email="alice@example").json()["count"] == 0


def test_list_refuses_search_parameters_and_points_to_the_post_endpoint(full_reader):
    for name in ("email", "national_id"):
        response = full_reader.get("/api/customers/", {name: "123456789"})
        assert response.status_code == 400
        (message,) = response.json()["errors"][name]
        assert SEARCH in message
        assert "POST" in message
        assert "123456789" not in response.content.decode()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body"),
        ({"email": "a@example.com", "national_id": "123456789"}, "body"),
        ({"email": ""}, "email"),
        ({"email": "   "}, "email"),
        ({"national_id": 123456789}, "national_id"),
        ({"email": "a@example.com", "full_name": "Alice"}, "full_name"),
        ({"email": "a@example.com", "page": 0}, "page"),
        ({"email": "a@example.com", "page": "1"}, "page"),
        ({"email": "a@example.com", "page_size": 201}, "page_size"),
        ({"email": "a@example.com", "page_size": True}, "page_size"),
    ],
)
def test_bad_search_body_is_a_400_naming_the_field(full_reader, body, field):
    response = search(full_reader, **body)
    assert response.status_code == 400
    assert field in response.json()["errors"]


@pytest.mark.parametrize("roles", [("customer_reader_masked",), ("customer_editor",)])
def test_search_needs_the_search_permission(editor, client_for, roles):
    create(editor)
    other = client_for("mallory", *roles)
    response = search(other, national_id=ALICE["national_id"])
    assert response.status_code == 403
    assert "customers.search_customer" in response.json()["detail"]
    denial = AuditEvent.objects.get(action="access_denied", actor_username="mallory")
    assert denial.details["reason"] == "missing customers.search_customer"
    assert search(other, email=ALICE["email"]).status_code == 403
    assert other.get("/api/customers/").status_code == 200  # listing (masked) is still allowed


def test_searches_are_rate_limited_per_user_with_retry_after(full_reader, client_for, settings, monkeypatch):
    settings.CUSTOMER_SEARCH_RATE_LIMIT = 3
    now = [60.0 * 16_666_667 + 30]  # 30 s into a one-minute window
    # The guard's clock only: the cache's own expiry keeps the real time.
    monkeypatch.setattr("demo.customers.search_guard.time", SimpleNamespace(time=lambda: now[0]))
    statuses = [search(full_reader, national_id=f"ID-{n:06d}").status_code for n in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    limited = search(full_reader, email="someone@example.com")
    assert limited.status_code == 429
    assert limited.json()["error"] == "rate_limited"
    assert limited["Retry-After"] == "30"
    denial = AuditEvent.objects.filter(action="access_denied", actor_username="fred").last()
    assert denial is not None
    assert denial.details["reason"] == "search rate limit"
    # Another user has a count of their own.
    other = client_for("grace", "customer_reader_full")
    assert search(other, national_id="ID-000001").status_code == 200
    # The next window allows searches again.
    now[0] += 30
    assert search(full_reader, national_id="ID-000009").status_code == 200


def test_the_counters_live_in_a_cache_shared_by_every_worker():
    # A per-process LocMem cache would give each gunicorn worker its own count.
    assert isinstance(caches["default"], DatabaseCache)


def test_nth_distinct_value_raises_one_enumeration_alert_without_values(full_reader, settings, alert_records):
    settings.CUSTOMER_SEARCH_RATE_LIMIT = 100
    settings.CUSTOMER_SEARCH_ALERT_DISTINCT_VALUES = 4
    guesses = [f"123-45-{n:04d}" for n in range(6)]
    mail.outbox.clear()
    for guess in guesses[:3]:
        assert search(full_reader, national_id=guess).status_code == 200
        assert search(full_reader, national_id=guess.replace("-", " ")).status_code == 200  # same value
    assert mail.outbox == []
    assert alert_records == []
    assert search(full_reader, national_id=guesses[3]).status_code == 200
    (record,) = alert_records
    assert record.alert_event == "search_enumeration"
    assert record.alert_details == {
        "user_id": int(full_reader.session["_auth_user_id"]),
        "distinct_values": 4,
    }
    (alert,) = mail.outbox
    assert "SECURITY ALERT search_enumeration" in alert.subject
    assert "fred" in alert.body
    assert "4 distinct" in alert.body
    for guess in guesses[4:]:  # once per burst
        assert search(full_reader, national_id=guess).status_code == 200
    assert len(mail.outbox) == 1
    assert len(alert_records) == 1
    text = f"{alert.subject}{alert.body}"
    for guess in guesses:
        assert guess not in text
        assert guess.replace("-", "") not in text


def test_searches_are_audited_with_the_field_name_never_the_value(editor, full_reader, client_for, settings):
    settings.CUSTOMER_SEARCH_RATE_LIMIT = 2
    alice = create(editor)
    assert search(full_reader, email=ALICE["email"]).status_code == 200
    assert search(full_reader, national_id="987-65-4321").status_code == 200
    assert search(full_reader, national_id="555-44-3333").status_code == 429
    masked_reader = client_for("mary", "customer_reader_masked")
    assert search(masked_reader, email="mary.guess@example.com").status_code == 403
    searches = AuditEvent.objects.filter(action="list", actor_username="fred").order_by("id")
    assert [event.details["search_fields"] for event in searches] == [["email"], ["national_id"]]
    assert searches[0].details["ids"] == [alice["id"]]
    assert all(event.request_path == SEARCH for event in searches)
    stored = audit_text().lower()
    for value in [
        ALICE["email"],
        ALICE["national_id"],
        "987-65-4321",
        "987654321",
        "555-44-3333",
        "555443333",
        "mary.guess",
    ]:
        assert value.lower() not in stored


@pytest.mark.django_db(transaction=True)
def test_parallel_searches_by_one_user_are_all_counted(make_user, settings):
    """Several workers answering one user at once: the lock on the user's row makes the cache's
    get-then-set count every search, so no more than the limit get through."""
    import threading

    from conftest import ApiClient
    from django.core.cache import cache
    from django.db import connections

    settings.CUSTOMER_SEARCH_RATE_LIMIT = 3
    make_user("fred", "customer_reader_full")
    clients = []
    for _ in range(8):
        client = ApiClient()
        assert client.login_api("fred").status_code == 200
        clients.append(client)
    start = threading.Barrier(len(clients))
    statuses: list[int] = []

    def one_search(client: ApiClient) -> None:
        try:
            start.wait()
            statuses.append(search(client, national_id="ID-000001").status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one_search, args=(client,)) for client in clients]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(statuses) == [200] * 3 + [429] * 5
    finally:
        cache.clear()  # the cache table is not flushed between transactional tests
