"""The bundle: what it holds, its signature (local Ed25519 and KMS through moto), tamper detection for an
added, removed or changed file, OSCAL validation, CC1..CC9, and no secret in any file."""

from __future__ import annotations

import json
import secrets

import boto3
import pytest
from kit import KitError
from kit.evidence import __main__ as cli
from kit.evidence import bundle, criteria, oscal
from kit.evidence.signing import KmsSigner, LocalSigner
from kit.verify.secrets import Scrubber, SecretLeakError
from moto import mock_aws

from .conftest import NOW, PERIOD


@pytest.fixture
def signer(tmp_path):
    return LocalSigner(tmp_path / "keys" / "signing-key.pem")


@pytest.fixture
def made(tmp_path, gathered, signer):
    return bundle.assemble(gathered, tmp_path / "evidence", Scrubber({}), signer, NOW)


def test_the_bundle_holds_the_report_the_timeline_oscal_and_a_signed_manifest(made, tmp_path):
    assert made == tmp_path / "evidence" / "local" / "bundle-2026-11-01_2026-11-04-20261105T080000Z"
    names = {p.relative_to(made).as_posix() for p in made.rglob("*") if p.is_file()}
    assert {
        "README.md",
        "summary.json",
        "assessment-results.json",
        "timeline.html",
        "daily-results.jsonl",
        "signing-public-key.pem",
        "manifest.json",
        "manifest.sig.json",
        "manual/CC1.md",
        "manual/CC9.md",
    } <= names
    manifest = json.loads((made / "manifest.json").read_text())
    assert set(manifest["files"]) == names - {"manifest.json", "manifest.sig.json"}
    assert "signing-key.pem" not in names  # the private key never leaves .cache/


def test_per_control_figures_in_the_summary(made):
    rows = {row["id"]: row for row in json.loads((made / "summary.json").read_text())["controls"]}
    modes = rows["daily:file_modes"]
    assert (modes["population"], modes["runs"], modes["failures"]) == (4, 3, 1)
    assert modes["time_to_fix_hours"] == [21.4]
    assert modes["criteria"] == ["CC6.1"]
    assert rows["daily:sshd"]["unfixed_at_end"] == 1
    readme = (made / "README.md").read_text()
    assert "| daily:file_modes | CC6.1 | FAIL | 4 | 3 | 1 | 21.4 | 0 |" in readme
    assert "> **NOT PRODUCTION: ENV=local" in readme
    assert "Assembled by: alice on build-1" in readme


def test_common_criteria_cc1_to_cc9_automated_or_manual_with_a_template(made):
    cc = {row["criterion"]: row for row in json.loads((made / "summary.json").read_text())["common_criteria"]}
    assert list(cc) == [f"CC{n}" for n in range(1, 10)]
    assert cc["CC1"]["coverage"] == "manual"
    assert cc["CC6"]["coverage"] == "partly automated"
    assert cc["CC6"]["automated"] == {"CC6.1": ["daily:file_modes", "daily:sshd"]}
    assert "AWS's own SOC 2 report" in cc["CC6"]["not_applicable"]
    assert cc["CC4"]["coverage"] == "partly automated"
    template = (made / "manual" / "CC3.md").read_text()
    assert "risk register" in template
    assert "- Supplied by (name, role):" in template


def test_assessment_results_are_valid_oscal_1_1(made):
    document = oscal.validate(made / "assessment-results.json")
    assert json.loads((made / "assessment-results.json").read_text())["assessment-results"]["metadata"][
        "oscal-version"
    ].startswith("1.1.")
    findings = {f.target.target_id: f.target.status.state.value for f in document.results[0].findings}
    assert findings["daily-file_modes"] == "not-satisfied"
    assert findings["daily-sshd"] == "not-satisfied"
    data = json.loads((made / "assessment-results.json").read_text())
    data["assessment-results"]["results"][0]["findings"][0]["target"]["status"]["state"] = "fine"
    broken = made.parent / "broken.json"
    broken.write_text(json.dumps(data))
    with pytest.raises(KitError, match=r"not valid OSCAL 1\.1\.3 assessment-results"):
        oscal.validate(broken)


def test_an_untouched_bundle_verifies(made, capsys):
    assert bundle.verify_bundle(made).startswith("Ed25519 key sha256:")
    assert cli.main(["verify", str(made)]) == 0
    assert "Evidence bundle OK" in capsys.readouterr().err


def test_an_added_file_is_refused(made, capsys):
    (made / "manual" / "extra.md").write_text("planted")
    with pytest.raises(KitError, match=r"added: manual/extra\.md"):
        bundle.verify_bundle(made)
    assert cli.main(["verify", str(made)]) == 1
    assert "EVIDENCE BUNDLE REJECTED" in capsys.readouterr().err


def test_a_removed_file_is_refused(made):
    (made / "timeline.html").unlink()
    with pytest.raises(KitError, match=r"removed: timeline\.html"):
        bundle.verify_bundle(made)
    assert cli.main(["verify", str(made)]) == 1


def test_one_changed_byte_is_refused(made):
    path = made / "summary.json"
    data = bytearray(path.read_bytes())
    data[10] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(KitError, match=r"changed: summary\.json"):
        bundle.verify_bundle(made)
    assert cli.main(["verify", str(made)]) == 1


def test_a_rewritten_manifest_breaks_the_signature(made):
    (made / "summary.json").write_text("{}")
    manifest = json.loads((made / "manifest.json").read_text())
    manifest["files"]["summary.json"] = bundle.file_hashes(made)["summary.json"]
    (made / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    with pytest.raises(KitError, match="signature does not verify"):
        bundle.verify_bundle(made)


def test_a_bundle_re_signed_with_another_key_is_refused_when_the_key_is_pinned(made, tmp_path, signer):
    pinned = tmp_path / "signer.pem"
    pinned.write_text(signer.public_key_pem())
    assert bundle.verify_bundle(made, expected_public_key=pinned)
    other = LocalSigner(tmp_path / "other" / "key.pem")
    manifest_bytes = (made / "manifest.json").read_bytes()
    (made / "manifest.sig.json").write_text(json.dumps(other.sign(manifest_bytes)))
    # The attacker also swaps the public key in the bundle.
    (made / "signing-public-key.pem").write_text(other.public_key_pem())
    with pytest.raises(KitError, match="signed by another key"):
        bundle.verify_bundle(made, expected_public_key=pinned)


def test_the_local_key_is_kept_private_and_reused(tmp_path):
    key_file = tmp_path / "k" / "signing-key.pem"
    first = LocalSigner(key_file)
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert LocalSigner(key_file).public_key_pem() == first.public_key_pem()


@mock_aws
def test_kms_signed_bundle_verifies_and_refuses_a_change(tmp_path, gathered):
    kms = boto3.client("kms", region_name="eu-west-1")
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    gathered.env = "prod"
    made = bundle.assemble(gathered, tmp_path, Scrubber({}), KmsSigner(kms, key), NOW)
    signature = json.loads((made / "manifest.sig.json").read_text())
    assert signature["algorithm"] == "ECDSA_SHA_256"
    assert signature["key_arn"] == key
    assert not (made / "signing-public-key.pem").exists()
    assert "NOT PRODUCTION" not in (made / "README.md").read_text()
    assert bundle.verify_bundle(made, kms_client=kms) == f"KMS key {key}"
    (made / "README.md").write_text("edited")
    with pytest.raises(KitError, match=r"changed: README\.md"):
        bundle.verify_bundle(made, kms_client=kms)
    (made / "manifest.json").write_text((made / "manifest.json").read_text().replace("sha256", "sha-256", 1))
    with pytest.raises(KitError, match="KMS signature does not verify"):
        bundle.verify_bundle(made, kms_client=kms)


def test_kms_signing_needs_the_stack_output():
    with pytest.raises(KitError, match="evidence_signing_key_arn"):
        KmsSigner(object(), "")


def _verify_report(folder, secret_value):
    folder.mkdir(parents=True)
    (folder / "attachments").mkdir()
    (folder / "report.json").write_text(
        json.dumps(
            {
                "started": "2026-11-02T10:00:00+00:00",
                "controls": [
                    {"id": "sslyze", "status": "pass"},
                    {"id": "testssl", "status": "pass"},
                    {"id": "testinfra:hardening", "status": "fail"},
                ],
            }
        )
    )
    (folder / "report.md").write_text("# report\n")
    (folder / "attachments" / "app-check-deploy.txt").write_text(f"DJANGO_SECRET_KEY={secret_value}\n")


def test_verify_reports_of_the_period_are_included_and_counted(tmp_path, gathered, signer):
    _verify_report(tmp_path / "local" / "20261102T100000Z", "x" * 20)
    _verify_report(tmp_path / "local" / "20261020T100000Z", "x" * 20)
    (tmp_path / "local" / "20261020T100000Z" / "report.json").write_text(
        '{"started": "2026-10-20T10:00:00+00:00"}'
    )
    gathered.verify_reports = bundle.verify_reports_in(tmp_path / "local", gathered.period)
    assert [p.name for p in gathered.verify_reports] == ["20261102T100000Z"]
    made = bundle.assemble(gathered, tmp_path / "out", Scrubber({}), signer, NOW)
    assert (made / "verify-reports" / "20261102T100000Z" / "report.md").is_file()
    rows = {row["id"]: row for row in json.loads((made / "summary.json").read_text())["controls"]}
    assert rows["testinfra:hardening"]["status"] == "fail"
    assert rows["sslyze"]["criteria"] == ["CC6.7"]
    # Each control lists its exceptions (exceptions.yml) with owner and expiry.
    assert [e.split(" (")[0] for e in rows["testssl"]["exceptions"]] == ["cipher_order", "cert_revocation"]
    assert (
        "owner soc2kit maintainers (security review), expires 2027-06-30" in rows["testssl"]["exceptions"][0]
    )
    assert rows["sslyze"]["exceptions"] == []


def test_a_planted_secret_never_reaches_the_bundle(tmp_path, gathered, signer):
    planted = secrets.token_urlsafe(32)
    _verify_report(tmp_path / "local" / "20261102T100000Z", planted)
    gathered.verify_reports = bundle.verify_reports_in(tmp_path / "local", gathered.period)
    made = bundle.assemble(
        gathered, tmp_path / "out", Scrubber({"DJANGO_SECRET_KEY@app": planted}), signer, NOW
    )
    text = "\n".join(p.read_text() for p in made.rglob("*") if p.is_file())
    assert planted not in text
    assert "[REDACTED:DJANGO_SECRET_KEY@app]" in text


def test_the_read_back_scan_removes_a_bundle_with_a_secret(tmp_path, gathered, signer, monkeypatch):
    planted = secrets.token_urlsafe(32)
    _verify_report(tmp_path / "local" / "20261102T100000Z", planted)
    gathered.verify_reports = bundle.verify_reports_in(tmp_path / "local", gathered.period)
    monkeypatch.setattr(Scrubber, "scrub", lambda self, text: text)
    with pytest.raises(SecretLeakError, match="DJANGO_SECRET_KEY@app"):
        bundle.assemble(gathered, tmp_path / "out", Scrubber({"DJANGO_SECRET_KEY@app": planted}), signer, NOW)
    assert list((tmp_path / "out" / "local").iterdir()) == []


def test_a_period_without_results_claims_nothing(tmp_path, gathered, signer):
    gathered.daily = []
    made = bundle.assemble(gathered, tmp_path, Scrubber({}), signer, NOW)
    assert "No control result in this period" in (made / "README.md").read_text()
    cc = json.loads((made / "summary.json").read_text())["common_criteria"]
    assert {row["coverage"] for row in cc} == {"manual"}
    assert "No daily check result arrived" in (made / "timeline.html").read_text()
    rows = json.loads((made / "summary.json").read_text())["controls"]
    assert {row["id"] for row in rows} == {f"daily:{c}" for c in criteria.DAILY_CONTROLS}
    assert {row["status"] for row in rows} == {"no result"}
    findings = oscal.validate(made / "assessment-results.json").results[0].findings
    assert {f.target.status.state.value for f in findings} == {"not-satisfied"}


def test_an_expected_daily_control_without_result_is_listed_not_dropped(made):
    rows = {row["id"]: row for row in json.loads((made / "summary.json").read_text())["controls"]}
    assert rows["daily:aide"]["status"] == "no result"
    assert rows["daily:aide"]["runs"] == 0
    assert "| daily:aide | CC7.2 | NO RESULT | - | 0 | 0 |" in (made / "README.md").read_text()


def test_the_deploy_history_lists_commits_and_converges_and_says_what_is_missing(tmp_path, gathered, signer):
    from datetime import UTC, datetime

    from kit.evidence import history

    gathered.commits = [
        history.Commit("b" * 40, datetime(2026, 11, 2, 9, 0, tzinfo=UTC), "bob", "nginx: HSTS")
    ]
    made = bundle.assemble(gathered, tmp_path, Scrubber({}), signer, NOW)
    readme = (made / "README.md").read_text()
    assert f"- 2026-11-02 09:00 `{'b' * 12}` bob: nginx: HSTS" in readme
    assert "Converges run from this machine (.cache/logs) in the period (0):\n\n- none" in readme
    assert history.NOT_GATHERED in readme


def test_converge_logs_of_the_period_are_found_by_name(tmp_path):
    from kit.evidence import history

    for name in ("20261102T101500Z-default-converge.log", "20261020T101500Z-default-converge.log", "x.log"):
        (tmp_path / name).write_text("")
    (found,) = history.converges(PERIOD, tmp_path)
    assert (found.scenario, found.time.day, found.log) == (
        "default",
        2,
        "20261102T101500Z-default-converge.log",
    )


def test_commits_of_the_period_come_from_git_log(tmp_path):
    import os
    import subprocess

    from kit.evidence import history

    def git(*args, when=None):
        env = {**os.environ, "GIT_AUTHOR_NAME": "bob", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "bob"}
        env["GIT_COMMITTER_EMAIL"] = "b@x"
        if when:
            env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = when
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, env=env, capture_output=True)

    git("init", "-q")
    git("commit", "-q", "--allow-empty", "-m", "before", when="2026-10-20T10:00:00+00:00")
    git("commit", "-q", "--allow-empty", "-m", "inside", when="2026-11-03T10:00:00+00:00")
    git("commit", "-q", "--allow-empty", "-m", "after", when="2026-11-05T00:00:01+00:00")
    assert [c.subject for c in history.commits(PERIOD, tmp_path)] == ["inside"]
