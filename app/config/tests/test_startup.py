"""Bad key material stops the app when gunicorn loads it (config.wsgi), not only `check --deploy`."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from soc2kit.secrets.tests.helpers import ENV_PREFIXES, production_environment, random_key

APP_DIR = Path(__file__).resolve().parents[2]
SHORT_KEY = "c2hvcnQta2V5"  # base64 of 9 bytes


def _import_wsgi(tmp_path: Path, **overrides: str) -> subprocess.CompletedProcess:
    environment = {name: value for name, value in os.environ.items() if not name.startswith(ENV_PREFIXES)}
    environment.update(production_environment(tmp_path))
    environment.update(overrides)
    environment.pop("DJANGO_SETTINGS_MODULE", None)  # config.wsgi picks production itself
    return subprocess.run(
        [sys.executable, "-c", "import config.wsgi"],
        cwd=APP_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_good_key_material_loads(tmp_path):
    result = _import_wsgi(tmp_path)
    assert result.returncode == 0, result.stderr


KEY = random_key()
LONG_KEY = base64.b64encode(os.urandom(48)).decode()


@pytest.mark.parametrize(
    ("overrides", "secret", "message"),
    [
        (
            {"FIELD_ENCRYPTION_LOCAL_KEKS": '{"active": "k1", "keys": {"k1": "' + KEY},
            KEY,
            "FIELD_ENCRYPTION_LOCAL_KEKS is not valid JSON",
        ),
        (
            {"FIELD_ENCRYPTION_LOCAL_KEKS": json.dumps({"active": "k1", "keys": {"k1": SHORT_KEY}})},
            SHORT_KEY,
            "FIELD_ENCRYPTION_LOCAL_KEKS key 'k1' decodes to 9 bytes",
        ),
        (
            {"FIELD_ENCRYPTION_LOCAL_KEKS": json.dumps({"active": "k1", "keys": {"k1": KEY[:-2] + "!!"}})},
            KEY[:-2],
            "FIELD_ENCRYPTION_LOCAL_KEKS key 'k1' is not valid base64",
        ),
        (
            {"FIELD_ENCRYPTION_BLIND_INDEX_KEY": LONG_KEY},
            LONG_KEY,
            "FIELD_ENCRYPTION_BLIND_INDEX_KEY decodes to 48 bytes",
        ),
    ],
    ids=["broken-kek-json", "short-kek", "malformed-kek", "long-blind-index-key"],
)
def test_bad_key_material_stops_the_wsgi_app(tmp_path, overrides, secret, message):
    result = _import_wsgi(tmp_path, **overrides)
    assert result.returncode != 0
    assert "ImproperlyConfigured: Field encryption cannot start" in result.stderr
    assert message in result.stderr
    assert secret not in result.stderr + result.stdout  # named, never echoed
