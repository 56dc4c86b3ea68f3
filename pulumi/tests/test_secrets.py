"""Secrets: CMK-encrypted, recovery window, description, readable only by the app hosts' role."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from components.app_secrets import HOST_SECRETS, SECRET_NAMES
from components.aws_context import AwsContext

from tests.harness import StackRun, generated, key_arn

SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
HOST_ROLE = "arn:aws:iam::111122223333:role/soc2kit-dev-app-host"
# The mocked deployer is a session of role Deployer; the provider reads the values back as it.
DEPLOYER = ["arn:aws:iam::111122223333:role/Deployer", "arn:aws:iam::111122223333:role/*/Deployer"]


def secret(run: StackRun, name: str) -> dict[str, Any]:
    return run.one(SECRET, f"secrets-{name}").inputs


def resource_policy(run: StackRun, name: str) -> dict[str, dict[str, Any]]:
    inputs = run.one("aws:secretsmanager/secretPolicy:SecretPolicy", f"secrets-{name}-policy").inputs
    assert inputs["blockPublicPolicy"] is True
    return {s["Sid"]: s for s in json.loads(inputs["policy"])["Statement"]}


def test_the_three_app_secrets_exist(dev: StackRun) -> None:
    assert sorted(s.inputs["name"] for s in dev.of_type(SECRET)) == sorted(
        f"soc2kit/dev/{n}" for n in SECRET_NAMES
    )


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_secret_encrypted_with_secrets_cmk(dev: StackRun, name: str) -> None:
    assert secret(dev, name)["kmsKeyId"] == key_arn("secrets")


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_secret_has_recovery_window_and_description(dev: StackRun, name: str) -> None:
    assert secret(dev, name)["recoveryWindowInDays"] == 30
    assert len(secret(dev, name)["description"]) > 20


@pytest.mark.parametrize("name", HOST_SECRETS)
def test_only_app_hosts_role_may_read_secret(dev: StackRun, name: str) -> None:
    statements = resource_policy(dev, name)
    assert statements["AppHostsRead"]["Principal"] == {"AWS": HOST_ROLE}
    deny = statements["NobodyElseReads"]
    assert deny["Effect"] == "Deny"
    assert deny["Action"] == "secretsmanager:GetSecretValue"
    assert deny["Condition"] == {"StringNotLike": {"aws:PrincipalArn": [HOST_ROLE, *DEPLOYER]}}


def test_hosts_role_cannot_read_the_schema_owners_login(dev: StackRun) -> None:
    """migrate's owner login is read by the deployer (Ansible on the controller), never by the hosts."""
    assert HOST_SECRETS == ("django_secret_key", "field_encryption_blind_index_key", "db_app_credentials")
    statements = resource_policy(dev, "db_owner_credentials")
    assert sorted(statements) == ["NobodyElseReads"]  # no AppHostsRead
    assert statements["NobodyElseReads"]["Condition"] == {"StringNotLike": {"aws:PrincipalArn": DEPLOYER}}


def test_configured_extra_readers_are_the_only_exception(dev_with_ssh: StackRun) -> None:
    statements = resource_policy(dev_with_ssh, "db_app_credentials")
    readers = statements["NobodyElseReads"]["Condition"]["StringNotLike"]["aws:PrincipalArn"]
    assert readers == [
        "arn:aws:iam::111122223333:role/soc2kit-devssh-app-host",
        "arn:aws:iam::111122223333:role/Auditor",
        *DEPLOYER,
    ]


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_secret_value_is_marked_secret_in_state(dev: StackRun, name: str) -> None:
    version = dev.one("aws:secretsmanager/secretVersion:SecretVersion", f"secrets-{name}-value").inputs
    # The mock monitor shows a secret as {<secret signature>: ..., "value": ...}.
    assert "4dabf18193072939515e22adb298388d" in version["secretString"]


def stored_value(run: StackRun, name: str) -> str:
    """The SecretString the program stores for secret `name` (the mock monitor records inputs)."""
    value: str = run.one(SECRET_VERSION, f"secrets-{name}-value").inputs["secretString"]["value"]
    return value


def test_django_secret_key_is_the_generated_string_itself(dev: StackRun) -> None:
    """The app uses the SecretString as SECRET_KEY: no JSON wrapper, at least 50 characters."""
    password = dev.one("random:index/randomPassword:RandomPassword", "secrets-django-secret-key").inputs
    assert password["length"] >= 50
    assert stored_value(dev, "django_secret_key") == generated("secrets-django-secret-key", 64).decode()


def test_blind_index_key_is_base64_of_32_random_bytes(dev: StackRun) -> None:
    value = stored_value(dev, "field_encryption_blind_index_key")
    assert base64.b64decode(value, validate=True) == generated("secrets-field-encryption-blind-index-key", 32)


def test_db_app_credentials_hold_the_app_login_and_the_database(dev: StackRun) -> None:
    value = json.loads(stored_value(dev, "db_app_credentials"))
    assert value == {
        "engine": "postgres",
        "host": dev.exports["db_endpoint"],
        "port": 5432,
        "dbname": dev.exports["db_name"],
        "username": "app",
        "password": generated("secrets-db-app-password", 40).decode(),
    }


def test_db_owner_credentials_hold_the_schema_owner_login_and_the_database(dev: StackRun) -> None:
    """The migration login (the postgresql role creates it on RDS): its own password, not the app's."""
    value = json.loads(stored_value(dev, "db_owner_credentials"))
    assert value == {
        "engine": "postgres",
        "host": dev.exports["db_endpoint"],
        "port": 5432,
        "dbname": dev.exports["db_name"],
        "username": "app_owner",
        "password": generated("secrets-db-owner-password", 40).decode(),
    }
    assert value["password"] != json.loads(stored_value(dev, "db_app_credentials"))["password"]
    assert dev.exports["db_owner_username"] == "app_owner"


def test_deployer_user_or_root_is_matched_exactly() -> None:
    def ctx(caller: str) -> AwsContext:
        return AwsContext(
            account_id="111122223333",
            partition="aws",
            region="eu-west-1",
            availability_zones=(),
            caller_arn=caller,
        )

    user = "arn:aws:iam::111122223333:user/ci"
    assert ctx(user).deployer_principal_patterns == (user,)
    assert ctx("arn:aws-us-gov:sts::111122223333:assumed-role/Ops/s").deployer_principal_patterns == (
        "arn:aws-us-gov:iam::111122223333:role/Ops",
        "arn:aws-us-gov:iam::111122223333:role/*/Ops",
    )
