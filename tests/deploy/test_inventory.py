"""The Ansible inventory built from recorded `pulumi stack output --json --show-secrets=false` files."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from types import ModuleType

import pytest
from ansible_render import render

from .conftest import FIXTURES, ROOT, VENV_BIN

# What Ansible runs: the wrapper linked into inventories/<ENV>/ (the `soc2kit-inventory` command).
INVENTORY_SCRIPT = ROOT / "ansible" / "inventories" / "pulumi_inventory"
LEAKED_VALUES = ("dj4ng0-S3cr3t-v4lue-that-must-never-leak", "Hunter2-must-never-leak")


def outputs(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def run_script(
    fixture: str, *args: str, stack: str | None = "prod", script: Path = INVENTORY_SCRIPT, **extra: str
):
    env = {key: value for key, value in os.environ.items() if not key.startswith("KIT_")}
    env["KIT_PULUMI_OUTPUTS_FILE"] = str(FIXTURES / fixture)
    if stack:
        env["KIT_PULUMI_STACK"] = stack
    env.update(extra)
    return subprocess.run(
        [str(script), *(args or ("--list",))], capture_output=True, text=True, env=env, check=False
    )


def ansible_inventory(env_name: str, fixture: str) -> subprocess.CompletedProcess[str]:
    """As `make deploy` does: Ansible reads inventories/<ENV>/ (script, group_vars), kit settings."""
    from kit.aws import ansible_env

    env = {**os.environ, **ansible_env(env_name), "KIT_PULUMI_OUTPUTS_FILE": str(FIXTURES / fixture)}
    return subprocess.run(
        [
            str(VENV_BIN / "ansible-inventory"),
            "-i",
            str(ROOT / "ansible" / "inventories" / env_name),
            "--list",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_two_hosts_behind_ssm_get_instance_ids_and_bucket(inventory_script: ModuleType) -> None:
    inventory = inventory_script.build_inventory(outputs("outputs-good-two-hosts-ssm.json"), "prod")
    assert inventory["app_hosts"]["hosts"] == ["soc2kit-prod-app-1", "soc2kit-prod-app-2"]
    second = inventory["_meta"]["hostvars"]["soc2kit-prod-app-2"]
    assert second["ansible_connection"] == "amazon.aws.aws_ssm"
    assert second["ansible_aws_ssm_instance_id"] == "i-0f1e2d3c4b5a69788"
    assert second["ansible_aws_ssm_region"] == "eu-west-1"
    assert second["ansible_aws_ssm_bucket_name"] == "soc2kit-prod-ssm-transfer-123456789012"
    assert second["soc2kit_private_ip"] == "10.42.1.12"
    assert second["soc2kit_host_index"] == 1
    assert "ansible_host" not in second


def test_group_vars_carry_database_secrets_keys_logs_and_region(inventory_script: ModuleType) -> None:
    group = inventory_script.build_inventory(outputs("outputs-good-two-hosts-ssm.json"), "prod")["app_hosts"][
        "vars"
    ]
    assert group["soc2kit_aws_region"] == "eu-west-1"
    assert group["soc2kit_app_name"] == "soc2kit"
    assert group["soc2kit_db_endpoint"] == "soc2kit-prod-db.c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com"
    assert group["soc2kit_db_port"] == 5432
    assert group["soc2kit_db_name"] == "app"
    assert set(group["soc2kit_secret_arns"]) == {
        "django_secret_key",
        "field_encryption_blind_index_key",
        "db_app_credentials",
        "db_owner_credentials",
    }
    assert group["soc2kit_db_owner_username"] == "app_owner"
    assert group["soc2kit_secret_arns"]["django_secret_key"].startswith(
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:"
    )
    assert group["soc2kit_kms_key_arns"]["field_encryption"].endswith(
        "key/22222222-3333-4444-5555-666666666666"
    )
    assert group["soc2kit_kms_key_aliases"]["logs"] == "alias/soc2kit-prod-logs"
    assert group["soc2kit_log_group_names"] == {
        "app": "/soc2kit/prod/app",
        "audit": "/soc2kit/prod/audit",
        "system": "/soc2kit/prod/system",
        "web": "/soc2kit/prod/web",
    }
    assert group["soc2kit_acme_route53_zone_id"] == "Z0123456789ABCDEFGHIJ"
    assert group["soc2kit_connection"] == "ssm"
    assert group["soc2kit_host_count"] == 2


def test_one_host_with_admin_cidr_is_reached_by_ssh_on_its_public_address(
    inventory_script: ModuleType,
) -> None:
    inventory = inventory_script.build_inventory(outputs("outputs-good-one-host-ssh.json"), "dev")
    host = inventory["_meta"]["hostvars"]["soc2kit-dev-app-1"]
    assert host["ansible_connection"] == "ssh"
    assert host["ansible_host"] == "54.170.20.21"
    assert host["ansible_user"] == "admin"
    assert not any(key.startswith("ansible_aws_ssm") for key in host)
    assert inventory["app_hosts"]["vars"]["soc2kit_connection"] == "ssh"


def test_ssh_without_public_addresses_goes_to_private_ones(inventory_script: ModuleType) -> None:
    data = outputs("outputs-good-one-host-ssh.json")
    del data["app_host_public_ips"]
    host = inventory_script.build_inventory(data, "dev")["_meta"]["hostvars"]["soc2kit-dev-app-1"]
    assert host["ansible_host"] == "10.40.0.11"


def test_connection_override_ssm_requires_the_transfer_bucket(inventory_script: ModuleType) -> None:
    data = outputs("outputs-good-one-host-ssh.json")
    with pytest.raises(inventory_script.InventoryError, match="'ssm_bucket_name': missing"):
        inventory_script.build_inventory(data, "dev", connection="ssm")


def test_only_known_outputs_pass_through(inventory_script: ModuleType) -> None:
    data = outputs("outputs-good-two-hosts-ssm.json")
    data["db_master_password"] = "Hunter2-must-never-leak"
    text = json.dumps(inventory_script.build_inventory(data, "prod"))
    assert "Hunter2" not in text
    assert "db_master_password" not in text


def test_script_prints_the_inventory_for_ansible() -> None:
    result = run_script("outputs-good-two-hosts-ssm.json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["app_hosts"]["hosts"] == ["soc2kit-prod-app-1", "soc2kit-prod-app-2"]
    one = run_script("outputs-good-two-hosts-ssm.json", "--host", "soc2kit-prod-app-1")
    assert json.loads(one.stdout)["soc2kit_instance_id"] == "i-0a1b2c3d4e5f60718"


def test_stack_comes_from_the_inventory_directory_it_is_linked_into() -> None:
    result = run_script(
        "outputs-good-one-host-ssh.json",
        stack=None,
        script=ROOT / "ansible" / "inventories" / "dev" / "pulumi_inventory",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["app_hosts"]["vars"]["soc2kit_stack"] == "dev"


def test_unknown_stack_is_refused_listing_the_stacks() -> None:
    result = run_script("outputs-good-one-host-ssh.json", stack="qa")
    assert result.returncode == 1
    assert "unknown stack 'qa'" in result.stderr
    assert "dev, staging, prod" in result.stderr


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("outputs-malformed.json", "not valid JSON (line 2"),
        ("outputs-empty.json", "stack 'prod' has no outputs"),
        ("outputs-missing-keys.json", "stack output 'db_endpoint': missing (required)"),
        ("outputs-missing-keys.json", "stack output 'log_group_names.audit': missing (required)"),
        ("outputs-missing-keys.json", "stack output 'region': missing (required)"),
        ("outputs-secret-placeholder.json", "stack output 'secret_arns': is a secret output"),
        (
            "outputs-secret-value-as-arn.json",
            "stack output 'secret_arns.django_secret_key': must be a Secrets Manager secret ARN",
        ),
    ],
)
def test_bad_outputs_fail_naming_the_key(fixture: str, expected: str) -> None:
    result = run_script(fixture)
    assert result.returncode == 1
    assert result.stdout == ""
    assert expected in result.stderr


def test_secret_values_never_appear_in_output_or_errors() -> None:
    result = run_script("outputs-secret-value-as-arn.json")
    assert result.returncode == 1
    for value in LEAKED_VALUES:
        assert value not in result.stdout + result.stderr


def test_wrong_shapes_are_named(inventory_script: ModuleType) -> None:
    data = outputs("outputs-good-two-hosts-ssm.json")
    data["app_host_ids"] = ["i-0a1b2c3d4e5f60718", "not-an-instance"]
    data["app_host_private_ips"] = ["10.42.0.11"]
    data["db_port"] = 70000
    data["kms_key_arns"]["logs"] = "arn:aws:kms:eu-west-1:123456789012:alias/soc2kit-prod-logs"
    del data["acme_route53_zone_id"]
    data["app_name"] = "Soc2 Kit"
    with pytest.raises(inventory_script.InventoryError) as raised:
        inventory_script.build_inventory(data, "prod")
    message = str(raised.value)
    for key in (
        "app_host_ids[1]",
        "app_host_private_ips",
        "db_port",
        "kms_key_arns.logs",
        "acme_route53_zone_id",
        "app_name",
    ):
        assert f"stack output '{key}'" in message


def test_missing_connection_output_is_named(inventory_script: ModuleType) -> None:
    data = outputs("outputs-good-one-host-ssh.json")
    del data["ssh_admin_cidr"]
    with pytest.raises(inventory_script.InventoryError, match="'ssh_admin_cidr': missing"):
        inventory_script.build_inventory(data, "dev")
    assert inventory_script.build_inventory(data, "dev", connection="ssh")["app_hosts"]["hosts"] == [
        "soc2kit-dev-app-1"
    ]


def test_ansible_reads_the_inventory_with_this_envs_group_vars() -> None:
    result = ansible_inventory("prod", "outputs-good-two-hosts-ssm.json")
    assert result.returncode == 0, result.stderr
    host = json.loads(result.stdout)["_meta"]["hostvars"]["soc2kit-prod-app-1"]
    assert host["django_app_secrets_mode"] == "aws"
    assert host["log_shipping_transport"] == "cloudwatch"
    assert host["soc2kit_public_hostnames"] == ["prod.example.com"]
    assert host["ansible_connection"] == "amazon.aws.aws_ssm"


def test_ansible_fails_instead_of_running_with_no_hosts() -> None:
    result = ansible_inventory("prod", "outputs-missing-keys.json")
    assert result.returncode != 0
    assert "stack output 'db_endpoint': missing" in result.stderr


@pytest.mark.parametrize(
    ("env_name", "fixture", "challenge"),
    [
        ("prod", "outputs-good-two-hosts-ssm.json", "dns-route53"),
        ("dev", "outputs-good-one-host-ssh.json", "webroot"),
    ],
)
def test_role_variables_render_from_the_outputs(env_name: str, fixture: str, challenge: str) -> None:
    """The roles' variables as Ansible renders them on the first app host (debug runs on the controller)."""
    from kit.aws import ansible_env

    wanted = (
        "{{ {'challenge': certbot_challenge, 'arns': django_app_secret_arns, 'url': django_app_database_url, "
        "'mode': django_app_secrets_mode, 'logs': log_shipping_cloudwatch_log_groups, "
        "'kek': django_app_kek_backend, 'kms': django_app_kms_key_id, 'domain': site_domain, "
        "'context': django_app_kms_encryption_context_app, 'ships': site_ships_logs | bool, "
        "'transport': log_shipping_transport, 'postgresql': {'mode': postgresql_mode, "
        "'host': postgresql_rds_host, 'port': postgresql_port, 'db': postgresql_database, "
        "'owner': postgresql_owner_role, 'app': postgresql_app_role, 'region': postgresql_rds_aws_region, "
        "'admin_arn': postgresql_rds_admin_secret_arn, 'owner_arn': postgresql_rds_owner_secret_arn, "
        "'app_arn': postgresql_rds_app_secret_arn, 'ca': postgresql_client_ca_path, "
        "'app_ca': django_app_db_ca_bundle} } | to_json }}"
    )
    env = {**os.environ, **ansible_env(env_name), "KIT_PULUMI_OUTPUTS_FILE": str(FIXTURES / fixture)}
    # --playbook-dir: the playbooks' group_vars (ansible/group_vars), as ansible-playbook site.yml sees them.
    inventory = ROOT / "ansible" / "inventories" / env_name
    rendered = render(inventory, wanted, env, "--playbook-dir", str(ROOT / "ansible"))
    data = outputs(fixture)
    assert rendered["challenge"] == challenge
    assert rendered["mode"] == "aws"
    assert rendered["domain"] == f"{env_name}.example.com"
    assert rendered["arns"] == {
        "DJANGO_SECRET_KEY": data["secret_arns"]["django_secret_key"],
        "FIELD_ENCRYPTION_BLIND_INDEX_KEY": data["secret_arns"]["field_encryption_blind_index_key"],
        "DATABASE_CREDENTIALS": data["secret_arns"]["db_app_credentials"],
    }
    assert rendered["url"] == f"postgres://{data['db_endpoint']}:5432/app?sslmode=verify-full"
    assert rendered["kek"] == "kms"
    assert rendered["kms"] == data["kms_key_arns"]["field_encryption"]
    assert rendered["context"] == data["app_name"]
    # No collector on AWS: site.yml still applies log_shipping, with the CloudWatch transport.
    assert (rendered["ships"], rendered["transport"]) == (True, "cloudwatch")
    assert rendered["logs"] == data["log_group_names"]
    # The postgresql role's rds mode (no AWS call here: only ARNs are rendered, not the secrets).
    assert rendered["postgresql"] == {
        "mode": "rds",
        "host": data["db_endpoint"],
        "port": 5432,
        "db": data["db_name"],
        "owner": data["db_owner_username"],
        "app": data["db_app_username"],
        "region": data["region"],
        "admin_arn": data["db_admin_secret_arn"],
        "owner_arn": data["secret_arns"]["db_owner_credentials"],
        "app_arn": data["secret_arns"]["db_app_credentials"],
        "ca": "/etc/ssl/certs/rds-global-bundle.pem",
        "app_ca": "/etc/ssl/certs/rds-global-bundle.pem",
    }


def render_aws(env_name: str, fixture: str, expression: str, *options: str) -> object:
    from kit.aws import ansible_env

    env = {**os.environ, **ansible_env(env_name), "KIT_PULUMI_OUTPUTS_FILE": str(FIXTURES / fixture)}
    inventory = ROOT / "ansible" / "inventories" / env_name
    return render(inventory, expression, env, "--playbook-dir", str(ROOT / "ansible"), *options)


def test_alerts_go_to_the_stacks_sns_topic_and_admins_are_the_security_contact(inventory_script) -> None:
    rendered = render_aws(
        "prod",
        "outputs-good-two-hosts-ssm.json",
        "{{ {'topic': django_app_alert_sns_topic_arn, 'admins': django_app_admins} | to_json }}",
    )
    assert rendered == {
        "topic": outputs("outputs-good-two-hosts-ssm.json")["alerts_topic_arn"],
        "admins": ["Security contact:security@example.com"],
    }


def test_the_alerts_topic_must_be_an_sns_topic_and_the_app_requires_it(inventory_script, tmp_path) -> None:
    from kit.aws import ansible_env

    data = outputs("outputs-good-two-hosts-ssm.json")
    data["alerts_topic_arn"] = "arn:aws:sqs:eu-west-1:123456789012:alerts"
    with pytest.raises(inventory_script.InventoryError, match="'alerts_topic_arn': must be an SNS topic ARN"):
        inventory_script.build_inventory(data, "prod")
    del data["alerts_topic_arn"]
    recorded = tmp_path / "outputs.json"
    recorded.write_text(json.dumps(data))
    env = {**os.environ, **ansible_env("prod"), "KIT_PULUMI_OUTPUTS_FILE": str(recorded)}
    result = subprocess.run(
        [
            str(VENV_BIN / "ansible"), "app_hosts[0]", "-i", str(ROOT / "ansible/inventories/prod"),
            "-m", "ansible.builtin.debug", "-a", "msg={{ django_app_alert_sns_topic_arn }}",
        ],
        capture_output=True, text=True, env=env, cwd=ROOT, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "the stack exports no alerts_topic_arn" in result.stdout + result.stderr


@pytest.mark.parametrize(("decision", "expected"), [("false", False), ("true", True)])
def test_hsts_preload_is_the_environments_explicit_decision(decision: str, expected: bool) -> None:
    rendered = render_aws(
        "prod",
        "outputs-good-two-hosts-ssm.json",
        "{{ django_app_hsts_preload | to_json }}",
        "-e",
        f'{{"soc2kit_hsts_preload": {decision}}}',
    )
    assert rendered is expected


def test_hsts_preload_unset_stops_ansible_naming_the_variable_and_the_file() -> None:
    from kit.aws import ansible_env

    env = {
        **os.environ,
        **ansible_env("prod"),
        "KIT_PULUMI_OUTPUTS_FILE": str(FIXTURES / "outputs-good-two-hosts-ssm.json"),
    }
    result = subprocess.run(
        [
            str(VENV_BIN / "ansible"), "app_hosts[0]", "-i", str(ROOT / "ansible/inventories/prod"),
            "-m", "ansible.builtin.debug", "-a", "msg={{ django_app_hsts_preload }}",
        ],
        capture_output=True, text=True, env=env, cwd=ROOT, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "soc2kit_hsts_preload is not set: decide true or false in" in result.stdout + result.stderr


def test_web_server_comes_from_the_environments_site_settings() -> None:
    for env_name in ("dev", "staging", "prod"):
        assert (
            render_aws(env_name, "outputs-good-two-hosts-ssm.json", "{{ web_server | to_json }}") == "nginx"
        )
