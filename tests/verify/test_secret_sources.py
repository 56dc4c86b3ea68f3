"""Known secret values read from the hosts: secrets.env in file mode, Secrets Manager ARNs in aws mode."""

from __future__ import annotations

import pytest
from kit import KitError
from kit.verify import secrets, sources

from .conftest import FakeHosts

SECRETS_ENV = """# managed by Ansible
DJANGO_SECRET_KEY='abc$def"ghi-0123456789-long-enough'
FIELD_ENCRYPTION_BLIND_INDEX_KEY=Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5Zg==
export DATABASE_URL="postgres://app:pw-0123456789@db:5432/app"
"""
APP_ENV_AWS = """DJANGO_SETTINGS_MODULE=config.settings.production
AWS_REGION=eu-west-1
DJANGO_SECRET_ARNS_DJANGO_SECRET_KEY=arn:aws:secretsmanager:eu-west-1:123456789012:secret:k-AbCdEf
"""


def test_env_file_parsing_matches_systemd_quoting():
    parsed = secrets.parse_env_file(SECRETS_ENV)
    assert parsed["DJANGO_SECRET_KEY"] == 'abc$def"ghi-0123456789-long-enough'
    assert parsed["DATABASE_URL"] == "postgres://app:pw-0123456789@db:5432/app"
    assert "#" not in "".join(parsed)


def test_file_mode_reads_the_hosts_secrets_file():
    hosts = FakeHosts({"secrets.env": (0, SECRETS_ENV + "--- app.env ---\nDJANGO_SETTINGS_MODULE=x\n")})
    found = sources.read_host_secrets(hosts)
    assert set(found) == {"DJANGO_SECRET_KEY@app", "FIELD_ENCRYPTION_BLIND_INDEX_KEY@app", "DATABASE_URL@app"}


def test_aws_mode_reads_each_named_secret():
    hosts = FakeHosts({"secrets.env": (0, "--- app.env ---\n" + APP_ENV_AWS)})
    calls = []

    def fetch(name: str, arn: str) -> str:
        calls.append((name, arn))
        return "value-from-secrets-manager-0123"

    found = sources.read_host_secrets(hosts, fetch)
    assert found == {"DJANGO_SECRET_KEY@app": "value-from-secrets-manager-0123"}
    assert calls == [("DJANGO_SECRET_KEY", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:k-AbCdEf")]


def test_aws_mode_refuses_to_go_on_without_the_values():
    hosts = FakeHosts({"secrets.env": (0, "--- app.env ---\n" + APP_ENV_AWS)})

    def denied(name: str, arn: str) -> str:
        raise PermissionError("AccessDeniedException")

    with pytest.raises(KitError, match="cannot read secret DJANGO_SECRET_KEY"):
        sources.read_host_secrets(hosts, denied)
