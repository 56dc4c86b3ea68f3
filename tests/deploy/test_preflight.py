"""Preflight checks for the AWS environments, each failing with what is missing and how to fix it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from kit import KitError, check_env, check_web
from kit.preflight import (
    Context,
    aws_caller_identity,
    check_collections,
    check_confirmation_possible,
    check_pulumi_cli,
    check_site_settings,
    check_ssm_plugin,
    check_stack_config,
    run_preflight,
)
from moto import mock_aws

from .conftest import FIXTURES, ROOT, VENV_BIN, FakeBin

REAL_PULUMI = ROOT / "pulumi"
REAL_ANSIBLE = ROOT / "ansible"
REAL_SITE = """soc2kit_public_hostnames: [app.acme-corp.io]
soc2kit_contact_email: security@acme-corp.io
web_server: nginx
soc2kit_hsts_preload: false
"""
PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def ctx(env: str = "prod", path: str = "", **kwargs: Any) -> Context:
    return Context(env=env, environ={"PATH": path}, **kwargs)


def pulumi_copy(tmp_path: Path, stack_yaml: str | None, env: str = "dev") -> Path:
    """pulumi/ with the real config validator and project file, and the given stack file."""
    directory = tmp_path / "pulumi"
    directory.mkdir()
    shutil.copy(REAL_PULUMI / "config.py", directory)
    shutil.copy(REAL_PULUMI / "Pulumi.yaml", directory)
    if stack_yaml is not None:
        (directory / f"Pulumi.{env}.yaml").write_text(stack_yaml)
    return directory


def ansible_copy(tmp_path: Path, site_yaml: str, env: str = "prod") -> Path:
    directory = tmp_path / "ansible"
    (directory / "inventories" / env / "group_vars" / "app_hosts").mkdir(parents=True)
    shutil.copy(REAL_ANSIBLE / "requirements.yml", directory)
    shutil.copy(REAL_ANSIBLE / "ansible.cfg", directory)
    (directory / "inventories" / env / "group_vars" / "app_hosts" / "site.yml").write_text(site_yaml)
    return directory


def test_unknown_env_lists_the_choices() -> None:
    with pytest.raises(KitError, match=r"unknown ENV='qa'; choose one of: local, dev, staging, prod"):
        check_env("qa")
    with pytest.raises(KitError, match=r"unknown WEB='caddy'; choose one of: nginx, apache"):
        check_web("caddy")


def test_missing_pulumi_cli_says_how_to_install_it(tmp_path: Path) -> None:
    problem = check_pulumi_cli(ctx(path=str(tmp_path)))
    assert problem is not None
    assert "`pulumi` command is not on PATH" in problem.what
    assert "https://www.pulumi.com/docs/install/" in problem.fix


def test_pulumi_cli_found_on_path(fakebin: FakeBin) -> None:
    fakebin.add("pulumi")
    assert check_pulumi_cli(ctx(path=str(fakebin.directory))) is None


def test_no_aws_credentials_is_named_with_the_fix(clean_aws_env: None) -> None:
    account, problem = aws_caller_identity(ctx())
    assert account is None
    assert problem is not None
    assert "no AWS credentials found for the default credential chain" in problem.what
    assert "aws sso login" in problem.fix


def test_unknown_profile_is_named(clean_aws_env: None) -> None:
    account, problem = aws_caller_identity(Context(env="prod", environ={"AWS_PROFILE": "soc2kit-prod"}))
    assert account is None
    assert problem is not None
    assert "AWS profile 'soc2kit-prod' is not configured" in problem.what


def test_valid_credentials_give_the_account(fake_aws_credentials: None) -> None:
    with mock_aws():
        account, problem = aws_caller_identity(ctx())
    assert problem is None
    assert account == "123456789012"  # moto's account


def test_expired_credentials_are_reported_with_aws_error_code(fake_aws_credentials: None) -> None:
    client = boto3.client("sts", region_name="eu-west-1")
    stubber = Stubber(client)
    stubber.add_client_error("get_caller_identity", service_error_code="ExpiredToken", http_status_code=403)

    class StubbedSession:
        def client(self, *_args: Any, **_kwargs: Any) -> Any:
            return client

    with stubber:
        account, problem = aws_caller_identity(ctx(), session_factory=StubbedSession)
    assert account is None
    assert problem is not None
    assert "AWS refused the credentials" in problem.what
    assert "ExpiredToken" in problem.what


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_the_repository_stack_files_pass_the_programs_validator(env: str) -> None:
    assert check_stack_config(ctx(env), account_id="123456789012") is None


def test_invalid_stack_config_fails_naming_each_key(tmp_path: Path) -> None:
    stack = """config:
  aws:region: eu-west-1
  soc2kit:environment: dev
  soc2kit:log_retention_days: "30"
  soc2kit:ssh_admin_cidr: 0.0.0.0/0
"""
    problem = check_stack_config(
        ctx("dev", pulumi_dir=pulumi_copy(tmp_path, stack)), account_id="123456789012"
    )
    assert problem is not None
    assert "soc2kit:log_retention_days = '30' is not allowed" in problem.what
    assert "soc2kit:ssh_admin_cidr = '0.0.0.0/0' is not allowed" in problem.what


def test_missing_stack_file_says_how_to_create_it(tmp_path: Path) -> None:
    problem = check_stack_config(ctx("staging", pulumi_dir=pulumi_copy(tmp_path, None)), account_id=None)
    assert problem is not None
    assert "Pulumi.staging.yaml does not exist" in problem.what
    assert "pulumi stack init staging" in problem.fix


def test_example_site_settings_are_refused(tmp_path: Path) -> None:
    problem = check_site_settings(ctx("prod"))  # the repository ships example values
    assert problem is not None
    assert "soc2kit_public_hostnames" in problem.what
    assert "soc2kit_contact_email" in problem.what
    assert check_site_settings(ctx("prod", ansible_dir=ansible_copy(tmp_path, REAL_SITE))) is None


def test_bundled_collections_are_found() -> None:
    assert check_collections(ctx(path=str(VENV_BIN))) is None


def test_missing_collection_is_named(tmp_path: Path) -> None:
    directory = ansible_copy(tmp_path, "{}")
    (directory / "requirements.yml").write_text(
        "collections:\n  - name: amazon.aws\n  - name: example.missing\n"
    )
    problem = check_collections(ctx(path=str(VENV_BIN), ansible_dir=directory))
    assert problem is not None
    assert problem.what == "missing: example.missing"
    assert "ansible-galaxy collection install -r ansible/requirements.yml" in problem.fix


def test_ssm_hosts_need_the_session_manager_plugin(tmp_path: Path, fakebin: FakeBin) -> None:
    problem = check_ssm_plugin(ctx("prod", path=str(tmp_path)))  # prod reaches its hosts through SSM
    assert problem is not None
    assert "session-manager-plugin" in problem.what
    fakebin.add("session-manager-plugin")
    assert check_ssm_plugin(ctx("prod", path=str(fakebin.directory))) is None
    ssh_stack = "config:\n  aws:region: eu-west-1\n  soc2kit:ssh_admin_cidr: 198.51.100.0/24\n"
    assert (
        check_ssm_plugin(ctx("dev", path=str(tmp_path), pulumi_dir=pulumi_copy(tmp_path, ssh_stack))) is None
    )


def test_without_a_terminal_pulumi_up_needs_auto_approve() -> None:
    problem = check_confirmation_possible(ctx(), interactive=False)
    assert problem is not None
    assert "AUTO_APPROVE=1" in problem.fix
    assert (
        check_confirmation_possible(Context(env="prod", environ={"AUTO_APPROVE": "1"}), interactive=False)
        is None
    )
    assert check_confirmation_possible(ctx(), interactive=True) is None


def test_preflight_reports_every_problem_at_once(tmp_path: Path, clean_aws_env: None) -> None:
    with pytest.raises(KitError) as raised:
        run_preflight(ctx("prod", path=str(tmp_path)), action="deploy", interactive=False)
    message = raised.value.what
    assert "nothing was changed" in message
    for check in (
        "[pulumi CLI]",
        "[ansible]",
        "[session-manager-plugin]",
        "[site settings]",
        "[AWS credentials]",
        "[confirmation]",
    ):
        assert check in message


def test_preflight_passes_with_tools_credentials_and_valid_config(
    tmp_path: Path, fakebin: FakeBin, fake_aws_credentials: None
) -> None:
    fakebin.add("pulumi", "session-manager-plugin")
    bundle = tmp_path / "global-bundle.pem"
    bundle.write_bytes(PEM)
    context = Context(
        env="prod",
        environ={
            "PATH": f"{fakebin.directory}:{VENV_BIN}",
            "AUTO_APPROVE": "1",
            "FAKE_PULUMI_OUT_whoami": str(FIXTURES / "pulumi-whoami-cloud.txt"),
            "FAKE_PULUMI_OUT_stack_ls": str(FIXTURES / "pulumi-stack-ls.json"),
        },
        ansible_dir=ansible_copy(tmp_path, REAL_SITE),
        rds_ca_bundle=bundle,
    )
    with mock_aws():
        assert run_preflight(context, action="deploy", interactive=False) == "123456789012"
    assert fakebin.calls() == [
        "pulumi whoami --verbose --non-interactive",
        "pulumi stack ls --json --non-interactive",
    ]
