"""The admin never shows customer values: customers are not registered, and the audit trail (which
holds no values) is read-only there."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from soc2kit.audit.models import AuditEvent

from demo.customers.models import Customer


def test_customers_are_not_in_the_admin():
    assert Customer not in admin.site._registry


@pytest.mark.django_db
def test_audit_trail_is_read_only_in_the_admin(client):
    superuser = User.objects.create_superuser("root", password="x" * 16)
    client.force_login(superuser)
    listing = client.get("/admin/audit/auditevent/")
    assert listing.status_code == 200
    event = AuditEvent.objects.get(action="login")
    assert client.get(f"/admin/audit/auditevent/{event.pk}/change/").status_code == 200  # view only
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    response = client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.django_db
def test_admin_permission_denials_are_audited(client):
    staff = User.objects.create_user("staffer", password="x" * 16, is_staff=True)
    client.force_login(staff)
    assert client.get("/admin/audit/auditevent/").status_code == 403
    denial = AuditEvent.objects.get(action="access_denied")
    assert denial.actor_username == "staffer"
    assert denial.request_path == "/admin/audit/auditevent/"


@pytest.mark.django_db
def test_admin_and_login_pages_need_nothing_the_csp_forbids(client):
    """The CSP allows only same-origin script and style files: no inline <script>, <style> or style=."""
    import re

    anonymous = ["/admin/login/", "/accounts/login/"]
    staff = ["/admin/", "/admin/audit/auditevent/", "/admin/auth/user/add/", "/admin/auth/group/"]
    for url in anonymous + staff:
        if url == staff[0]:
            client.force_login(User.objects.create_superuser("csp", password="x" * 16))
        response = client.get(url)
        html = response.content.decode()
        assert response.status_code == 200, url
        assert "default-src 'none'" in response["Content-Security-Policy"]
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == [], url
        assert "<style" not in html, url
        assert "style=" not in html, url
