"""Login, logout, lockout (django-axes keyed on the real client address) and their audit entries."""

import pytest
from axes.models import AccessAttempt
from conftest import PASSWORD, ApiClient
from django.contrib.auth.models import Group
from django.core import mail
from django.core.management import call_command
from soc2kit.audit.models import AuditEvent

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
    assert lockout is not None
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


def test_attackers_own_logins_do_not_reset_the_victims_failure_count(make_user, settings):
    make_user("victim")
    make_user("mallory")
    attacker = ApiClient(REMOTE_ADDR=ATTACKER)
    guesses = []
    for _ in range(20):
        guesses.append(bad_login(attacker, "victim").status_code)
        attacker.login_api("mallory")  # the attacker's own account, same address
        attacker.send("POST", "/api/auth/logout/")
    limit = settings.AXES_FAILURE_LIMIT
    assert guesses[: limit - 1] == [401] * (limit - 1)
    assert guesses[limit - 1 :] == [429] * (20 - limit + 1)
    assert attacker.login_api("victim", PASSWORD).status_code == 429


def test_a_users_own_login_clears_only_their_own_failures(make_user, settings):
    make_user("alice")
    client = ApiClient(REMOTE_ADDR=ATTACKER)
    for _ in range(2):  # typos, a login, more typos: never locked out by one's own typing
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            assert bad_login(client).status_code == 401
        assert client.login_api("alice").status_code == 200
        client.send("POST", "/api/auth/logout/")
    assert AccessAttempt.objects.count() == 0


def test_ipv6_addresses_in_one_slash_64_are_one_client(make_user, settings):
    make_user("alice")
    statuses = [
        bad_login(ApiClient(REMOTE_ADDR=f"2001:db8:1:2::{n + 1:x}")).status_code
        for n in range(settings.AXES_FAILURE_LIMIT)
    ]
    assert statuses[-1] == 429
    assert bad_login(ApiClient(REMOTE_ADDR="2001:db8:1:2:ffff:ffff:ffff:ffff")).status_code == 429
    assert AccessAttempt.objects.get().ip_address == "2001:db8:1:2::"
    # The next /64 is another client; the audit trail keeps each full address.
    assert ApiClient(REMOTE_ADDR="2001:db8:1:3::1").login_api("alice").status_code == 200
    failed = AuditEvent.objects.filter(action="login_failed").order_by("id").first()
    assert failed is not None
    assert failed.client_ip == "2001:db8:1:2::1"


def test_an_unknown_username_is_recorded_only_as_a_keyed_hash(make_user, settings):
    import hashlib

    make_user("alice")
    typed = "Tr0ub4dor&3-typed-in-the-username-field"
    client = ApiClient(REMOTE_ADDR=ATTACKER)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.login_api(typed, "whatever-123")
    failed = AuditEvent.objects.filter(action="login_failed").first()
    assert failed is not None
    assert failed.actor_username.startswith("unknown-user:")
    assert hashlib.sha256(typed.encode()).hexdigest()[:32] not in failed.actor_username  # keyed, not plain
    lockout = AuditEvent.objects.filter(action="lockout").first()
    assert lockout is not None
    assert lockout.actor_username == failed.actor_username
    assert set(AccessAttempt.objects.values_list("username", flat=True)) == {failed.actor_username}
    stored = "\n".join(
        str(row) for row in AuditEvent.objects.values_list("actor_username", "details", "request_path")
    )
    assert typed not in stored  # the logs: observability's scripted-session test
    # The key comes from settings: another SECRET_KEY gives another hash.
    from soc2kit.accounts.usernames import recordable_username

    settings.SECRET_KEY = "another-test-only-key-" + "y" * 40
    assert recordable_username(typed) != failed.actor_username
    assert recordable_username("alice") == "alice"
