"""Building a valid production environment with throw-away values, and importing the production
settings module against it (in-process, so moto's AWS mock applies)."""

from __future__ import annotations

import base64
import importlib
import json
import os
import secrets
import sys
from pathlib import Path
from types import ModuleType

import pytest

SETTINGS_MODULES = ("config.settings.base", "config.settings.production")
ENV_PREFIXES = ("DJANGO_", "FIELD_ENCRYPTION_", "DATABASE_URL", "AWS_")


def random_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def production_environment(tmp_path: Path) -> dict[str, str]:
    ca_bundle = tmp_path / "rds-ca.pem"
    ca_bundle.write_text("-----BEGIN CERTIFICATE-----\n(throw-away)\n-----END CERTIFICATE-----\n")
    return {
        "DJANGO_SECRETS_BACKEND": "env",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(60),
        "DATABASE_URL": f"postgres://soc2kit:{secrets.token_urlsafe(24)}@db.internal.example:5432/soc2kit",
        "DJANGO_DB_CA_BUNDLE": str(ca_bundle),
        "DJANGO_ALLOWED_HOSTS": "app.example.test",
        "DJANGO_CSRF_TRUSTED_ORIGINS": "https://app.example.test",
        "DJANGO_CORS_ALLOWED_ORIGINS": "https://portal.example.test",
        "FIELD_ENCRYPTION_KEK_BACKEND": "local",
        "FIELD_ENCRYPTION_LOCAL_KEKS": json.dumps({"active": "k1", "keys": {"k1": random_key()}}),
        "FIELD_ENCRYPTION_BLIND_INDEX_KEY": random_key(),
    }


def load_production_settings(monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]) -> ModuleType:
    """Import config.settings.production afresh with exactly ``environ`` (plus PATH etc.)."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIXES):
            monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    saved = {name: sys.modules.pop(name) for name in SETTINGS_MODULES if name in sys.modules}
    try:
        return importlib.import_module("config.settings.production")
    finally:
        for name in SETTINGS_MODULES:
            sys.modules.pop(name, None)
        sys.modules.update(saved)
