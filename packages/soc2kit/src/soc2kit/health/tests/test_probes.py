"""/healthz answers without the database; /readyz checks the database and the encryption keys and
answers 503 naming the failing dependency."""

from __future__ import annotations

import base64
import json

import pytest
from demo.customers.models import Customer
from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper


@pytest.mark.django_db  # only so the query counter may watch the connection
def test_healthz_needs_no_database(client, django_assert_max_num_queries):
    with django_assert_max_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_ok(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "encryption_keys": "ok"}}


@pytest.mark.django_db
def test_readyz_503_when_the_database_is_unreachable(client, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(BaseDatabaseWrapper, "cursor", refuse)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "database" in response.json()["failing"]  # the keyring lives in the database too
    assert response.json()["checks"]["database"] == "failed: OperationalError"


@pytest.mark.django_db
def test_readyz_503_when_the_kek_cannot_unwrap_the_data_key(client, settings):
    Customer.objects.create(full_name="Probe", email="p@example.com", national_id="PROBE-0001")
    wrong_kek = base64.b64encode(b"w" * 32).decode()
    settings.FIELD_ENCRYPTION = {
        **settings.FIELD_ENCRYPTION,
        "LOCAL_KEKS": json.dumps({"active": "k1", "keys": {"k1": wrong_kek}}),
    }
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["encryption_keys"]
    assert body["checks"]["database"] == "ok"
    assert wrong_kek not in response.content.decode()


@pytest.mark.django_db
def test_readyz_503_when_key_material_is_malformed(client, settings):
    settings.FIELD_ENCRYPTION = {**settings.FIELD_ENCRYPTION, "BLIND_INDEX_KEY": "too-short"}
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["encryption_keys"]
