"""Production refuses weak settings when the settings load (so gunicorn and manage.py do not start),
naming the setting: a low-entropy DJANGO_SECRET_KEY and a wildcard DJANGO_ALLOWED_HOSTS."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from .helpers import load_production_settings, production_environment


@pytest.mark.parametrize(
    ("secret_key", "message"),
    [
        ("ab" * 40, "DJANGO_SECRET_KEY has fewer than 5 distinct characters"),
        ("abcd" * 20, "DJANGO_SECRET_KEY has fewer than 5 distinct characters"),
        ("x7Kq2" * 9, r"DJANGO_SECRET_KEY is too short \(45 characters, at least 50"),
    ],
)
def test_a_low_entropy_secret_key_is_refused_by_name(tmp_path, monkeypatch, secret_key, message):
    environment = {**production_environment(tmp_path), "DJANGO_SECRET_KEY": secret_key}
    with pytest.raises(ImproperlyConfigured, match=message) as refused:
        load_production_settings(monkeypatch, environment)
    assert secret_key not in str(refused.value)


@pytest.mark.parametrize("hosts", ["*", "app.example.test,*", " * ", ".", "*."])
def test_a_wildcard_allowed_host_is_refused_by_name(tmp_path, monkeypatch, hosts):
    environment = {**production_environment(tmp_path), "DJANGO_ALLOWED_HOSTS": hosts}
    with pytest.raises(ImproperlyConfigured, match="DJANGO_ALLOWED_HOSTS contains the wildcard"):
        load_production_settings(monkeypatch, environment)


def test_host_names_and_subdomain_patterns_are_accepted(tmp_path, monkeypatch):
    environment = {
        **production_environment(tmp_path),
        "DJANGO_ALLOWED_HOSTS": "app.example.test,.example.org",
    }
    production = load_production_settings(monkeypatch, environment)
    assert production.ALLOWED_HOSTS == ["app.example.test", ".example.org"]
