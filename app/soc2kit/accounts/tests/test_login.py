"""Login, logout, lockout (django-axes keyed on the real client address) and their audit entries."""

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import Group
from django.core import mail
from django.core.management import call_command

from soc2kit.audit.models import AuditEvent
from soc2kit.conftest import PASSWORD, ApiClient

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.66"


def bad_login(client, username="alice", **meta):
    return client.login_api(username, "wrong-password-123", **meta)


def test_api_login_and_logout_are_audited(make_user):
    make_user("alice", "customer_reader_masked")
    client = ApiClient()
    response = client.login_api("alice", HTTP_USER_AGENT="pytest-agent/1.0")
    assert response.status_code == 200
    assert response.json()["username"] == "alice"
    assert client.get("/api/customers/").status_code == 200
    assert client.send("POST", "/api/auth/logout/").status_code == 200
    assert client.get("/api/customers/").status_code == 401
    login, logout = AuditEvent.objects.filter(action__in=["login", "logout"]).order_by("id")
    assert (login.action, login.actor_username, login.outcome) == ("login", "alice", "success")
    assert login.user_agent == "pytest-agent/1.0"
    assert login.client_ip == "127.0.0.1"
    assert login.request_path == "/api/auth/login/"
    assert (logout.action, logout.actor_username) == ("logout", "alice")


def test_failed_login_is_audited_without_the_password(make_user):
    make_user("alice")
    response = bad_login(ApiClient())
    assert response.status_code == 401
    event = AuditEvent.objects.get(action="login_failed")
    assert event.actor_username == "alice"
    assert event.outcome == "failure"
    assert "wrong-password" not in str(event.details)


def test_login_needs_csrf_and_json():
    client = ApiClient()
    assert client.post("/api/auth/login/", {"username": "a", "password": "b"}).status_code == 403
    client.fetch_csrf()
    response = client.send("POST", "/api/auth/login/", {"username": "alice"})
    assert response.status_code == 400
    assert "password" in response.json()["errors"]


def test_lockout_after_failures_is_audited_and_alerts(make_user, settings):
    make_user("alice")
    client = ApiClient(REMOTE_ADDR=ATTACKER)
    mail.outbox.clear()
    statuses = [bad_login(client).status_code for _ in range(settings.AXES_FAILURE_LIMIT)]
    assert statuses[:-1] == [401] * (settings.AXES_FAILURE_LIMIT - 1)
    assert statuses[-1] == 429
    # Even the right password is refused now.
    locked = client.login_api("alice", PASSWORD)
    assert locked.status_code == 429
    assert locked.json()["error"] == "locked_out"
    lockout = AuditEvent.objects.filter(action="lockout").first()  # one per attempt during the lockout
    assert lockout.client_ip == ATTACKER
    assert lockout.actor_username == "alice"
    assert AuditEvent.objects.filter(action="login_failed", outcome="denied").exists()
    assert len(mail.outbox) == 1
    assert "lockout" in mail.outbox[0].subject
    assert ATTACKER in mail.outbox[0].body


def test_spoofed_forwarded_header_from_untrusted_peer_does_not_dodge_lockout(make_user, settings):
    make_user("alice")
    client = ApiClient(REMOTE_ADDR=ATTACKER)
    for n in range(settings.AXES_FAILURE_LIMIT):
        bad_login(client, HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
    assert client.login_api("alice", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.200").status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {ATTACKER}


def test_behind_the_proxy_each_client_is_locked_separately(make_user, settings):
    make_user("alice")
    proxy = ApiClient(REMOTE_ADDR="127.0.0.1")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        bad_login(proxy, HTTP_X_FORWARDED_FOR=f"1.2.3.4, {ATTACKER}")  # forged left entry, real right one
    assert AccessAttempt.objects.get().ip_address == ATTACKER
    assert bad_login(proxy, HTTP_X_FORWARDED_FOR=f"5.6.7.8, {ATTACKER}").status_code == 429
    # Another client behind the same proxy is not affected.
    other = ApiClient(REMOTE_ADDR="127.0.0.1")
    assert other.login_api("alice", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.9").status_code == 200


def test_html_login_page_works_and_is_locked_out_too(make_user, client, settings):
    make_user("alice")
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert b'name="password"' in page.content
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = client.post(
            "/accounts/login/", {"username": "alice", "password": "nope"}, REMOTE_ADDR=ATTACKER
        )
    assert response.status_code == 429
    ok = client.post(
        "/accounts/login/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="198.51.100.3"
    )
    assert ok.status_code == 302


def test_roles_exist_after_migrate_and_setup_roles_is_idempotent():
    call_command("setup_roles")
    call_command("setup_roles")
    perms = {
        group.name: sorted(p.codename for p in group.permissions.all())
        for group in Group.objects.filter(name__startswith="customer_")
    }
    assert perms == {
        "customer_reader_masked": ["view_customer"],
        "customer_reader_full": ["search_customer", "view_customer", "view_customer_full"],
        "customer_editor": ["add_customer", "change_customer", "delete_customer", "view_customer"],
    }


def test_site_root_redirects_to_the_login_page(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert client.get(response["Location"]).status_code == 200


def test_failed_login_is_also_logged_for_shipping_off_the_host(make_user, caplog):
    make_user("alice")
    with caplog.at_level("INFO", logger="soc2kit.audit"):
        assert bad_login(ApiClient()).status_code == 401
    (record,) = [r for r in caplog.records if r.name == "soc2kit.audit"]
    entry = AuditEvent.objects.get(action="login_failed")
    assert record.audit["id"] == entry.id
    assert (record.audit["actor"], record.audit["action"], record.audit["outcome"]) == (
        "alice",
        "login_failed",
        "failure",
    )
    assert record.audit["mac"] == entry.mac
    assert "wrong-password-123" not in record.getMessage() + repr(record.audit)
