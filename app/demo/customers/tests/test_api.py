"""The customer API: CRUD, search through the blind index, validation, masking by role, and the
audit entries each request leaves (without any personal value in them)."""

from __future__ import annotations

import json

import pytest
from django.core import mail
from django.db import connection
from soc2kit.audit.models import AuditEvent

from demo.customers.models import Customer

ALICE = {
    "full_name": "Alice Example",
    "email": "Alice.Example@example.com",
    "national_id": "123-45-6789",
    "date_of_birth": "1980-02-29",
    "notes": "Prefers contact by post; VIP-NOTE-7731",
}
BOB = {"full_name": "Bob Sample", "email": "bob@example.org", "national_id": "AB 987654 C"}
PLAINTEXTS = [
    "Alice Example",
    "Alice.Example@example.com",
    "alice.example@example.com",
    "123-45-6789",
    "123456789",
    "VIP-NOTE-7731",
    "1980-02-29",
]

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor(client_for):
    return client_for("eddie", "customer_editor", "customer_reader_full")


def create(client, data=ALICE):
    response = client.send("POST", "/api/customers/", data)
    assert response.status_code == 201, response.content
    return response.json()


def test_create_returns_full_record_to_full_reader_and_stores_ciphertext(editor):
    body = create(editor)
    assert body["email"] == ALICE["email"]
    assert body["national_id"] == ALICE["national_id"]
    assert body["date_of_birth"] == "1980-02-29"
    assert body["masked"] is False
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM customers_customer WHERE id = %s", [body["id"]])
        raw = " ".join(str(value) for value in cursor.fetchone())
    for plaintext in PLAINTEXTS:
        assert plaintext not in raw


def test_list_is_paginated(editor):
    for number in range(5):
        create(editor, {**BOB, "email": f"bob{number}@example.org", "national_id": f"ID-{number:06d}"})
    page = editor.get("/api/customers/?page=2&page_size=2").json()
    assert page["count"] == 5
    assert page["num_pages"] == 3
    assert page["page"] == 2
    assert len(page["results"]) == 2
    assert editor.get("/api/customers/?page=4&page_size=2").status_code == 400


def test_detail_update_and_delete(editor):
    alice = create(editor)
    url = f"/api/customers/{alice['id']}/"
    assert editor.get(url).json()["notes"] == ALICE["notes"]
    patched = editor.send("PATCH", url, {"notes": "", "email": "alice@example.net"})
    assert patched.status_code == 200
    assert patched.json()["notes"] == ""
    assert patched.json()["email"] == "alice@example.net"
    replaced = editor.send("PUT", url, BOB)
    assert replaced.status_code == 200
    assert replaced.json()["date_of_birth"] is None
    assert replaced.json()["full_name"] == "Bob Sample"
    assert (
        editor.send("PUT", url, {"full_name": "Only Name"}).status_code == 400
    )  # PUT needs every required field
    assert editor.send("DELETE", url).status_code == 204
    assert editor.get(url).status_code == 404
    assert not Customer.objects.filter(pk=alice["id"]).exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({**ALICE, "email": "not-an-email"}, "email"),
        ({**ALICE, "national_id": "12"}, "national_id"),
        ({**ALICE, "date_of_birth": "29/02/1980"}, "date_of_birth"),
        ({**ALICE, "date_of_birth": "2999-01-01"}, "date_of_birth"),
        ({**ALICE, "full_name": 42}, "full_name"),
        ({**ALICE, "full_name": "   "}, "full_name"),
        ({**ALICE, "is_admin": True}, "is_admin"),
        ({k: v for k, v in ALICE.items() if k != "email"}, "email"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_without_echoing_the_value(editor, payload, field):
    response = editor.send("POST", "/api/customers/", payload)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_request"
    assert field in body["errors"]
    assert "not-an-email" not in response.content.decode()
    assert Customer.objects.count() == 0


def test_non_json_bodies_are_rejected(editor):
    response = editor.post(
        "/api/customers/",
        "full_name=x",
        content_type="application/x-www-form-urlencoded",
        HTTP_X_CSRFTOKEN=editor.csrf_token,
    )
    assert response.status_code == 400
    assert "body" in response.json()["errors"]
    response = editor.post(
        "/api/customers/", "[1, 2]", content_type="application/json", HTTP_X_CSRFTOKEN=editor.csrf_token
    )
    assert response.status_code == 400
    assert editor.get("/api/customers/?page=abc").status_code == 400
    assert editor.get("/api/customers/?unknown=1").status_code == 400


def test_writes_without_csrf_token_are_refused(editor):
    response = editor.post("/api/customers/", json.dumps(ALICE), content_type="application/json")
    assert response.status_code == 403
    assert response.json()["error"] == "csrf_failed"
    assert Customer.objects.count() == 0


def test_masked_reader_sees_masked_values_only(editor, client_for):
    alice = create(editor)
    reader = client_for("mary", "customer_reader_masked")
    detail = reader.get(f"/api/customers/{alice['id']}/").json()
    assert detail["email"] == "A***@example.com"
    assert detail["national_id"] == "****6789"
    assert detail["full_name"] == "A*** E***"
    assert "notes" not in detail
    assert "date_of_birth" not in detail
    assert detail["masked"] is True
    listed = reader.get("/api/customers/").json()["results"][0]
    assert listed == detail
    text = reader.get("/api/customers/").content.decode()
    for plaintext in PLAINTEXTS:
        assert plaintext not in text


def test_full_reader_cannot_write_and_each_denial_is_audited(editor, client_for):
    alice = create(editor)
    reader = client_for("fred", "customer_reader_full")
    assert reader.get(f"/api/customers/{alice['id']}/").json()["notes"] == ALICE["notes"]
    assert reader.send("POST", "/api/customers/", BOB).status_code == 403
    assert reader.send("DELETE", f"/api/customers/{alice['id']}/").status_code == 403
    denials = AuditEvent.objects.filter(action="access_denied", actor_username="fred")
    assert denials.count() == 2
    assert {event.details["reason"] for event in denials} == {
        "missing customers.add_customer",
        "missing customers.delete_customer",
    }
    assert denials.filter(object_id=str(alice["id"])).count() == 1


def test_anonymous_requests_get_401_and_are_audited(api_client):
    assert api_client.get("/api/customers/").status_code == 401
    assert api_client.get("/api/customers/1/").status_code == 401
    events = AuditEvent.objects.filter(action="access_denied", details__reason="not_authenticated")
    assert events.count() == 2
    last = events.last()
    assert last is not None
    assert last.object_id == "1"


def test_user_without_role_is_denied(client_for):
    nobody = client_for("nobody")
    assert nobody.get("/api/customers/").status_code == 403


def test_repeated_denials_raise_one_alert_mail(client_for, settings):
    settings.SECURITY_DENIAL_ALERT_THRESHOLD = 3
    nobody = client_for("snoop")
    mail.outbox.clear()
    for _ in range(5):
        assert nobody.get("/api/customers/").status_code == 403
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["security@example.test"]
    assert "repeated_denials" in message.subject
    assert "snoop" in message.body


def test_every_access_is_audited_with_field_names_but_no_values(editor, client_for):
    alice = create(editor)
    url = f"/api/customers/{alice['id']}/"
    editor.get(url)
    editor.send("POST", "/api/customers/search/", {"email": ALICE["email"]})
    editor.send("PATCH", url, {"notes": "changed SECRET-NOTE-99", "full_name": ALICE["full_name"]})
    editor.send("DELETE", url)
    events = list(AuditEvent.objects.filter(object_type="customers.customer").order_by("id"))
    assert [event.action for event in events] == ["create", "read", "list", "update", "delete"]
    create_event, read_event, list_event, update_event, delete_event = events
    assert create_event.changed_fields == sorted(
        ["full_name", "email", "national_id", "date_of_birth", "notes"]
    )
    assert update_event.changed_fields == ["notes"]  # full_name was sent unchanged
    assert list_event.details["search_fields"] == ["email"]
    assert list_event.details["ids"] == [alice["id"]]
    assert read_event.details == {"masked": False}
    assert read_event.object_id == str(alice["id"])
    assert {event.actor_username for event in events} == {"eddie"}
    assert delete_event.object_id == str(alice["id"])
    assert delete_event.outcome == "success"
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(a)::text FROM audit_auditevent a")
        stored = "\n".join(row[0] for row in cursor.fetchall())
    for plaintext in [*PLAINTEXTS, "SECRET-NOTE-99", "alice.example"]:
        assert plaintext.lower() not in stored.lower()


def test_customer_repr_and_str_hide_personal_values(editor):
    alice = Customer.objects.get(pk=create(editor)["id"])
    assert "Alice" not in str(alice)
    assert "Alice" not in repr(alice)


def test_failed_create_leaves_no_record_and_no_orphaned_data_key(editor, monkeypatch):
    from soc2kit.encryption.keyring import get_keyring, reset_keyring
    from soc2kit.encryption.models import DataKey

    reset_keyring()
    DataKey.objects.all().delete()

    def audit_down(*args, **kwargs):
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr("demo.customers.views.record", audit_down)
    with pytest.raises(RuntimeError, match="audit store unavailable"):
        editor.send("POST", "/api/customers/", ALICE)
    assert Customer.objects.count() == 0  # no record without its audit entry
    # The data key was committed before the request's transaction, so the cached key is in the table.
    assert list(DataKey.objects.values_list("key_id", flat=True)) == [get_keyring().active().key_id]


LONE_SURROGATE = '"Alice \\ud800 Example"'  # JSON text: the escape of a lone UTF-16 surrogate


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/auth/login/", f'{{"username": {LONE_SURROGATE}, "password": "x"}}'),
        (
            "POST",
            "/api/customers/",
            f'{{"full_name": {LONE_SURROGATE}, "email": "a@example.com", "national_id": "123456789"}}',
        ),
        ("PATCH", "/api/customers/{id}/", f'{{"notes": {LONE_SURROGATE}}}'),
        ("PUT", "/api/customers/{id}/", f"{{{LONE_SURROGATE}: 1}}"),
        ("POST", "/api/customers/search/", f'{{"email": {LONE_SURROGATE}}}'),
    ],
)
def test_a_lone_utf16_surrogate_in_json_is_a_400_on_every_endpoint(editor, method, path, body):
    alice = create(editor)
    handler = getattr(editor, method.lower())
    response = handler(
        path.format(id=alice["id"]),
        body,
        content_type="application/json",
        HTTP_X_CSRFTOKEN=editor.csrf_token,
    )
    assert response.status_code == 400, response.content
    assert "surrogate" in response.json()["errors"]["body"][0]
    assert Customer.objects.count() == 1


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_write_responses_are_masked_for_an_editor_without_the_full_reader_role(editor, client_for, method):
    plain_editor = client_for("ed", "customer_editor")
    if method == "POST":
        response = plain_editor.send("POST", "/api/customers/", ALICE)
        assert response.status_code == 201
    else:
        alice = create(editor, {**BOB, "email": "bob.before@example.org"})
        response = plain_editor.send(method, f"/api/customers/{alice['id']}/", ALICE)
        assert response.status_code == 200
    body = response.json()
    assert body["masked"] is True
    assert body["national_id"] == "****6789"
    assert body["email"] == "A***@example.com"
    text = response.content.decode()
    for plaintext in PLAINTEXTS:
        assert plaintext not in text
