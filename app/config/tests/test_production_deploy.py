"""The production settings as a real process sees them: `manage.py check --deploy` reports zero
issues, and responses carry the security headers and cookies (HTTPS redirect, HSTS, CSP, ...)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from soc2kit.secrets.tests.helpers import ENV_PREFIXES, production_environment

APP_DIR = Path(__file__).resolve().parents[2]


def run_production(
    tmp_path: Path, *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    environment = {name: value for name, value in os.environ.items() if not name.startswith(ENV_PREFIXES)}
    environment.update(production_environment(tmp_path))
    environment.update(extra_env or {})
    environment["DJANGO_SETTINGS_MODULE"] = "config.settings.production"
    return subprocess.run(
        [sys.executable, *args], cwd=APP_DIR, env=environment, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_reports_zero_issues(tmp_path):
    result = run_production(tmp_path, "manage.py", "check", "--deploy", "--fail-level", "DEBUG")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_refuses_to_start_without_its_secret_key(tmp_path):
    result = run_production(tmp_path, "manage.py", "check", extra_env={"DJANGO_SECRET_KEY": "changeme"})
    assert result.returncode != 0
    assert "Secret DJANGO_SECRET_KEY is still a placeholder" in result.stderr


PROBE = textwrap.dedent(
    """
    import json, django
    django.setup()
    from django.test import Client
    client = Client(HTTP_HOST="app.example.test")
    out = {}
    for name, path, kwargs in [
        ("plain_login", "/accounts/login/", {}),
        ("https_login", "/accounts/login/", {"HTTP_X_FORWARDED_PROTO": "https"}),
        ("plain_healthz", "/healthz", {}),
        ("cors_allowed", "/healthz", {"HTTP_ORIGIN": "https://portal.example.test"}),
        ("cors_api_allowed", "/api/auth/csrf/", {"HTTP_ORIGIN": "https://portal.example.test", "secure": 1}),
        ("cors_api_other", "/api/auth/csrf/", {"HTTP_ORIGIN": "https://evil.example", "secure": True}),
    ]:
        response = client.get(path, **kwargs)
        out[name] = {
            "status": response.status_code,
            "headers": {k.lower(): v for k, v in response.headers.items()},
            "cookies": {k: dict(v.items()) | {"value": bool(v.value)} for k, v in response.cookies.items()},
        }
    print(json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def responses(tmp_path_factory):
    result = run_production(tmp_path_factory.mktemp("prod"), "-c", PROBE)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_plain_http_is_redirected_to_https(responses):
    assert responses["plain_login"]["status"] == 301
    assert responses["plain_login"]["headers"]["location"] == "https://app.example.test/accounts/login/"


def test_health_probe_is_exempt_from_the_redirect(responses):
    assert responses["plain_healthz"]["status"] == 200


def test_https_responses_carry_the_security_headers(responses):
    headers = responses["https_login"]["headers"]
    assert responses["https_login"]["status"] == 200
    assert headers["strict-transport-security"] == "max-age=63072000; includeSubDomains; preload"
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert "camera=()" in headers["permissions-policy"]
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp


def test_cookies_are_secure_httponly_samesite_host_prefixed(responses):
    cookie = responses["https_login"]["cookies"]["__Host-csrftoken"]
    assert cookie["secure"] is True
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/"
    assert not cookie["domain"]


def test_cors_is_limited_to_configured_origins_and_the_api(responses):
    assert (
        responses["cors_api_allowed"]["headers"]["access-control-allow-origin"]
        == "https://portal.example.test"
    )
    assert "access-control-allow-origin" not in responses["cors_api_other"]["headers"]
    assert "access-control-allow-origin" not in responses["cors_allowed"]["headers"]  # not an /api/ path
