"""Secrets: CMK-encrypted, recovery window, description, readable only by the app hosts' role."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from config import ConfigError

from tests.harness import (
    DEPLOYER_ROLE_ARN,
    StackRun,
    generated,
    generated_hex,
    key_arn,
    run_program,
    stack_config,
)

# Written out, not imported from the code under test.
SECRET_NAMES = (
    "django_secret_key",
    "field_encryption_blind_index_key",
    "db_app_credentials",
    "db_owner_credentials",
)
HOST_SECRETS = ("django_secret_key", "field_encryption_blind_index_key", "db_app_credentials")

SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
HOST_ROLE = "arn:aws:iam::123456789012:role/soc2kit-dev-app-host"
# The stack file's deployer_role_arn; the provider reads the values back as it.
DEPLOYER = [DEPLOYER_ROLE_ARN]


def secret(run: StackRun, name: str) -> dict[str, Any]:
    return run.one(SECRET, f"secrets-{name}").inputs


def resource_policy(run: StackRun, name: str) -> dict[str, dict[str, Any]]:
    inputs = run.one("aws:secretsmanager/secretPolicy:SecretPolicy", f"secrets-{name}-policy").inputs
    assert inputs["blockPublicPolicy"] is True
    return {s["Sid"]: s for s in json.loads(inputs["policy"])["Statement"]}


def test_the_four_app_secrets_exist_under_names_unique_per_stack_lifetime(dev: StackRun) -> None:
    """A deleted secret's name stays reserved for its recovery window: the suffix, generated once and
    kept in state, gives destroy-then-deploy new names instead of a "scheduled for deletion" error."""
    suffix = generated_hex("secrets-name-suffix", 4)
    assert sorted(s.inputs["name"] for s in dev.of_type(SECRET)) == sorted(
        f"soc2kit/dev/{n}-{suffix}" for n in SECRET_NAMES
    )
    assert dev.one("random:index/randomId:RandomId", "secrets-name-suffix").inputs == {"byteLength": 4}


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_secret_states_why_it_is_exempt_from_rotation(dev: StackRun, name: str) -> None:
    """FSBP SecretsManager.1: the policy pack accepts a non-empty RotationExempt reason."""
    reason = secret(dev, name)["tags"]["RotationExempt"]
    assert len(reason) >= 40
    assert len(reason) <= 256
    assert re.fullmatch(r"[\w\s+\-=.:/@]+", reason), (
        "AWS tag values allow letters, digits, spaces and + - = . _ : / @"
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
        "arn:aws:iam::123456789012:role/soc2kit-devssh-app-host",
        "arn:aws:iam::123456789012:role/Auditor",
        *DEPLOYER,
    ]


OPERATOR = "arn:aws:iam::123456789012:role/Operator"


def policies(run: StackRun) -> dict[str, str]:
    """Every secret resource policy and key policy of the stack, by resource name."""
    documents = {
        p.name: p.inputs["policy"] for p in run.of_type("aws:secretsmanager/secretPolicy:SecretPolicy")
    }
    documents |= {k.name: k.inputs["policy"] for k in run.of_type("aws:kms/key:Key")}
    return documents


def test_ci_and_a_person_taking_turns_write_identical_policies() -> None:
    """The policies name deployer_role_arn, never the caller: a run by CI and one by a person
    (another role, allowed as a secret reader) must not rewrite each other out of the policies."""
    config = stack_config("dev") | {"soc2kit:secret_reader_arns": f'["{OPERATOR}"]'}
    ci = run_program(
        config, stack="turns", caller_arn="arn:aws:sts::123456789012:assumed-role/soc2kit-deployer/ci"
    )
    person = run_program(
        config, stack="turns", caller_arn="arn:aws:sts::123456789012:assumed-role/Operator/alice"
    )
    # 4 secret policies, 9 key policies (7 purposes, SSM transfer, evidence signing)
    assert len(policies(ci)) == 4 + 9
    assert policies(ci) == policies(person)
    for document in policies(ci).values():
        assert "Operator/alice" not in document
        assert "/ci" not in document


@pytest.mark.parametrize(
    "caller",
    [
        "arn:aws:sts::123456789012:assumed-role/Admin/alice",
        "arn:aws:sts::999988887777:assumed-role/soc2kit-deployer/ci",
        "arn:aws:iam::123456789012:user/alice",
    ],
)
def test_a_caller_the_policies_would_lock_out_is_refused_before_any_resource(caller: str) -> None:
    run = StackRun()
    with pytest.raises(
        ConfigError, match=rf"this run's AWS identity {re.escape(caller)} is not soc2kit:deployer_role_arn"
    ):
        run_program(stack_config("dev"), stack="stranger", run=run, caller_arn=caller)
    assert run.resources == []


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
        "port": 5433,
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
        "port": 5433,
        "dbname": dev.exports["db_name"],
        "username": "app_owner",
        "password": generated("secrets-db-owner-password", 40).decode(),
    }
    assert value["password"] != json.loads(stored_value(dev, "db_app_credentials"))["password"]
    assert dev.exports["db_owner_username"] == "app_owner"
