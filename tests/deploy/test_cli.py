"""The make targets and scripts as a user runs them: stage order, first failure stops, nothing changed
before preflight passes (a PATH of recording fake commands shows what ran)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from kit import __main__ as cli
from kit import aws
from kit.preflight import Context
from moto import mock_aws

from .conftest import FIXTURES, ROOT, VENV_BIN, FakeBin, filled_in_pulumi_dir, no_credentials_env

CHANGING = ("pulumi up", "pulumi destroy", "pulumi preview", "ansible-playbook", "molecule")


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=120)


def changing_calls(fakebin: FakeBin) -> list[str]:
    return [call for call in fakebin.calls() if call.startswith(CHANGING)]


@pytest.fixture
def tools(fakebin: FakeBin) -> FakeBin:
    """Everything that could change something is a recorder; pulumi is added by the tests that want it."""
    return fakebin.add("ansible-playbook", "molecule", "podman")


def test_make_deploy_with_unknown_env_lists_the_choices(tmp_path: Path, tools: FakeBin) -> None:
    result = run(
        ["make", "deploy", "ENV=qa"], no_credentials_env(tmp_path, f"{tools.directory}:/usr/bin:/bin")
    )
    assert result.returncode != 0
    assert "unknown ENV='qa'; choose one of: local, dev, staging, prod" in result.stderr
    assert tools.calls() == []


def test_deploy_prod_without_pulumi_cli_stops_in_preflight(tmp_path: Path, tools: FakeBin) -> None:
    env = no_credentials_env(tmp_path, f"{tools.directory}:/usr/bin:/bin")
    result = run(["scripts/deploy.sh", "prod", "nginx"], env)
    assert result.returncode == 1
    assert "[pulumi CLI] the `pulumi` command is not on PATH" in result.stderr
    assert "https://www.pulumi.com/docs/install/" in result.stderr
    assert "nothing was changed" in result.stderr
    assert "stopped at stage 'preflight'" in result.stderr
    assert changing_calls(tools) == []


def test_deploy_prod_without_aws_credentials_stops_in_preflight(tmp_path: Path, tools: FakeBin) -> None:
    tools.add("pulumi", "session-manager-plugin")
    env = no_credentials_env(tmp_path, f"{tools.directory}:/usr/bin:/bin")
    env["AUTO_APPROVE"] = "1"
    result = run(["make", "deploy", "ENV=prod"], env)
    assert result.returncode != 0
    assert "[AWS credentials] no AWS credentials found for the default credential chain" in result.stderr
    assert "aws sso login" in result.stderr
    assert "[pulumi CLI]" not in result.stderr
    assert changing_calls(tools) == []


def test_make_destroy_prod_refuses_without_confirmation(tmp_path: Path, tools: FakeBin) -> None:
    tools.add("pulumi")
    env = no_credentials_env(tmp_path, f"{tools.directory}:/usr/bin:/bin")
    result = run(["make", "destroy", "ENV=prod"], env)
    assert result.returncode != 0
    assert "refusing to destroy prod without explicit confirmation" in result.stderr
    assert "CONFIRM_DESTROY=prod" in result.stderr
    assert tools.calls() == []


def test_confirmed_destroy_of_prod_still_passes_preflight_first(tmp_path: Path, tools: FakeBin) -> None:
    tools.add("pulumi")
    env = no_credentials_env(tmp_path, f"{tools.directory}:/usr/bin:/bin")
    env["CONFIRM_DESTROY"] = "prod"
    result = run(["make", "destroy", "ENV=prod"], env)
    assert result.returncode != 0
    assert "[1/3] confirmation: done" in result.stderr
    assert "[AWS credentials]" in result.stderr
    assert changing_calls(tools) == []


@pytest.mark.parametrize(
    ("target", "line"),
    [
        ("plan", 'scripts/kit.sh plan "staging" ""'),
        ("destroy", 'scripts/kit.sh destroy "staging" ""'),
        ("rollback", 'scripts/kit.sh rollback "staging" ""'),
        ("deploy", 'scripts/deploy.sh "staging" ""'),
        ("ami", 'scripts/kit.sh ami "staging"'),
    ],
)
def test_make_targets_are_thin_calls(target: str, line: str) -> None:
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", target, "ENV=staging"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == line


def test_plan_is_refused_for_local() -> None:
    assert cli.main(["plan", "local"]) == 2


def test_bad_rolling_batch_size_is_refused_before_anything_runs(
    tools: FakeBin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPLOY_SERIAL", "1,half")
    monkeypatch.setenv("PATH", f"{tools.directory}:{VENV_BIN}")
    assert cli.main(["deploy", "prod"]) == 2
    assert tools.calls() == []


def test_rolling_batches_default_to_one_host_first() -> None:
    assert aws.rolling_batches({}) == [1, "50%"]
    assert aws.rolling_batches({"DEPLOY_SERIAL": "2, 100%"}) == [2, "100%"]


@pytest.fixture
def aws_deploy(
    tmp_path: Path, tools: FakeBin, fake_aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> FakeBin:
    """Real preflight (moto for STS), real inventory and ansible-inventory; pulumi, ansible-playbook and
    pytest are recorders. The prod site settings record WEB=apache and decline HSTS preload."""
    tools.add("pulumi", "session-manager-plugin", "pytest")
    ansible_dir = tmp_path / "ansible"
    site = ansible_dir / "inventories" / "prod" / "group_vars" / "app_hosts"
    site.mkdir(parents=True)
    (site / "site.yml").write_text(
        "soc2kit_public_hostnames: [app.acme-corp.io]\nsoc2kit_contact_email: sec@acme-corp.io\n"
        "web_server: apache\nsoc2kit_hsts_preload: false\n"
    )
    for name in ("requirements.yml", "ansible.cfg"):
        (ansible_dir / name).write_text((ROOT / "ansible" / name).read_text())
    bundle = tmp_path / "global-bundle.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    pulumi_dir = filled_in_pulumi_dir(tmp_path)
    monkeypatch.setattr(
        "kit.aws.context",
        lambda env: Context(
            env=env,
            environ=dict(__import__("os").environ),
            ansible_dir=ansible_dir,
            pulumi_dir=pulumi_dir,
            rds_ca_bundle=bundle,
        ),
    )
    monkeypatch.setattr(aws, "STATE_DIR", tmp_path / "state")
    monkeypatch.setenv("PATH", f"{tools.directory}:{VENV_BIN}:/usr/bin:/bin")
    monkeypatch.setenv("AUTO_APPROVE", "1")
    monkeypatch.setenv("FAKE_PULUMI_OUT_whoami", str(FIXTURES / "pulumi-whoami-cloud.txt"))
    monkeypatch.setenv("FAKE_PULUMI_OUT_stack_ls", str(FIXTURES / "pulumi-stack-ls.json"))
    monkeypatch.setenv("FAKE_PULUMI_OUT_stack_output", str(FIXTURES / "outputs-good-two-hosts-ssm.json"))
    monkeypatch.setenv("FAKE_PYTEST", "1")
    monkeypatch.delenv("DEPLOY_SERIAL", raising=False)
    return tools


def test_aws_deploy_runs_the_stages_in_order_and_stops_at_the_first_failure(
    tmp_path: Path, aws_deploy: FakeBin, capsys: pytest.CaptureFixture[str]
) -> None:
    """The verification fails, so the run must stop there naming it."""
    with mock_aws():
        status = cli.main(["deploy", "prod"])

    stderr = capsys.readouterr().err
    assert status == 1
    calls = aws_deploy.calls()
    assert calls[0] == "pulumi whoami --verbose --non-interactive"
    assert calls[1] == "pulumi stack ls --json --non-interactive"
    assert calls[2] == f"pulumi up --stack prod --policy-pack {ROOT / 'pulumi/policy'} --yes"
    assert calls[3] == "pulumi stack output --json --show-secrets=false --stack prod"
    playbook = calls[4].split(" ")
    assert playbook[:4] == [
        "ansible-playbook",
        "-i",
        str(ROOT / "ansible/inventories/prod"),
        str(ROOT / "ansible/site.yml"),
    ]
    # The web server is the inventory's (site.yml), not an override on the command line.
    assert json.loads(calls[4].split(" -e ", 1)[1]) == {"deploy_serial": [1, "50%"]}
    assert calls[5].startswith(f"pytest {ROOT / 'molecule/tests'} --hosts=ansible://app_hosts")
    assert calls[5].endswith("-m not disruptive")  # a live check never runs the disruptive tests
    assert f"--ansible-inventory={ROOT / 'ansible/inventories/prod'}" in calls[5]
    assert len(calls) == 6
    assert "make deploy ENV=prod WEB=apache" in stderr
    assert "inventory: 2 app host(s) via ssm: soc2kit-prod-app-1, soc2kit-prod-app-2" in stderr
    for number, stage in enumerate(
        ("preflight", "pulumi up", "inventory from stack outputs", "DNS of the site (one host, HTTP-01)"),
        start=1,
    ):
        assert f"[{number}/6] {stage}: done in" in stderr
    assert "DNS: waiting" not in stderr  # two hosts: certbot uses DNS-01
    assert "[6/6] verify (testinfra + HTTPS smoke test): FAILED" in stderr
    assert "ERROR: testinfra verification of the deployed hosts failed" in stderr
    recorded = tmp_path / "state" / "prod" / "stack-outputs.json"
    assert recorded.stat().st_mode & 0o777 == 0o600


def test_web_that_disagrees_with_the_recorded_choice_is_refused_before_anything_runs(
    aws_deploy: FakeBin, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["deploy", "prod", "nginx"]) == 2
    stderr = capsys.readouterr().err
    assert "WEB=nginx disagrees with the web server recorded for prod: apache" in stderr
    assert "ansible/inventories/prod/group_vars/app_hosts/site.yml" in stderr
    assert "leave WEB= out to deploy apache" in stderr
    assert aws_deploy.calls() == []


def test_web_that_agrees_with_the_recorded_choice_is_accepted(aws_deploy: FakeBin) -> None:
    assert aws.resolve_web("prod", "apache") == "apache"
    assert aws.resolve_web("prod", "") == "apache"
    assert cli.build("rollback", "prod", "apache", {}).title == "make rollback ENV=prod"


def test_plan_and_deploy_run_pulumi_with_the_policy_pack() -> None:
    pack = str(ROOT / "pulumi" / "policy")
    assert (ROOT / "pulumi" / "policy" / "PulumiPolicy.yaml").is_file()
    assert aws.pulumi_up_command("prod", {}) == ["pulumi", "up", "--stack", "prod", "--policy-pack", pack]
    assert aws.pulumi_up_command("dev", {"AUTO_APPROVE": "1"}) == [
        "pulumi", "up", "--stack", "dev", "--policy-pack", pack, "--yes",
    ]  # fmt: skip
    assert aws.pulumi_preview_command("staging") == [
        "pulumi", "preview", "--stack", "staging", "--diff", "--policy-pack", pack,
    ]  # fmt: skip


def test_make_plan_runs_the_preview_the_pack_checks(
    aws_deploy: FakeBin, monkeypatch: pytest.MonkeyPatch
) -> None:
    with mock_aws():
        assert cli.main(["plan", "prod"]) == 0
    assert aws_deploy.calls()[-1] == (
        f"pulumi preview --stack prod --diff --policy-pack {ROOT / 'pulumi/policy'}"
    )


def test_inventory_stage_fails_naming_the_bad_output(
    tmp_path: Path, tools: FakeBin, monkeypatch: pytest.MonkeyPatch
) -> None:
    tools.add("pulumi")
    monkeypatch.setattr(aws, "STATE_DIR", tmp_path / "state")
    monkeypatch.setenv("PATH", f"{tools.directory}:{VENV_BIN}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_PULUMI_OUT", str(FIXTURES / "outputs-missing-keys.json"))
    with pytest.raises(Exception, match="stack output 'db_endpoint': missing") as raised:
        aws.show_inventory("prod")
    assert "pulumi/__main__.py" in raised.value.fix  # type: ignore[attr-defined]
    assert not (tmp_path / "state" / "prod" / "stack-outputs.json").exists()
    assert changing_calls(tools) == []


def test_smoke_test_name_is_the_first_public_hostname(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aws, "STATE_DIR", tmp_path / "state")
    recorded = aws.outputs_file("staging")
    recorded.parent.mkdir(parents=True)
    recorded.write_text((FIXTURES / "outputs-good-one-host-ssh.json").read_text())
    monkeypatch.setenv("PATH", f"{VENV_BIN}:/usr/bin:/bin")
    assert aws.public_hostname("staging") == "staging.example.com"
