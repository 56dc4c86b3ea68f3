"""Keys: one CMK per purpose, rotated, 30-day deletion window, alias, least-privilege key policy."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.harness import ACCOUNT_ID, StackRun, kms_key_id

KEY = "aws:kms/key:Key"
# Written out, not imported from components/keys.py: a key dropped from the code fails here.
PURPOSES = ("database", "secrets", "logs", "volumes", "field_encryption", "audit", "alerts")
# The dev stack reaches its hosts through SSM, so it also has the transfer-bucket key.
DEV_PURPOSES = (*PURPOSES, "ssm_transfer")


def statements(run: StackRun, purpose: str) -> dict[str, dict[str, Any]]:
    policy = json.loads(run.one(KEY, f"keys-{purpose}").inputs["policy"])
    return {s["Sid"]: s for s in policy["Statement"]}


def test_one_customer_managed_key_per_purpose(dev: StackRun, dev_with_ssh: StackRun) -> None:
    encryption_keys = [k.name for k in dev.of_type(KEY) if k.inputs["keyUsage"] == "ENCRYPT_DECRYPT"]
    assert sorted(encryption_keys) == sorted(f"keys-{p}" for p in DEV_PURPOSES)
    with_ssh = [k.name for k in dev_with_ssh.of_type(KEY) if k.inputs["keyUsage"] == "ENCRYPT_DECRYPT"]
    assert sorted(with_ssh) == sorted(f"keys-{p}" for p in PURPOSES)


def test_evidence_bundles_are_signed_with_an_asymmetric_key_only_the_deployer_and_readers_use(
    prod: StackRun,
) -> None:
    key = prod.one(KEY, "keys-evidence_signing")
    assert key.inputs["keyUsage"] == "SIGN_VERIFY"
    assert key.inputs["customerMasterKeySpec"] == "ECC_NIST_P256"  # make evidence signs ECDSA_SHA_256
    assert "enableKeyRotation" not in key.inputs  # KMS rotates no asymmetric key; bundles outlive a year
    assert key.inputs["deletionWindowInDays"] == 30
    assert prod.protected["keys-evidence_signing"] is True
    assert prod.exports["evidence_signing_key_arn"] == (
        f"arn:aws:kms:eu-west-1:{ACCOUNT_ID}:key/{kms_key_id('keys-evidence_signing')}"
    )
    statements = {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}
    assert set(statements) == {"KeyAdministration", "EvidenceSigners"}
    signers = statements["EvidenceSigners"]
    assert signers["Principal"] == {"AWS": ["arn:aws:iam::123456789012:role/soc2kit-deployer"]}
    assert signers["Action"] == ["kms:Sign", "kms:Verify", "kms:GetPublicKey", "kms:DescribeKey"]
    assert signers["Condition"] == {"StringEquals": {"kms:SigningAlgorithm": "ECDSA_SHA_256"}}
    assert "kms:Sign" not in statements["KeyAdministration"]["Action"]


@pytest.mark.parametrize("purpose", DEV_PURPOSES)
def test_key_rotates_automatically(dev: StackRun, purpose: str) -> None:
    assert dev.one(KEY, f"keys-{purpose}").inputs["enableKeyRotation"] is True


@pytest.mark.parametrize("purpose", DEV_PURPOSES)
def test_key_deletion_window_is_30_days(dev: StackRun, purpose: str) -> None:
    assert dev.one(KEY, f"keys-{purpose}").inputs["deletionWindowInDays"] == 30


@pytest.mark.parametrize("purpose", DEV_PURPOSES)
def test_key_never_bypasses_lockout_safety_check(dev: StackRun, purpose: str) -> None:
    assert dev.one(KEY, f"keys-{purpose}").inputs.get("bypassPolicyLockoutSafetyCheck") is not True


@pytest.mark.parametrize("purpose", DEV_PURPOSES)
def test_key_has_alias(dev: StackRun, purpose: str) -> None:
    alias = dev.one("aws:kms/alias:Alias", f"keys-{purpose}-alias").inputs
    assert alias["targetKeyId"] == kms_key_id(f"keys-{purpose}")
    assert alias["name"] == f"alias/soc2kit-dev-{purpose.replace('_', '-')}"


@pytest.mark.parametrize("purpose", DEV_PURPOSES)
def test_key_administrators_cannot_use_the_key(dev: StackRun, purpose: str) -> None:
    admin = statements(dev, purpose)["KeyAdministration"]
    assert admin["Principal"] == {"AWS": [f"arn:aws:iam::{ACCOUNT_ID}:root"]}
    assert not {"kms:Decrypt", "kms:Encrypt", "kms:*", "kms:GenerateDataKey*"} & set(admin["Action"])


@pytest.mark.parametrize("purpose", DEV_PURPOSES)
def test_key_policy_has_no_wildcard_principal_or_action(dev: StackRun, purpose: str) -> None:
    for statement in statements(dev, purpose).values():
        assert statement["Principal"] not in ("*", {"AWS": "*"})
        assert "kms:*" not in statement["Action"]


@pytest.mark.parametrize(
    ("purpose", "service"), [("database", "rds"), ("volumes", "ec2"), ("secrets", "secretsmanager")]
)
def test_service_keys_usable_only_via_their_service(dev: StackRun, purpose: str, service: str) -> None:
    account_statements = [
        sid
        for sid, s in statements(dev, purpose).items()
        if s["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"} and sid != "KeyAdministration"
    ]
    assert len(account_statements) == 2  # use + grants, both below
    for sid, statement in statements(dev, purpose).items():
        if (
            statement["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}
            and sid != "KeyAdministration"
        ):
            condition = statement["Condition"]["StringEquals"]
            assert condition["kms:ViaService"] == f"{service}.eu-west-1.amazonaws.com"
            assert condition["kms:CallerAccount"] == ACCOUNT_ID


def test_host_role_decrypts_secrets_only_via_secrets_manager_for_this_stack(dev: StackRun) -> None:
    statement = statements(dev, "secrets")["AppHostsReadTheirSecrets"]
    assert statement["Principal"] == {"AWS": "arn:aws:iam::123456789012:role/soc2kit-dev-app-host"}
    assert statement["Action"] == ["kms:Decrypt", "kms:DescribeKey"]
    assert statement["Condition"]["StringEquals"] == {
        "kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"
    }
    secret_arns = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:soc2kit/dev/*"
    assert statement["Condition"]["StringLike"] == {"kms:EncryptionContext:SecretARN": secret_arns}


def test_logs_key_limited_to_this_stacks_log_groups(dev: StackRun) -> None:
    statement = statements(dev, "logs")["CloudWatchLogsForThisStacksGroups"]
    assert statement["Principal"] == {"Service": "logs.eu-west-1.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"] == [
        "arn:aws:logs:eu-west-1:123456789012:log-group:/soc2kit/dev/*",
        "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/rds/instance/soc2kit-dev-db/*",
    ]


def test_field_encryption_key_requires_app_encryption_context(dev: StackRun) -> None:
    statement = statements(dev, "field_encryption")["AppEnvelopeEncryptionWithAppContext"]
    assert statement["Principal"] == {"AWS": "arn:aws:iam::123456789012:role/soc2kit-dev-app-host"}
    assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    assert statement["Condition"] == {"StringEquals": {"kms:EncryptionContext:app": "soc2kit"}}


def test_only_the_field_encryption_and_secrets_keys_name_the_host_role(dev: StackRun) -> None:
    role = "arn:aws:iam::123456789012:role/soc2kit-dev-app-host"
    naming = {
        p for p in PURPOSES if any(s["Principal"] == {"AWS": role} for s in statements(dev, p).values())
    }
    assert naming == {"secrets", "field_encryption"}


def test_alerts_key_serves_sns_for_this_account_and_cloudwatch_alarms(dev: StackRun) -> None:
    policy = statements(dev, "alerts")
    assert sorted(policy) == [
        "CloudWatchAlarmsPublish",
        "KeyAdministration",
        "SnsTopicGrants",
        "SnsTopicUse",
    ]
    assert policy["SnsTopicUse"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "sns.eu-west-1.amazonaws.com", "kms:CallerAccount": ACCOUNT_ID}
    }
    assert policy["CloudWatchAlarmsPublish"] == {
        "Sid": "CloudWatchAlarmsPublish",
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
    }


def test_prod_protects_every_key_dev_none(prod: StackRun, dev: StackRun) -> None:
    """`pulumi destroy` stops before a prod key: its loss makes backups and logs unreadable."""
    assert {prod.protected[k.name] for k in prod.of_type(KEY)} == {True}
    # prod is SSM-only too (+ the transfer key), and has the evidence-signing key (+1)
    assert len(prod.of_type(KEY)) == len(PURPOSES) + 2
    assert {dev.protected[k.name] for k in dev.of_type(KEY)} == {False}


def test_key_policies_do_not_change_with_who_runs_the_deploy(dev: StackRun) -> None:
    """Administrators come from key_admin_arns (default: the account), never from the caller."""
    for purpose in DEV_PURPOSES:
        assert "assumed-role" not in dev.one(KEY, f"keys-{purpose}").inputs["policy"]
