"""ENV=rehearsal without containers: prod's inventory script and AWS group_vars over the rehearsal's outputs,
with podman as the only connection difference, and the live checks aimed at the balancer on loopback."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import fake_aws
import pytest
from kit import KitError, aws, rehearsal, rehearsal_stack
from kit.verify import aws_live, thresholds
from kit.verify.context import Context, Site
from kit.verify.result import PASS

from .conftest import ROOT, VENV_BIN
from .test_livecheck import collect, collected_modules


@pytest.fixture(scope="module")
def outputs() -> dict[str, Any]:
    """The rehearsal stack's outputs as the mocked program exports them (before moto's ARNs)."""
    return rehearsal_stack.run(rehearsal.addresses()).outputs


@pytest.fixture(scope="module")
def outputs_file(outputs: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("outputs") / "stack-outputs.json"
    path.write_text(json.dumps(outputs))
    return path


def test_podman_inventory_sets_no_connection_of_its_own(inventory_script: Any, outputs: dict) -> None:
    inventory = inventory_script.build_inventory(outputs, "rehearsal", "podman")
    assert inventory["app_hosts"]["hosts"] == ["soc2kit-rehearsal-app-1", "soc2kit-rehearsal-app-2"]
    for host in inventory["_meta"]["hostvars"].values():
        assert not {"ansible_connection", "ansible_host", "ansible_user"} & set(host)
    assert inventory["app_hosts"]["vars"]["soc2kit_connection"] == "podman"


def test_unknown_connection_is_named(inventory_script: Any, outputs_file: Path) -> None:
    env = {
        "KIT_CONNECTION": "docker",
        "KIT_PULUMI_STACK": "rehearsal",
        "KIT_PULUMI_OUTPUTS_FILE": str(outputs_file),
    }
    assert inventory_script.main(["--list"], env) == 1


def ansible_inventory(outputs_file: Path, tmp_path: Path) -> dict[str, Any]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KIT_"))},
        **aws.ansible_env("rehearsal"),
        "KIT_PULUMI_OUTPUTS_FILE": str(outputs_file),
        "HOME": str(tmp_path),
    }
    result = subprocess.run(
        [str(VENV_BIN / "ansible-inventory"), "-i", str(aws.inventory_dir("rehearsal")), "--list"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_rehearsal_hosts_get_prods_group_vars_and_only_the_listed_differences(
    outputs_file: Path, tmp_path: Path
) -> None:
    hostvars = ansible_inventory(outputs_file, tmp_path)["_meta"]["hostvars"]
    first = hostvars["soc2kit-rehearsal-app-1"]
    # prod's AWS group_vars (ansible/inventories/aws_shared/app_hosts.yml) apply as they are ...
    assert first["django_app_secrets_mode"] == "aws"
    assert first["django_app_kek_backend"] == "kms"
    assert first["log_shipping_transport"] == "cloudwatch"
    assert first["postgresql_mode"] == "rds"
    # ... and the connection is podman, to the host's own rh-* container.
    assert first["ansible_connection"] == "podman"  # the kit's pipelining plugin
    assert first["ansible_host"] == "rh-app-1"
    assert hostvars["soc2kit-rehearsal-app-2"]["ansible_host"] == "rh-app-2"
    assert first["soc2kit_host_index"] == 0
    assert hostvars["soc2kit-rehearsal-app-2"]["soc2kit_host_index"] == 1


def test_ansible_runs_of_the_rehearsal_use_podman_and_moto() -> None:
    env = aws.ansible_env("rehearsal")
    assert env["KIT_CONNECTION"] == "podman"
    assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert env["CONTAINERS_CONF"].endswith("molecule/containers.conf")
    assert "KIT_CONNECTION" not in aws.ansible_env("prod")


@pytest.mark.parametrize(("web", "other"), [("nginx", "apache"), ("apache", "nginx")])
def test_live_checks_of_the_rehearsal_read_the_balancer_pebble_and_the_deployed_web_server(
    outputs_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, web: str, other: str
) -> None:
    # The WEB= of the deploy reaches the live checks through the inventory, as it reaches the playbooks:
    # an Apache rehearsal once ran the nginx tests.
    monkeypatch.setattr(rehearsal, "STATE_DIR", tmp_path / "state")
    rehearsal.record_web(web)
    env = {**aws.ansible_env("rehearsal"), "KIT_PULUMI_OUTPUTS_FILE": str(outputs_file)}
    result = collect(aws.inventory_dir("rehearsal"), tmp_path, env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (
        f"site: app.rehearsal.test via 127.0.0.1:{rehearsal.PORTS['https']}, web server {web}, database rds, "
        "ACME https://acme:14000/dir (issuer: Pebble Intermediate CA)"
    ) in result.stdout
    modules = collected_modules(result.stdout)
    assert {f"test_{web}.py", "test_certbot.py", "test_web_tls.py"} <= modules
    assert f"test_{other}.py" not in modules
    assert "test_postgresql.py" not in modules  # RDS: no database host in the inventory


def test_rehearsal_runs_the_personal_data_search_without_a_log_collector(
    outputs_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The module declares it needs only app hosts (its shipped logs may be in CloudWatch Logs), so the
    # rehearsal's disruptive step (tests/rehearsal/test_disruptive_checks.py) collects all of its tests;
    # the collector-outage module names log_collectors and stays out.
    monkeypatch.setattr(rehearsal, "STATE_DIR", tmp_path / "state")
    rehearsal.record_web("apache")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_", "PYTEST_"))}
    env |= {
        **aws.ansible_env("rehearsal"),
        "KIT_PULUMI_OUTPUTS_FILE": str(outputs_file),
        "HOME": str(tmp_path),
    }
    env["PATH"] = f"{VENV_BIN}:{os.environ['PATH']}"
    suite = ROOT / "molecule" / "tests"
    result = subprocess.run(
        [
            str(VENV_BIN / "pytest"),
            "-p",
            "no:cacheprovider",
            f"--ansible-inventory={aws.inventory_dir('rehearsal')}",
            "--collect-only",
            "-q",
            str(suite / "test_no_personal_data_in_logs.py"),
            str(suite / "test_log_shipping_outage.py"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    collected = [line for line in result.stdout.splitlines() if line.startswith("molecule/tests/")]
    assert len(collected) == 3, result.stdout
    assert all("test_no_personal_data_in_logs.py::" in line for line in collected), collected
    assert (
        "deselected test_log_shipping_outage.py: the inventory has no host in log_collectors" in result.stdout
    )


def test_stand_ins_never_use_the_molecule_scenarios_names_or_ports() -> None:
    molecule = (ROOT / "molecule" / "default" / "molecule.yml").read_text() + (
        ROOT / "molecule" / "apache" / "molecule.yml"
    ).read_text()
    for container in rehearsal.containers():
        assert container.name.startswith("rh-")
        assert f"name: {container.name}\n" not in molecule
        assert not container.ip.startswith(("10.213.10.", "10.213.11."))
    for port in rehearsal.PORTS.values():
        assert f":{port}:" not in molecule


def test_idempotence_stage_follows_the_converge_only_when_asked() -> None:
    plain = [stage.name for stage in rehearsal.deploy("nginx", {}).stages]
    assert not [name for name in plain if name.startswith("idempotence")]
    names = [stage.name for stage in rehearsal.deploy("nginx", {"IDEMPOTENCE": "1"}).stages]
    converge = names.index("ansible-playbook site.yml (rolling)")
    assert names[converge + 1] == "idempotence: site.yml again changes nothing"


def test_live_checks_end_the_deploy_unless_make_verify_runs_them_next() -> None:
    verify_stage = "verify (testinfra + HTTPS smoke test)"
    assert [stage.name for stage in rehearsal.deploy("nginx", {}).stages][-1] == verify_stage
    names = [stage.name for stage in rehearsal.deploy("nginx", {"LIVE_CHECKS": "0"}).stages]
    assert verify_stage not in names
    assert names[-1] == "ansible-playbook site.yml (rolling)"
    # scripts/rehearsal-test.sh skips them only because it runs make verify right after the deploy.
    script = (Path(__file__).resolve().parents[2] / "scripts" / "rehearsal-test.sh").read_text(
        encoding="utf-8"
    )
    assert script.index("LIVE_CHECKS=0") < script.index('step "make verify ENV=rehearsal" verify')


def test_a_second_run_that_changes_anything_fails_the_idempotence_stage() -> None:
    logs: list[str] = []
    with pytest.raises(KitError, match="changed 2 thing"):
        rehearsal.check_idempotent(lambda log: logs.append(log) or 2)
    rehearsal.check_idempotent(lambda log: logs.append(log) or 0)
    assert logs == ["rehearsal-site-idempotence"] * 2


def test_verify_takes_the_web_server_the_rehearsal_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rehearsal, "STATE_DIR", tmp_path)
    with pytest.raises(KitError, match="never deployed"):
        rehearsal.deployed_web("")
    rehearsal.record_web("apache")
    assert rehearsal.deployed_web("") == "apache"
    assert rehearsal.deployed_web("apache") == "apache"
    with pytest.raises(KitError, match="WEB=nginx disagrees with the web server the rehearsal runs: apache"):
        rehearsal.deployed_web("nginx")


def test_moto_holds_what_the_program_writes_so_the_aws_checks_pass_on_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every key rotates and every secret is encrypted with the secrets key, as pulumi/components make them;
    a second seeding changes nothing (what `pulumi up` would do)."""
    stack = rehearsal_stack.run(rehearsal.addresses())
    monkeypatch.setattr(rehearsal, "STATE_DIR", tmp_path)
    with fake_aws.moto_server() as endpoint_url:
        monkeypatch.setattr(rehearsal, "MOTO_URL_CONTROLLER", endpoint_url)
        for key, value in fake_aws.aws_env(endpoint_url).items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        seeded = rehearsal.seed_moto(stack)
        assert rehearsal.seed_moto(stack) == seeded
        ctx = Context(
            "rehearsal",
            "nginx",
            Site(rehearsal.SITE_DOMAIN),
            None,  # type: ignore[arg-type]
            thresholds.load(),
            tmp_path,
            stack_outputs=seeded,
        )
        for check in (aws_live.kms_rotation, aws_live.secrets_encryption):
            outcome, _ = check(ctx)
            assert outcome.status == PASS, outcome.summary
        # The audit checkpoint bucket the app writes to and verify_audit_chain reads (make verify once
        # failed on NoSuchBucket), locked as the program locks it.
        s3 = rehearsal._client("s3", seeded["region"])
        lock = s3.get_object_lock_configuration(Bucket=seeded["audit_checkpoint_bucket"])[
            "ObjectLockConfiguration"
        ]
        assert lock["ObjectLockEnabled"] == "Enabled"
        retention = lock["Rule"]["DefaultRetention"]
        assert (retention["Mode"], retention["Days"]) == ("COMPLIANCE", stack.checkpoint_lock["days"])
        assert stack.checkpoint_lock["days"] >= 365
        assert (
            s3.list_objects_v2(Bucket=seeded["audit_checkpoint_bucket"], Prefix="checkpoints/")["KeyCount"]
            == 0
        )


def _report(folder: Path, statuses: dict[str, str]) -> None:
    folder.mkdir(parents=True)
    checks = [{"id": name, "status": status} for name, status in statuses.items()]
    (folder / "report.json").write_text(json.dumps({"checks": checks}))


def test_verify_report_of_the_rehearsal_may_only_lack_the_offline_checks(tmp_path: Path) -> None:
    offline = {"pip_audit": "error", "outdated": "error", "aws_rds": "error", "policy_pack": "error"}
    _report(tmp_path / "20261203T000000Z", {"testinfra": "pass", **offline})
    rehearsal.check_verify_report(tmp_path)
    # The newest report counts: there, sslyze could not run (it can here) and lynis failed.
    _report(
        tmp_path / "20261203T010000Z", {"testinfra": "pass", "sslyze": "error", "lynis": "fail", **offline}
    )
    with pytest.raises(KitError, match=r"failed: lynis; could not run, but can in the rehearsal: sslyze"):
        rehearsal.check_verify_report(tmp_path)


def test_verify_report_missing_is_named(tmp_path: Path) -> None:
    with pytest.raises(KitError, match="no report under"):
        rehearsal.check_verify_report(tmp_path)
