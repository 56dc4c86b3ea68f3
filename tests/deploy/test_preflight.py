"""Preflight checks for the AWS environments, each failing with what is missing and how to fix it."""

from __future__ import annotations

import hashlib
import io
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
    check_passphrase,
    check_profile_agrees,
    check_pulumi_cli,
    check_rds_ca_bundle,
    check_site_settings,
    check_ssm_plugin,
    check_stack_config,
    check_stack_exists,
    is_self_managed,
    profile_env,
    pulumi_backend,
    run_preflight,
)
from moto import mock_aws

from .conftest import FIXTURES, ROOT, VENV_BIN, FakeBin, filled_in_pulumi_dir

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
    directory.mkdir(parents=True)
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


@pytest.mark.parametrize("env", ["dev", "staging"])
def test_the_repository_stack_files_pass_the_programs_validator(env: str) -> None:
    assert check_stack_config(ctx(env), account_id="123456789012") is None


def test_the_shipped_prod_stack_is_refused_until_its_placeholder_zone_is_replaced(tmp_path: Path) -> None:
    problem = check_stack_config(ctx("prod"), account_id="123456789012")
    assert problem is not None
    assert "soc2kit:acme_route53_zone_id" in problem.what
    assert "Z0000000000000EXAMPLE" in problem.what
    assert problem.what.count("soc2kit:") == 1, "only the placeholder should stand in the way"
    filled_in = ctx("prod", pulumi_dir=filled_in_pulumi_dir(tmp_path))
    assert check_stack_config(filled_in, account_id="123456789012") is None


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
        pulumi_dir=filled_in_pulumi_dir(tmp_path),
        rds_ca_bundle=bundle,
    )
    with mock_aws():
        assert run_preflight(context, action="deploy", interactive=False) == "123456789012"
    assert fakebin.calls() == [
        "pulumi whoami --verbose --non-interactive",
        "pulumi stack ls --json --non-interactive",
    ]


# --- the stack exists, and a self-managed backend has its passphrase --------------------------------


def pulumi_ctx(
    fakebin: FakeBin, whoami: str, stack_yaml: str | None, tmp_path: Path, **environ: str
) -> Context:
    fakebin.add("pulumi")
    return Context(
        env="prod",
        environ={
            "PATH": str(fakebin.directory),
            "FAKE_PULUMI_OUT_whoami": str(FIXTURES / whoami),
            "FAKE_PULUMI_OUT_stack_ls": str(FIXTURES / "pulumi-stack-ls.json"),
            **environ,
        },
        pulumi_dir=pulumi_copy(tmp_path, stack_yaml, env="prod"),
    )


def test_backend_url_is_read_from_pulumi_whoami(fakebin: FakeBin, tmp_path: Path) -> None:
    context = pulumi_ctx(fakebin, "pulumi-whoami-s3.txt", None, tmp_path)
    assert pulumi_backend(context) == ("s3://acme-pulumi-state?region=eu-west-1", None)
    assert is_self_managed("s3://acme-pulumi-state")
    assert is_self_managed("file://~/.pulumi-state")
    assert not is_self_managed("https://api.pulumi.com")


def test_a_stack_that_does_not_exist_is_named_with_the_init_command(fakebin: FakeBin, tmp_path: Path) -> None:
    context = pulumi_ctx(fakebin, "pulumi-whoami-cloud.txt", None, tmp_path)
    assert check_stack_exists(context, "https://app.pulumi.com/acme-corp") is None  # acme-corp/prod
    staging = Context(env="staging", environ=context.environ, pulumi_dir=context.pulumi_dir)
    problem = check_stack_exists(staging, "https://app.pulumi.com/acme-corp")
    assert problem is not None
    assert "stack 'staging' does not exist in backend https://app.pulumi.com/acme-corp" in problem.what
    assert "(it has: dev, prod)" in problem.what
    assert "pulumi stack init staging" in problem.fix
    self_managed = check_stack_exists(staging, "s3://acme-pulumi-state")
    assert self_managed is not None
    assert "pulumi stack init staging --secrets-provider awskms://" in self_managed.fix


def test_unreadable_stack_list_is_a_problem_not_a_pass(fakebin: FakeBin, tmp_path: Path) -> None:
    context = pulumi_ctx(fakebin, "pulumi-whoami-cloud.txt", None, tmp_path)
    broken = Context(
        env="prod",
        environ={**context.environ, "FAKE_PULUMI_OUT_stack_ls": str(FIXTURES / "outputs-malformed.json")},
        pulumi_dir=context.pulumi_dir,
    )
    problem = check_stack_exists(broken, None)
    assert problem is not None
    assert "`pulumi stack ls --json` failed" in problem.what


@pytest.mark.parametrize("auto_approve", [{}, {"AUTO_APPROVE": "1"}])
def test_self_managed_backend_needs_the_passphrase(
    fakebin: FakeBin, tmp_path: Path, auto_approve: dict[str, str]
) -> None:
    context = pulumi_ctx(fakebin, "pulumi-whoami-s3.txt", "config: {}\n", tmp_path, **auto_approve)
    problem = check_passphrase(context, "s3://acme-pulumi-state")
    assert problem is not None
    assert "neither PULUMI_CONFIG_PASSPHRASE nor PULUMI_CONFIG_PASSPHRASE_FILE" in problem.what
    assert "the self-managed backend s3://acme-pulumi-state" in problem.what
    assert "export PULUMI_CONFIG_PASSPHRASE_FILE=" in problem.fix
    assert "pulumi stack change-secrets-provider --stack prod awskms://" in problem.fix


def test_passphrase_from_the_environment_or_a_file_satisfies_it(fakebin: FakeBin, tmp_path: Path) -> None:
    context = pulumi_ctx(fakebin, "pulumi-whoami-s3.txt", "config: {}\n", tmp_path)
    with_value = Context(
        env="prod", environ={"PULUMI_CONFIG_PASSPHRASE": "x" * 32}, pulumi_dir=context.pulumi_dir
    )
    assert check_passphrase(with_value, "s3://acme-pulumi-state") is None
    secret_file = tmp_path / "passphrase"
    secret_file.write_text("correct horse battery staple\n")
    with_file = Context(
        env="prod", environ={"PULUMI_CONFIG_PASSPHRASE_FILE": str(secret_file)}, pulumi_dir=context.pulumi_dir
    )
    assert check_passphrase(with_file, "file:///srv/pulumi") is None
    empty_file = tmp_path / "empty"
    empty_file.write_text("\n")
    for environ in (
        {"PULUMI_CONFIG_PASSPHRASE": ""},
        {"PULUMI_CONFIG_PASSPHRASE_FILE": str(empty_file)},
        {"PULUMI_CONFIG_PASSPHRASE_FILE": str(tmp_path / "missing")},
    ):
        refused = Context(env="prod", environ=environ, pulumi_dir=context.pulumi_dir)
        assert check_passphrase(refused, "file:///srv/pulumi") is not None, environ


def test_kms_secrets_provider_or_pulumi_cloud_needs_no_passphrase(fakebin: FakeBin, tmp_path: Path) -> None:
    kms = "secretsprovider: awskms://alias/pulumi-prod?region=eu-west-1\nencryptedkey: AQICAHg=\nconfig: {}\n"
    context = pulumi_ctx(fakebin, "pulumi-whoami-s3.txt", kms, tmp_path)
    assert check_passphrase(context, "s3://acme-pulumi-state") is None
    cloud = pulumi_ctx(fakebin, "pulumi-whoami-cloud.txt", "config: {}\n", tmp_path / "cloud")
    assert check_passphrase(cloud, "https://api.pulumi.com") is None


def test_passphrase_stack_file_needs_it_on_any_backend(fakebin: FakeBin, tmp_path: Path) -> None:
    salted = "encryptionsalt: v1:c2FsdA==:v1:aXY=:Y3Q=\nconfig: {}\n"
    context = pulumi_ctx(fakebin, "pulumi-whoami-cloud.txt", salted, tmp_path)
    problem = check_passphrase(context, "https://api.pulumi.com")
    assert problem is not None
    assert "(Pulumi.prod.yaml)" in problem.what


def test_preflight_runs_the_stack_and_passphrase_checks(
    tmp_path: Path, fakebin: FakeBin, fake_aws_credentials: None
) -> None:
    fakebin.add("session-manager-plugin")
    context = pulumi_ctx(fakebin, "pulumi-whoami-s3.txt", None, tmp_path, AUTO_APPROVE="1")
    staging = Context(
        env="staging",
        environ={**context.environ, "PATH": f"{fakebin.directory}:{VENV_BIN}"},
        pulumi_dir=context.pulumi_dir,
    )
    with mock_aws(), pytest.raises(KitError) as raised:
        run_preflight(staging, action="plan", interactive=False)
    assert "[pulumi stack] stack 'staging' does not exist" in raised.value.what
    assert "[pulumi passphrase]" in raised.value.what


# --- the AWS profile ------------------------------------------------------------------------------------


def test_the_stacks_aws_profile_is_exported_to_ansible_and_boto3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kit import aws

    pulumi_dir = pulumi_copy(
        tmp_path, "config:\n  aws:region: eu-west-1\n  aws:profile: acme-prod\n", env="prod"
    )
    monkeypatch.setattr("kit.aws.context", lambda env: Context(env=env, environ={}, pulumi_dir=pulumi_dir))
    assert aws.ansible_env("prod")["AWS_PROFILE"] == "acme-prod"
    assert profile_env(Context(env="prod", environ={}, pulumi_dir=pulumi_dir)) == {"AWS_PROFILE": "acme-prod"}
    without = pulumi_copy(tmp_path / "other", "config:\n  aws:region: eu-west-1\n", env="prod")
    assert profile_env(Context(env="prod", environ={}, pulumi_dir=without)) == {}


def test_a_conflicting_aws_profile_is_refused_by_name(tmp_path: Path) -> None:
    pulumi_dir = pulumi_copy(tmp_path, "config:\n  aws:profile: acme-prod\n", env="prod")
    problem = check_profile_agrees(
        Context(env="prod", environ={"AWS_PROFILE": "acme-dev"}, pulumi_dir=pulumi_dir)
    )
    assert problem is not None
    assert "AWS_PROFILE='acme-dev', but Pulumi.prod.yaml sets aws:profile 'acme-prod'" in problem.what
    assert (
        check_profile_agrees(Context(env="prod", environ={"AWS_PROFILE": "acme-prod"}, pulumi_dir=pulumi_dir))
        is None
    )


def test_kit_main_exports_the_stacks_profile_for_boto3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_aws_env: None
) -> None:
    from kit import __main__ as cli

    pulumi_dir = pulumi_copy(
        tmp_path, "config:\n  aws:region: eu-west-1\n  aws:profile: acme-prod\n", env="prod"
    )
    monkeypatch.setattr(
        "kit.__main__.context", lambda env: Context(env=env, environ={}, pulumi_dir=pulumi_dir)
    )
    # Empty counts as unset; set through monkeypatch, the variable main() exports is undone after the test.
    monkeypatch.setenv("AWS_PROFILE", "")
    seen: dict[str, str | None] = {}

    def fake_build(action: str, env: str, web: str, environ: dict[str, str]) -> Any:
        seen["profile"] = __import__("os").environ.get("AWS_PROFILE")
        raise KitError("stop here")

    monkeypatch.setattr(cli, "build", fake_build)
    assert cli.main(["plan", "prod"]) == 2
    assert seen["profile"] == "acme-prod"


# --- the RDS CA bundle ----------------------------------------------------------------------------------


def bundle_ctx(tmp_path: Path, pin: str | None) -> Context:
    tmp_path.mkdir(parents=True, exist_ok=True)
    pin_file = tmp_path / "rds-ca-bundle.sha256"
    pin_file.write_text("# pinned digest of the bundle\n" + (f"{pin}\n" if pin else ""))
    return Context(
        env="prod",
        environ={},
        rds_ca_bundle=tmp_path / ".cache" / "rds" / "global-bundle.pem",
        rds_ca_pin_file=pin_file,
    )


def test_present_bundle_is_used_without_fetching(tmp_path: Path) -> None:
    context = bundle_ctx(tmp_path, None)
    context.rds_ca_bundle.parent.mkdir(parents=True)
    context.rds_ca_bundle.write_bytes(PEM)

    def no_fetch(url: str) -> bytes:
        raise AssertionError("fetched although the bundle is present")

    assert check_rds_ca_bundle(context, fetch=no_fetch) is None
    context.rds_ca_bundle.write_text("<html>not a certificate</html>")
    problem = check_rds_ca_bundle(context, fetch=no_fetch)
    assert problem is not None
    assert "holds no PEM certificate" in problem.what


def test_missing_bundle_is_fetched_and_written_when_its_sha256_matches_the_pin(tmp_path: Path) -> None:
    source = tmp_path / "downloaded.pem"
    source.write_bytes(PEM)
    context = bundle_ctx(tmp_path, hashlib.sha256(PEM).hexdigest())
    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return source.read_bytes()

    out = io.StringIO()
    assert check_rds_ca_bundle(context, fetch=fetch, out=out) is None
    assert fetched == ["https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"]
    assert context.rds_ca_bundle.read_bytes() == PEM
    assert "SHA-256 matches the pin" in out.getvalue()


def test_a_fetched_bundle_with_another_sha256_is_refused_and_not_written(tmp_path: Path) -> None:
    tampered = PEM + b"-----BEGIN CERTIFICATE-----\nEVIL\n-----END CERTIFICATE-----\n"
    pinned = hashlib.sha256(PEM).hexdigest()
    context = bundle_ctx(tmp_path, pinned)
    problem = check_rds_ca_bundle(context, fetch=lambda url: tampered)
    assert problem is not None
    assert f"has SHA-256 {hashlib.sha256(tampered).hexdigest()}, not the pinned {pinned}" in problem.what
    assert "nothing was written" in problem.what
    assert not context.rds_ca_bundle.exists()


def test_failed_fetch_or_missing_pin_names_the_manual_command(tmp_path: Path) -> None:
    def offline(url: str) -> bytes:
        raise OSError("Network is unreachable")

    problem = check_rds_ca_bundle(bundle_ctx(tmp_path, "a" * 64), fetch=offline)
    assert problem is not None
    assert "fetching https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem failed" in problem.what
    assert "curl -fsSL -o" in problem.fix
    no_pin = check_rds_ca_bundle(bundle_ctx(tmp_path / "nopin", None), fetch=offline)
    assert no_pin is not None
    assert "holds no SHA-256 to check a download against" in no_pin.what


# --- the site settings: web server and HSTS preload are explicit choices ------------------------------------


@pytest.mark.parametrize(
    ("drop", "named"),
    [
        ("soc2kit_hsts_preload: false\n", "soc2kit_hsts_preload must be true or false"),
        ("web_server: nginx\n", "web_server must be one of nginx, apache"),
    ],
)
def test_site_settings_name_an_unset_choice(tmp_path: Path, drop: str, named: str) -> None:
    problem = check_site_settings(
        ctx("prod", ansible_dir=ansible_copy(tmp_path, REAL_SITE.replace(drop, "")))
    )
    assert problem is not None
    assert named in problem.what
    assert problem.fix.startswith("edit ansible/inventories/prod/group_vars/app_hosts/site.yml: ")


def test_hsts_preload_must_be_a_yaml_boolean(tmp_path: Path) -> None:
    quoted = REAL_SITE.replace("soc2kit_hsts_preload: false", 'soc2kit_hsts_preload: "no"')
    problem = check_site_settings(ctx("prod", ansible_dir=ansible_copy(tmp_path, quoted)))
    assert problem is not None
    assert "soc2kit_hsts_preload" in problem.what


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_repository_site_files_ask_for_the_hsts_decision_and_record_a_web_server(env: str) -> None:
    problem = check_site_settings(ctx(env))
    assert problem is not None
    assert "soc2kit_hsts_preload must be true or false" in problem.what
    assert "web_server" not in problem.what


def test_kit_main_refuses_a_conflicting_aws_profile_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from kit import __main__ as cli

    pulumi_dir = pulumi_copy(
        tmp_path, "config:\n  aws:region: eu-west-1\n  aws:profile: acme-prod\n", env="prod"
    )
    monkeypatch.setattr(
        "kit.__main__.context",
        lambda env: Context(env=env, environ=dict(__import__("os").environ), pulumi_dir=pulumi_dir),
    )
    monkeypatch.setenv("AWS_PROFILE", "acme-dev")
    monkeypatch.setattr(cli, "build", lambda *args: pytest.fail("built a pipeline despite the conflict"))
    assert cli.main(["deploy", "prod"]) == 2
    assert (
        "AWS_PROFILE='acme-dev', but Pulumi.prod.yaml sets aws:profile 'acme-prod'" in capsys.readouterr().err
    )
