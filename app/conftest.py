"""Fixtures shared by the CORE apps' tests (users with roles, logged-in API clients)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

PASSWORD = "correct-horse-battery-staple-42"  # noqa: S105 - test users only


class ApiClient(Client):
    """A test client that sends JSON bodies and enforces CSRF like a browser session would."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(enforce_csrf_checks=True, **kwargs)
        self.csrf_token = ""

    def fetch_csrf(self) -> str:
        self.csrf_token = self.get("/api/auth/csrf/").json()["csrfToken"]
        return self.csrf_token

    def send(self, method: str, path: str, data: Any = None, **extra: Any) -> Any:
        if not self.csrf_token:
            self.fetch_csrf()
        body = json.dumps(data) if data is not None else ""
        handler = getattr(self, method.lower())
        return handler(path, body, content_type="application/json", HTTP_X_CSRFTOKEN=self.csrf_token, **extra)

    def login_api(self, username: str, password: str = PASSWORD, **extra: Any) -> Any:
        response = self.send(
            "POST", "/api/auth/login/", {"username": username, "password": password}, **extra
        )
        if response.status_code == 200:
            self.csrf_token = response.json()["csrfToken"]  # rotated on login
        return response


@pytest.fixture(autouse=True)
def _fresh_keyring() -> None:
    """Each test starts with an empty keyring cache: a data key cached by an earlier test may belong to
    a transaction that was rolled back, and must not be used (or trusted) by the next test."""
    from soc2kit.encryption.keyring import reset_keyring

    reset_keyring()


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    def make(username: str, *roles: str) -> User:
        user = User.objects.create_user(username=username, password=PASSWORD)
        for role in roles:
            user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def api_client() -> ApiClient:
    return ApiClient()


@pytest.fixture
def client_for(make_user: Callable[..., User]) -> Callable[..., ApiClient]:
    """A logged-in ApiClient for a new user holding ``roles``."""

    def build(username: str, *roles: str) -> ApiClient:
        make_user(username, *roles)
        client = ApiClient()
        assert client.login_api(username).status_code == 200
        return client

    return build
