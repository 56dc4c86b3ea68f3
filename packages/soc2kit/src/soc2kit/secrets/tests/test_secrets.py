"""Secrets come from the environment or AWS Secrets Manager (tested against moto); production refuses
to start when one is missing or a placeholder, naming it."""

from __future__ import annotations

import json
import re

import boto3
import pytest
from django.core.exceptions import ImproperlyConfigured
from moto import mock_aws

from soc2kit.secrets.loader import SecretSource, is_placeholder

from .helpers import load_production_settings, production_environment, random_key

REGION = "eu-central-1"


@pytest.fixture
def aws(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        kms_key = boto3.client("kms", region_name=REGION).create_key(Description="soc2kit secrets")[
            "KeyMetadata"
        ]
        yield boto3.client("secretsmanager", region_name=REGION), kms_key["Arn"]


def put_secret(client, kms_key_arn: str, name: str, value: str) -> str:
    return client.create_secret(Name=name, SecretString=value, KmsKeyId=kms_key_arn)["ARN"]


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "changeme",
        "CHANGE_ME",
        "change-me",
        "placeholder",
        "<your secret here>",
        "xxxxxxxx",
        "TODO",
    ],
)
def test_placeholders_are_recognised(value):
    assert is_placeholder(value)


def test_real_values_are_not_placeholders():
    assert not is_placeholder(random_key())


def test_env_backend_reads_and_requires():
    source = SecretSource("env", {"DJANGO_SECRET_KEY": "x" * 10 + "yz" * 30})
    assert source.require("DJANGO_SECRET_KEY", min_length=50).startswith("xxxx")
    with pytest.raises(
        ImproperlyConfigured, match="Missing secret FIELD_ENCRYPTION_BLIND_INDEX_KEY: set the environment"
    ):
        source.require("FIELD_ENCRYPTION_BLIND_INDEX_KEY")


def test_unknown_backend_is_refused():
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRETS_BACKEND='vault'"):
        SecretSource("vault", {})


def test_aws_backend_reads_kms_encrypted_secrets(aws):
    client, kms_key = aws
    arn = put_secret(client, kms_key, "soc2kit/secret-key", "s" * 20 + "t" * 40)
    source = SecretSource("aws", {"DJANGO_SECRET_ARNS_DJANGO_SECRET_KEY": arn, "AWS_REGION": REGION})
    assert source.require("DJANGO_SECRET_KEY", min_length=50) == "s" * 20 + "t" * 40
    assert source.describe("X") == "the Secrets Manager secret whose ARN is in DJANGO_SECRET_ARNS_X"


def test_aws_backend_errors_name_the_secret(aws):
    client, kms_key = aws
    source = SecretSource(
        "aws", {"AWS_REGION": REGION, "DJANGO_SECRET_ARNS_DJANGO_SECRET_KEY": "arn:missing"}
    )
    with pytest.raises(
        ImproperlyConfigured, match="Could not read secret DJANGO_SECRET_KEY from Secrets Manager"
    ):
        source.get("DJANGO_SECRET_KEY")
    with pytest.raises(
        ImproperlyConfigured, match="ARN is in DJANGO_SECRET_ARNS_FIELD_ENCRYPTION_BLIND_INDEX_KEY"
    ):
        source.require("FIELD_ENCRYPTION_BLIND_INDEX_KEY")
    placeholder = put_secret(client, kms_key, "soc2kit/placeholder", "CHANGE_ME")
    source = SecretSource("aws", {"AWS_REGION": REGION, "DJANGO_SECRET_ARNS_DJANGO_SECRET_KEY": placeholder})
    with pytest.raises(ImproperlyConfigured, match="Secret DJANGO_SECRET_KEY is still a placeholder"):
        source.require("DJANGO_SECRET_KEY")


def test_aws_backend_needs_a_region(aws, monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="AWS_REGION"):
        SecretSource("aws", {"DJANGO_SECRET_ARNS_X": "arn:x"}).get("X")


def test_production_settings_load_from_aws(aws, tmp_path, monkeypatch):
    client, kms_key = aws
    environment = production_environment(tmp_path)
    secret_key = environment.pop("DJANGO_SECRET_KEY")
    local_keks = environment.pop("FIELD_ENCRYPTION_LOCAL_KEKS")
    blind_key = environment.pop("FIELD_ENCRYPTION_BLIND_INDEX_KEY")
    # RDS-managed master secret format: JSON with username and password
    db_secret = json.dumps({"username": "rds_app", "password": "rds-generated-pw-Zq81x"})
    environment.update(
        {
            "DJANGO_SECRETS_BACKEND": "aws",
            "AWS_REGION": REGION,
            "DATABASE_URL": "postgres://db.internal.example:5432/soc2kit",  # no credentials in the URL
            "DJANGO_SECRET_ARNS_DJANGO_SECRET_KEY": put_secret(client, kms_key, "sk", secret_key),
            "DJANGO_SECRET_ARNS_DATABASE_CREDENTIALS": put_secret(client, kms_key, "db", db_secret),
            "DJANGO_SECRET_ARNS_FIELD_ENCRYPTION_LOCAL_KEKS": put_secret(client, kms_key, "keks", local_keks),
            "DJANGO_SECRET_ARNS_FIELD_ENCRYPTION_BLIND_INDEX_KEY": put_secret(
                client, kms_key, "bi", blind_key
            ),
        }
    )
    production = load_production_settings(monkeypatch, environment)
    assert secret_key == production.SECRET_KEY
    database = production.DATABASES["default"]
    assert (database["USER"], database["PASSWORD"], database["HOST"]) == (
        "rds_app",
        "rds-generated-pw-Zq81x",
        "db.internal.example",
    )
    assert database["OPTIONS"] == {
        "sslmode": "verify-full",
        "sslrootcert": environment["DJANGO_DB_CA_BUNDLE"],
    }
    assert production.FIELD_ENCRYPTION["LOCAL_KEKS"] == local_keks
    assert production.FIELD_ENCRYPTION["BLIND_INDEX_KEY"] == blind_key


def test_production_aws_mode_requires_the_database_secret(aws, tmp_path, monkeypatch):
    client, kms_key = aws
    environment = production_environment(tmp_path)
    environment["DJANGO_SECRETS_BACKEND"] = "aws"
    environment["AWS_REGION"] = REGION
    for name in ("DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_LOCAL_KEKS", "FIELD_ENCRYPTION_BLIND_INDEX_KEY"):
        environment[f"DJANGO_SECRET_ARNS_{name}"] = put_secret(client, kms_key, name, environment.pop(name))
    with pytest.raises(ImproperlyConfigured, match="Missing secret DATABASE_CREDENTIALS"):
        load_production_settings(monkeypatch, environment)
    environment["DJANGO_SECRET_ARNS_DATABASE_CREDENTIALS"] = put_secret(
        client, kms_key, "db", json.dumps({"username": "app", "password": "changeme"})
    )
    with pytest.raises(
        ImproperlyConfigured, match="DATABASE_CREDENTIALS has a missing or placeholder 'password'"
    ):
        load_production_settings(monkeypatch, environment)


def aws_environment(client, kms_key, tmp_path) -> dict[str, str]:
    """Production settings in AWS mode: every secret in (moto's) Secrets Manager, the app's login too."""
    environment = production_environment(tmp_path)
    environment.update({"DJANGO_SECRETS_BACKEND": "aws", "AWS_REGION": REGION})
    for name in ("DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_LOCAL_KEKS", "FIELD_ENCRYPTION_BLIND_INDEX_KEY"):
        environment[f"DJANGO_SECRET_ARNS_{name}"] = put_secret(client, kms_key, name, environment.pop(name))
    environment["DJANGO_SECRET_ARNS_DATABASE_CREDENTIALS"] = put_secret(
        client, kms_key, "db", json.dumps({"username": "soc2kit_app", "password": "app-pw-Zq81x-from-secret"})
    )
    return environment


def test_aws_mode_migration_logs_in_from_the_url_without_reading_the_credentials_secret(
    aws, tmp_path, monkeypatch
):
    """How `migrate` runs as the schema owner on AWS: its login comes in DATABASE_URL (a root-only file the
    deploy writes), and the hosts' role needs no access to the owner's secret."""
    client, kms_key = aws
    environment = aws_environment(client, kms_key, tmp_path)
    environment["DATABASE_URL"] = (
        "postgres://soc2kit_owner:owner%23pw%25Zq81x@db.internal.example:5432/soc2kit"
    )
    environment["DJANGO_DATABASE_CREDENTIALS_SOURCE"] = "url"
    read: list[str] = []
    original = SecretSource._fetch

    def fetch(self: SecretSource, name: str, arn: str) -> str:
        read.append(name)
        return original(self, name, arn)

    monkeypatch.setattr(SecretSource, "_fetch", fetch)
    database = load_production_settings(monkeypatch, environment).DATABASES["default"]
    assert (database["USER"], database["PASSWORD"]) == ("soc2kit_owner", "owner#pw%Zq81x")
    assert database["OPTIONS"]["sslmode"] == "verify-full"
    assert "DATABASE_CREDENTIALS" not in read
    assert "DJANGO_SECRET_KEY" in read  # the other secrets still come from Secrets Manager

    environment["DATABASE_URL"] = "postgres://soc2kit_owner:changeme@db.internal.example:5432/soc2kit"
    with pytest.raises(ImproperlyConfigured, match="database password in DATABASE_URL"):
        load_production_settings(monkeypatch, environment)


def test_aws_mode_app_logs_in_from_the_secret_not_the_url(aws, tmp_path, monkeypatch):
    client, kms_key = aws
    environment = aws_environment(client, kms_key, tmp_path)
    environment["DATABASE_URL"] = "postgres://someone:url-pw-Zq81x-ignored@db.internal.example:5432/soc2kit"
    database = load_production_settings(monkeypatch, environment).DATABASES["default"]
    assert (database["USER"], database["PASSWORD"]) == ("soc2kit_app", "app-pw-Zq81x-from-secret")


@pytest.mark.parametrize(
    ("backend", "value", "message"),
    [
        (
            "aws",
            "file",
            "DJANGO_DATABASE_CREDENTIALS_SOURCE='file' is not supported; set it to one of secret, url",
        ),
        ("env", "secret", "DJANGO_DATABASE_CREDENTIALS_SOURCE=secret needs DJANGO_SECRETS_BACKEND=aws"),
    ],
)
def test_bad_credentials_source_is_refused_by_name(aws, tmp_path, monkeypatch, backend, value, message):
    client, kms_key = aws
    environment = (
        aws_environment(client, kms_key, tmp_path) if backend == "aws" else production_environment(tmp_path)
    )
    environment["DJANGO_DATABASE_CREDENTIALS_SOURCE"] = value
    with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
        load_production_settings(monkeypatch, environment)


def test_production_settings_load_from_env(tmp_path, monkeypatch):
    environment = production_environment(tmp_path)
    production = load_production_settings(monkeypatch, environment)
    assert environment["DJANGO_SECRET_KEY"] == production.SECRET_KEY
    assert production.DEBUG is False
    assert production.DATABASES["default"]["OPTIONS"]["sslmode"] == "verify-full"
    assert production.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    assert "django.contrib.auth.hashers.PBKDF2PasswordHasher" in production.PASSWORD_HASHERS


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "DJANGO_SECRET_KEY",
            None,
            "Missing secret DJANGO_SECRET_KEY: set the environment variable DJANGO_SECRET_KEY",
        ),
        ("DJANGO_SECRET_KEY", "changeme", "Secret DJANGO_SECRET_KEY is still a placeholder"),
        ("DJANGO_SECRET_KEY", "django-insecure-" + "a1b2c3" * 10, "DJANGO_SECRET_KEY is still a placeholder"),
        ("DJANGO_SECRET_KEY", "short-but-real-9f8e7d", "DJANGO_SECRET_KEY is too short"),
        ("FIELD_ENCRYPTION_LOCAL_KEKS", None, "Missing secret FIELD_ENCRYPTION_LOCAL_KEKS"),
        (
            "FIELD_ENCRYPTION_BLIND_INDEX_KEY",
            "CHANGE_ME",
            "FIELD_ENCRYPTION_BLIND_INDEX_KEY is still a placeholder",
        ),
        ("DATABASE_URL", None, "Missing DATABASE_URL"),
        ("DATABASE_URL", "postgres://app:changeme@db:5432/x", "database password in DATABASE_URL"),
        ("DATABASE_URL", "postgres://app@db:5432/x", "database password in DATABASE_URL"),
        ("DATABASE_URL", "postgres://app:Pw-12345678@db:5432/x?sslmode=require", "sslmode=require"),
        ("DATABASE_URL", "mysql://app:Pw-12345678@db:3306/x", "postgres:// scheme"),
        ("DJANGO_DB_CA_BUNDLE", None, "Missing DJANGO_DB_CA_BUNDLE"),
        (
            "DJANGO_DB_CA_BUNDLE",
            "/nonexistent/rds.pem",
            "DJANGO_DB_CA_BUNDLE=/nonexistent/rds.pem does not exist",
        ),
        ("DJANGO_ALLOWED_HOSTS", None, "Missing DJANGO_ALLOWED_HOSTS"),
        ("FIELD_ENCRYPTION_KEK_BACKEND", "vault", "FIELD_ENCRYPTION_KEK_BACKEND='vault' is not supported"),
    ],
)
def test_production_refuses_missing_or_placeholder_settings(tmp_path, monkeypatch, name, value, message):
    environment = production_environment(tmp_path)
    if value is None:
        environment.pop(name)
    else:
        environment[name] = value
    with pytest.raises(ImproperlyConfigured, match=message.replace("?", r"\?")) as excinfo:
        load_production_settings(monkeypatch, environment)
    # The message names the setting but never echoes a secret value.
    if name in ("DJANGO_SECRET_KEY", "DATABASE_URL", "FIELD_ENCRYPTION_BLIND_INDEX_KEY") and value:
        assert "Pw-12345678" not in str(excinfo.value)
        assert "a1b2c3a1b2c3" not in str(excinfo.value)


def test_production_kms_backend_needs_a_key_id(tmp_path, monkeypatch):
    environment = production_environment(tmp_path)
    environment["FIELD_ENCRYPTION_KEK_BACKEND"] = "kms"
    with pytest.raises(ImproperlyConfigured, match="Missing FIELD_ENCRYPTION_KMS_KEY_ID"):
        load_production_settings(monkeypatch, environment)
    environment["FIELD_ENCRYPTION_KMS_KEY_ID"] = "alias/soc2kit-fields"
    production = load_production_settings(monkeypatch, environment)
    assert production.FIELD_ENCRYPTION["KMS_KEY_ID"] == "alias/soc2kit-fields"


@pytest.mark.parametrize(("configured", "expected"), [(None, "soc2kit"), ("acme-payroll", "acme-payroll")])
def test_kms_encryption_context_comes_from_the_environment(tmp_path, monkeypatch, configured, expected):
    # The stack's key policy allows wrap/unwrap only with {"app": <its app_name>}; the deploy passes it.
    environment = production_environment(tmp_path)
    if configured:
        environment["FIELD_ENCRYPTION_KMS_CONTEXT_APP"] = configured
    production = load_production_settings(monkeypatch, environment)
    assert production.FIELD_ENCRYPTION["KMS_ENCRYPTION_CONTEXT"] == {"app": expected}
