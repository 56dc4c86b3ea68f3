"""Where make evidence reads from: the local collector container (podman faked: no container runs
here) and the AWS stack (CloudWatch Logs, Secrets Manager and KMS in moto), end to end through the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import boto3
import pytest
from kit import KitError
from kit.evidence import __main__ as cli
from kit.evidence import bundle, sources
from kit.verify.hosts import Completed

from .conftest import FIXTURES, PERIOD

SECRET = "collector-test-secret-value-0123456789"


class FakePodman:
    """The collector answers the grep with the recorded lines; the app host shows its secrets file."""

    commands: ClassVar[list[tuple[str, str]]] = []

    def __init__(self, names, env):
        self.names = list(names)

    def run(self, host, script, *, stdin=None):
        FakePodman.commands.append((host, script))
        if script.startswith("grep "):
            return Completed(host, 0, (FIXTURES / "collector-soc2kit-checks.log").read_text(), "")
        if "secrets.env" in script:
            return Completed(host, 0, f"DJANGO_SECRET_KEY={SECRET}\n--- app.env ---\n", "")
        raise AssertionError(script)


def test_local_results_come_from_the_collector_and_the_app_secrets_are_known(monkeypatch):
    monkeypatch.setattr(sources, "PodmanHosts", FakePodman)
    monkeypatch.setattr(sources.local, "container_running", lambda container: True)
    results, known, where = sources.local_sources("nginx", PERIOD)
    assert len(results) == 7
    collector, grep = FakePodman.commands[0]
    assert grep == 'grep -rhF --include=*.log* "soc2kit_check" /var/log/remote'
    assert known == {f"DJANGO_SECRET_KEY@{FakePodman.commands[1][0]}": SECRET}
    assert collector in where["Daily results"]


def test_a_stopped_local_stack_is_named_with_the_fix(monkeypatch):
    monkeypatch.setattr(sources.local, "container_running", lambda container: False)
    with pytest.raises(KitError, match="log collector is not running") as caught:
        sources.local_sources("apache", PERIOD)
    assert "make deploy ENV=local WEB=apache" in caught.value.fix


def test_aws_without_recorded_outputs_says_what_to_run(monkeypatch, tmp_path):
    monkeypatch.setattr(sources.aws, "outputs_file", lambda env: tmp_path / env / "stack-outputs.json")
    with pytest.raises(KitError, match="no recorded stack outputs for ENV=prod") as caught:
        sources.stack_outputs("prod")
    assert "make verify ENV=prod" in caught.value.fix


def test_make_evidence_on_aws_end_to_end(aws, monkeypatch, tmp_path, capsys):
    region = "eu-west-1"
    when = datetime.now(UTC) - timedelta(hours=1)
    since = when.date()  # the planted result's day: before 01:00 UTC it is yesterday, not today
    logs, sm, kms = (boto3.client(name, region_name=region) for name in ("logs", "secretsmanager", "kms"))
    groups = {"system": "/soc2kit/prod/system", "app": "/soc2kit/prod/app"}
    for group in groups.values():
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="soc2kit-prod-app-1")
    line = {"soc2kit_check": "aide", "status": "pass", "host": "soc2kit-prod-app-1", "time": when.isoformat()}
    logs.put_log_events(
        logGroupName=groups["system"],
        logStreamName="soc2kit-prod-app-1",
        logEvents=[{"timestamp": int(when.timestamp() * 1000), "message": json.dumps(line)}],
    )
    planted = "prod-db-password-0123456789abcdef"
    secret_arn = sm.create_secret(Name="soc2kit-prod/db", SecretString=planted)["ARN"]
    key_arn = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    outputs = {
        "region": region,
        "log_group_names": groups,
        "secret_arns": {"DATABASE_URL": secret_arn},
        "evidence_signing_key_arn": key_arn,
    }
    state = tmp_path / "deploy" / "prod" / "stack-outputs.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps(outputs))
    monkeypatch.setattr(sources.aws, "outputs_file", lambda env: state)
    monkeypatch.setattr(cli, "EVIDENCE_DIR", tmp_path / "evidence")
    verify_folder = tmp_path / "evidence" / "prod" / "20260101T000000Z"
    verify_folder.mkdir(parents=True)
    (verify_folder / "report.json").write_text(json.dumps({"started": when.isoformat(), "controls": []}))
    (verify_folder / "report.md").write_text(f"leaked by a bug: {planted}\n")

    assert cli.main(["build", "prod", since.isoformat()]) == 0
    made = next((tmp_path / "evidence" / "prod").glob("bundle-*"))
    summary = json.loads((made / "summary.json").read_text())
    ran = {row["id"]: row["status"] for row in summary["controls"] if row["runs"]}
    assert ran == {"daily:aide": "pass"}
    assert summary["aws_identity"].startswith("arn:aws:")
    assert planted not in "".join(p.read_text() for p in made.rglob("*") if p.is_file())
    assert json.loads((made / "manifest.sig.json").read_text())["key_arn"] == key_arn
    assert bundle.verify_bundle(made, kms_client=kms) == f"KMS key {key_arn}"
    assert "Check it: make evidence-verify BUNDLE=" in capsys.readouterr().err


def test_make_evidence_local_then_evidence_verify_accepts_and_then_rejects_one_byte(
    monkeypatch, tmp_path, capsys
):
    """The issue's done-when on ENV=local, with podman faked: build, verify, change one byte, verify."""
    from kit.evidence import signing

    monkeypatch.setattr(sources, "PodmanHosts", FakePodman)
    monkeypatch.setattr(sources.local, "container_running", lambda container: True)
    monkeypatch.setattr(cli, "EVIDENCE_DIR", tmp_path / "evidence")
    monkeypatch.setattr(signing, "LOCAL_KEY_FILE", tmp_path / "cache" / "signing-key.pem")
    monkeypatch.setattr(
        cli, "LocalSigner", lambda: signing.LocalSigner(tmp_path / "cache" / "signing-key.pem")
    )
    assert cli.main(["build", "local", "2026-11-01", "2026-11-04"]) == 0
    assert "NOT PRODUCTION: ENV=local" in capsys.readouterr().err
    made = next((tmp_path / "evidence" / "local").glob("bundle-2026-11-01_2026-11-04-*"))
    assert SECRET not in "".join(p.read_text() for p in made.rglob("*") if p.is_file())
    assert cli.main(["verify", str(made), "--public-key", str(made / "signing-public-key.pem")]) == 0
    data = bytearray((made / "assessment-results.json").read_bytes())
    data[-3] ^= 0x20
    (made / "assessment-results.json").write_bytes(bytes(data))
    assert cli.main(["verify", str(made)]) == 1
    assert "changed: assessment-results.json" in capsys.readouterr().err
