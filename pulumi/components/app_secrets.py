"""Secrets Manager entries the app reads at start-up; only the app hosts' role may read them.

Except the schema owner's login: the deploy reads it with the deployer's credentials and hands it to
`manage.py migrate` alone, so the hosts' role (and with it the running app) has no access to it.

Values are generated here (pulumi-random) and stored as Pulumi secrets; they are never exported.
Each value has the format the app's loader reads (soc2kit.secrets, documented in app/README.md).
"""

from __future__ import annotations

from typing import Any

import pulumi_aws as aws
import pulumi_random as random
from config import StackConfig

import pulumi
from components.aws_context import AwsContext

# The inventory maps them to the app's names (ansible/inventories/aws_shared/app_hosts.yml):
# DJANGO_SECRET_KEY, FIELD_ENCRYPTION_BLIND_INDEX_KEY, DATABASE_CREDENTIALS (serving), and the
# DATABASE_URL of `manage.py migrate` alone (db_owner_credentials, the schema owner's login, read by
# Ansible on the controller). Ansible's postgresql role (rds mode) creates both PostgreSQL logins with
# these passwords.
SECRET_NAMES = (
    "django_secret_key",
    "field_encryption_blind_index_key",
    "db_app_credentials",
    "db_owner_credentials",
)
# Read by the deployer only (and configured extra readers), never by the hosts' role: the owner can
# change the schema, disable the audit table's guard trigger and drop tables.
DEPLOYER_ONLY_SECRETS = frozenset({"db_owner_credentials"})
HOST_SECRETS = tuple(name for name in SECRET_NAMES if name not in DEPLOYER_ONLY_SECRETS)
DESCRIPTIONS = {
    "django_secret_key": "Django SECRET_KEY (signing sessions, CSRF, password reset tokens); plain string",
    "field_encryption_blind_index_key": (
        "Field encryption: HMAC key of the blind indexes, base64 of 32 bytes "
        "(data keys are wrapped by the field-encryption KMS key and stored in the database)"
    ),
    "db_app_credentials": (
        "The app's own PostgreSQL login (least privilege, not the admin), created by Ansible "
        "(roles/postgresql, rds mode); JSON"
    ),
    "db_owner_credentials": (
        "PostgreSQL login of the schema owner, used by `manage.py migrate` only, created by Ansible "
        "(roles/postgresql, rds mode); JSON"
    ),
}


# FSBP SecretsManager.1 asks for automatic rotation; none of these can rotate by a Lambda alone. The
# policy pack reports each reason (the RDS admin secret is rotated by RDS itself). Tag values allow
# letters, digits, spaces and + - = . _ : / @ only (no commas or apostrophes), at most 256 characters.
_SET_BY_ANSIBLE = (
    "Ansible roles/postgresql sets the login password from this secret at deploy - a rotation "
    "Lambda would change it behind Ansible"
)
ROTATION_EXEMPT_REASONS = {
    "django_secret_key": (
        "Rotating it signs every user out and voids password reset links - rotated by hand in a "
        "maintenance window: new value then deploy"
    ),
    "field_encryption_blind_index_key": (
        "Blind indexes are HMACs under this key - a new key needs every index recomputed by the app "
        "key rotation command"
    ),
    "db_app_credentials": _SET_BY_ANSIBLE,
    "db_owner_credentials": _SET_BY_ANSIBLE,
}


class AppSecrets(pulumi.ComponentResource):
    secrets: dict[str, aws.secretsmanager.Secret]

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        ctx: AwsContext,
        *,
        secrets_key_arn: pulumi.Input[str],
        host_role_arn: pulumi.Input[str],
        db_endpoint: pulumi.Input[str],
        db_port: pulumi.Input[int],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("soc2kit:index:AppSecrets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        # The app requires at least 50 characters (Django's deploy check) and refuses django-insecure-*.
        django_key = random.RandomPassword(f"{name}-django-secret-key", length=64, special=True, opts=child)
        # The app decodes this as base64 and requires exactly 32 bytes (HMAC-SHA256 key).
        blind_index_key = random.RandomBytes(
            f"{name}-field-encryption-blind-index-key", length=32, opts=child
        )
        db_password = random.RandomPassword(
            f"{name}-db-app-password", length=40, special=True, override_special="-_.~!#%^*+=", opts=child
        )
        db_owner_password = random.RandomPassword(
            f"{name}-db-owner-password", length=40, special=True, override_special="-_.~!#%^*+=", opts=child
        )
        values: dict[str, pulumi.Output[str]] = {
            # Plain strings: the app uses the SecretString as it is.
            "django_secret_key": django_key.result,
            "field_encryption_blind_index_key": blind_index_key.base64,
            # The app reads username and password; host, port and database come from its DATABASE_URL.
            # The other keys complete the structure AWS documents for RDS secrets (rotation functions).
            "db_app_credentials": pulumi.Output.json_dumps(
                {
                    "engine": "postgres",
                    "host": db_endpoint,
                    "port": db_port,
                    "dbname": cfg.db_name,
                    "username": cfg.db_app_username,
                    "password": db_password.result,
                }
            ),
            "db_owner_credentials": pulumi.Output.json_dumps(
                {
                    "engine": "postgres",
                    "host": db_endpoint,
                    "port": db_port,
                    "dbname": cfg.db_name,
                    "username": cfg.db_owner_username,
                    "password": db_owner_password.result,
                }
            ),
        }
        # Only the hosts read these; plus readers named in config and the configured deployer, which
        # writes the values and reads them back on every create and refresh. Never the caller of this
        # run: CI and a person taking turns must not rewrite each other out of the policy.
        others: list[Any] = [*cfg.secret_reader_arns, cfg.deployer_role_arn]
        # A deleted secret's name stays reserved for its recovery window, so destroy-then-deploy would
        # fail on fixed names. The suffix is generated once and kept in state (no diff on later runs);
        # a new stack after a destroy gets a new one.
        name_suffix = random.RandomId(f"{name}-name-suffix", byte_length=4, opts=child)
        self.secrets = {}
        for secret_name in SECRET_NAMES:
            hosts_read = secret_name not in DEPLOYER_ONLY_SECRETS
            readers: list[Any] = [host_role_arn, *others] if hosts_read else others
            statements: list[dict[str, Any]] = []
            if hosts_read:
                statements.append(
                    {
                        "Sid": "AppHostsRead",
                        "Effect": "Allow",
                        "Principal": {"AWS": host_role_arn},
                        "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                        "Resource": "*",
                    }
                )
            statements.append(
                {
                    "Sid": "NobodyElseReads",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "secretsmanager:GetSecretValue",
                    "Resource": "*",
                    "Condition": {"StringNotLike": {"aws:PrincipalArn": readers}},
                }
            )
            secret = aws.secretsmanager.Secret(
                f"{name}-{secret_name}",
                name=pulumi.Output.concat(cfg.secret_name_prefix, "/", secret_name, "-", name_suffix.hex),
                description=DESCRIPTIONS[secret_name],
                kms_key_id=secrets_key_arn,
                recovery_window_in_days=cfg.secret_recovery_window_days,
                tags={**cfg.tags, "RotationExempt": ROTATION_EXEMPT_REASONS[secret_name]},
                opts=child,
            )
            # Already secret (pulumi-random marks its results), stated again so a refactor cannot lose it.
            secret_value: pulumi.Input[str] = values[secret_name]
            aws.secretsmanager.SecretVersion(
                f"{name}-{secret_name}-value",
                secret_id=secret.id,
                secret_string=pulumi.Output.secret(secret_value),
                opts=child,
            )
            aws.secretsmanager.SecretPolicy(
                f"{name}-{secret_name}-policy",
                secret_arn=secret.arn,
                block_public_policy=True,
                policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": statements}),
                opts=child,
            )
            self.secrets[secret_name] = secret
        self.register_outputs({"secret_arns": {n: s.arn for n, s in self.secrets.items()}})
