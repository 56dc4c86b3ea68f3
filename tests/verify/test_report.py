"""The evidence folder: Markdown + JSON + attachments, criteria mapping, and no secret in any file."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from kit.verify import report
from kit.verify.exceptions import ControlException
from kit.verify.provenance import Provenance
from kit.verify.result import ERROR, FAIL, INFO, NOT_APPLICABLE, PASS, Attachment, CheckResult, ControlRow
from kit.verify.secrets import Scrubber, SecretLeakError

# Throw-away secrets in the shapes the hosts hold them (file mode's secrets.env), generated per run.
SECRET_KEY = secrets.token_urlsafe(50)
KEK = base64.b64encode(secrets.token_bytes(32)).decode()
KEKS = json.dumps({"active": "k1", "keys": {"k1": KEK}})
BLIND = base64.b64encode(secrets.token_bytes(32)).decode()
DB_PASSWORD = secrets.token_urlsafe(18)
DATABASE_URL = f"postgres://app:{DB_PASSWORD}@db.soc2kit.test:5432/app?sslmode=verify-full"
PRIVATE_KEY = (
    ec.generate_private_key(ec.SECP256R1())
    .private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    .decode()
    .strip()
)
PRIVATE_KEY_BODY = PRIVATE_KEY.splitlines()[1]  # a line of the key material itself
SECRETS = {
    "DJANGO_SECRET_KEY@app": SECRET_KEY,
    "FIELD_ENCRYPTION_LOCAL_KEKS@app": KEKS,
    "FIELD_ENCRYPTION_BLIND_INDEX_KEY@app": BLIND,
    "DATABASE_URL@app": DATABASE_URL,
}
RAW_VALUES = [SECRET_KEY, KEK, BLIND, DB_PASSWORD, DATABASE_URL, PRIVATE_KEY_BODY]


def _results() -> list[CheckResult]:
    leaky_output = (
        f"Environment: DJANGO_SECRET_KEY={SECRET_KEY}\nkeys: {KEKS}\nonly the KEK: {KEK}\n"
        f"db: {DATABASE_URL}\nerror: password authentication failed ({DB_PASSWORD})\n"
        f"{PRIVATE_KEY}\nblind={BLIND}\n"
    )
    return [
        CheckResult(
            "sslyze",
            "TLS: Mozilla intermediate profile (sslyze)",
            ("CC6.7",),
            PASS,
            "compliant",
            {"protocols_accepted": ["TLSv1.2", "TLSv1.3"]},
            [Attachment("sslyze.txt", "OK - Compliant.")],
            2.0,
        ),
        CheckResult(
            "check_deploy",
            "Django `check --deploy`",
            ("CC6.1", "CC8.1"),
            FAIL,
            f"could not start: DATABASE_URL={DATABASE_URL}",
            {"app": {"error": f"key {SECRET_KEY}"}},
            [Attachment("app-check-deploy.txt", leaky_output)],
            1.0,
        ),
        CheckResult(
            "outdated", "Dependencies with newer releases", ("CC7.1",), INFO, "1 of 2 newer", {}, [], 0.5
        ),
    ]


WHO = Provenance("alice", "build-1", "none (ENV=local uses no AWS account)", "abc1234", [])


def _info(env="local", exceptions=(), provenance=WHO) -> report.RunInfo:
    return report.RunInfo(
        env,
        "nginx",
        datetime(2026, 11, 29, 17, 0, 5, tzinfo=UTC),
        datetime(2026, 11, 29, 17, 9, 45, tzinfo=UTC),
        "https://app.soc2kit.test:8443/",
        provenance,
        "scripts/kit/verify/thresholds.yml",
        exceptions,
        {},
    )


def _all_text(folder) -> str:
    return "\n".join(path.read_text() for path in folder.rglob("*") if path.is_file())


def test_folder_layout_and_contents(tmp_path):
    folder = report.write_report(tmp_path, _info(), _results(), Scrubber(SECRETS))
    assert folder == tmp_path / "local" / "20261129T170005Z"
    assert sorted(p.name for p in (folder / "attachments").iterdir()) == [
        "check_deploy--app-check-deploy.txt",
        "sslyze--sslyze.txt",
    ]
    data = json.loads((folder / "report.json").read_text())
    assert data["passed"] is False
    assert [c["status"] for c in data["checks"]] == ["pass", "fail", "info"]
    assert data["checks"][0]["attachments"] == ["attachments/sslyze--sslyze.txt"]
    assert set(data["criteria"]) == {"CC6.7", "CC6.1", "CC8.1", "CC7.1"}
    markdown = (folder / "report.md").read_text()
    assert "| CC6.7 | Transmission of information" in markdown
    assert "[sslyze--sslyze.txt](attachments/sslyze--sslyze.txt)" in markdown
    assert "1 CONTROL(S) FAILED" in markdown


def test_no_known_secret_value_in_any_written_file(tmp_path):
    folder = report.write_report(tmp_path, _info(), _results(), Scrubber(SECRETS))
    text = _all_text(folder)
    for value in RAW_VALUES:
        assert value not in text
    assert "[REDACTED:DJANGO_SECRET_KEY@app]" in text
    assert "[REDACTED:FIELD_ENCRYPTION_LOCAL_KEKS@app]" in text  # the KEK inside the JSON, alone
    assert "[REDACTED:DATABASE_URL@app]" in text  # the password alone, in the error message
    assert "[REDACTED:private key]" in text


def test_the_scan_fails_loudly_and_keeps_nothing_when_scrubbing_is_bypassed(tmp_path, monkeypatch):
    monkeypatch.setattr(Scrubber, "scrub", lambda self, text: text)
    with pytest.raises(SecretLeakError, match="DJANGO_SECRET_KEY@app"):
        report.write_report(tmp_path, _info(), _results(), Scrubber(SECRETS))
    assert not list((tmp_path / "local").iterdir())


def test_leak_message_names_the_secret_never_its_value():
    scrubber = Scrubber({"DB": DB_PASSWORD})
    with pytest.raises(SecretLeakError) as caught:
        scrubber.assert_clean("report.md", f"oops {DB_PASSWORD}")
    assert DB_PASSWORD not in str(caught.value)
    assert "DB" in str(caught.value)


def test_a_database_secrets_descriptive_members_are_not_redacted_but_its_password_is():
    credentials = json.dumps(
        {
            "engine": "postgres",
            "host": "db.rehearsal.test",
            "port": 5433,
            "dbname": "soc2kit",
            "username": "soc2kit_app",
            "password": DB_PASSWORD,
        }
    )
    scrubber = Scrubber({"DATABASE_CREDENTIALS@app": credentials})
    text = "checked by testinfra's postgresql row on db.rehearsal.test; it refused "
    assert scrubber.scrub(text + DB_PASSWORD) == text + "[REDACTED:DATABASE_CREDENTIALS@app]"


def test_short_values_are_not_treated_as_secrets():
    scrubber = Scrubber({"EMPTY": "", "TINY": "abc"})
    assert len(scrubber) == 0
    assert scrubber.scrub("abc") == "abc"


def test_terminal_table_lists_every_control_and_the_totals():
    table = report.terminal_table(report.all_rows(_info(), _results()))
    lines = table.splitlines()
    assert lines[0].split()[:2] == ["STATUS", "CONTROL"]
    assert lines[1].startswith("PASS")
    assert lines[2].startswith("FAIL")
    assert lines[-1] == ("3 controls: 1 passed, 1 failed, 0 could not run, 0 not applicable, 1 informational")


def test_two_runs_in_the_same_second_do_not_overwrite(tmp_path):
    report.write_report(tmp_path, _info(), _results(), Scrubber({}))
    with pytest.raises(FileExistsError):
        report.write_report(tmp_path, _info(), _results(), Scrubber({}))


def test_openssl_key_dumps_are_redacted_in_text_and_in_json():
    from .conftest import fixture_text

    dump = fixture_text("openssl-ec-key-dump.txt")
    private_hex = dump.split("priv:\n", 1)[1].split("pub:", 1)[0].split()
    scrubber = Scrubber({})
    assert scrubber.leaks(dump) == ["a private key"]
    for text in (f"E   AssertionError: {dump}", json.dumps({"stdout": dump})):
        scrubbed = scrubber.scrub(text)
        assert not any(chunk in scrubbed for chunk in private_hex)
        assert scrubber.leaks(scrubbed) == []
    json.loads(scrubber.scrub(json.dumps({"stdout": dump})))  # still valid JSON


def test_report_json_stays_valid_with_a_key_dump_in_figures(tmp_path):
    from .conftest import fixture_text

    result = CheckResult(
        "testinfra",
        "testinfra",
        ("CC6.1",),
        FAIL,
        "failed",
        {"output": fixture_text("openssl-ec-key-dump.txt")},
    )
    folder = report.write_report(tmp_path, _info(), [result], Scrubber({}))
    data = json.loads((folder / "report.json").read_text())
    assert "[REDACTED:private key]" in data["checks"][0]["figures"]["output"]


def test_who_when_and_which_code_are_in_both_reports(tmp_path):
    who = Provenance("alice", "build-1", "arn:aws:iam::123456789012:user/alice", "f" * 40, ["Makefile"])
    folder = report.write_report(tmp_path, _info("prod", provenance=who), _results(), Scrubber({}))
    markdown = (folder / "report.md").read_text()
    assert "Run by: alice on build-1; AWS identity: arn:aws:iam::123456789012:user/alice" in markdown
    assert "Started: 2026-11-29 17:00:05 UTC; ended: 2026-11-29 17:09:45 UTC" in markdown
    assert f"Kit commit: `{'f' * 40}`; checkout: LOCAL CHANGES in 1 file(s): Makefile" in markdown
    data = json.loads((folder / "report.json").read_text())
    assert data["operator"] == "alice"
    assert data["machine"] == "build-1"
    assert data["aws_identity"].endswith(":user/alice")
    assert data["ended"] == "2026-11-29T17:09:45+00:00"
    assert data["local_changes"] == ["Makefile"]
    assert data["not_production"] is None
    assert "NOT PRODUCTION" not in markdown


@pytest.mark.parametrize("env", ["local", "rehearsal"])
def test_local_and_rehearsal_reports_carry_the_not_production_banner(tmp_path, env):
    folder = report.write_report(tmp_path, _info(env), _results(), Scrubber({}))
    assert f"> **NOT PRODUCTION: ENV={env}" in (folder / "report.md").read_text()
    assert json.loads((folder / "report.json").read_text())["not_production"].startswith("NOT PRODUCTION")


def test_could_not_run_and_not_applicable_rows_are_apart_from_failures(tmp_path):
    results = [
        CheckResult("sslyze", "TLS", ("CC6.7",), PASS, "compliant"),
        CheckResult("pip_audit", "Deps", ("CC7.1",), ERROR, "could not run: no network"),
    ]
    na = [ControlRow("aws_rds", "RDS", ("A1.2",), "x", NOT_APPLICABLE, "ENV=local has no AWS account")]
    folder = report.write_report(tmp_path, _info(), results, Scrubber({}), na)
    markdown = (folder / "report.md").read_text()
    assert "NO FAILURE, BUT 1 CONTROL(S) COULD NOT RUN" in markdown
    assert "## Failed (0)" in markdown
    assert "## Could not run (1)\n\n- Deps: could not run: no network" in markdown
    assert "## Not applicable (1)\n\n- RDS: ENV=local has no AWS account" in markdown
    data = json.loads((folder / "report.json").read_text())
    assert data["exit_code"] == 3
    assert [c["status"] for c in data["controls"]] == [PASS, ERROR, NOT_APPLICABLE]


def test_every_exception_is_listed_and_an_expired_one_is_a_failure(tmp_path):
    from datetime import date

    items = (
        ControlException("testssl", "cipher_order", "clients choose", "sec lead", date(2027, 1, 1)),
        ControlException("testssl", "old_finding", "was accepted", "ops lead", date(2026, 11, 1)),
    )
    results = [CheckResult("testssl", "TLS findings", ("CC6.7",), PASS, "no finding")]
    folder = report.write_report(tmp_path, _info(exceptions=items), results, Scrubber({}))
    markdown = (folder / "report.md").read_text()
    assert "| testssl | cipher_order | clients choose | sec lead | 2027-01-01 | in force |" in markdown
    assert (
        "| testssl | old_finding | was accepted | ops lead | 2026-11-01 | EXPIRED (a failure) |" in markdown
    )
    data = json.loads((folder / "report.json").read_text())
    assert data["exit_code"] == 1
    expired = [c for c in data["controls"] if c["status"] == FAIL]
    assert expired[0]["id"] == "exception:testssl:old_finding"
    assert "expired on 2026-11-01" in expired[0]["summary"]


def test_criteria_section_gives_the_reason_of_each_mapping(tmp_path):
    results = [CheckResult("sslyze", "TLS: Mozilla intermediate profile (sslyze)", ("CC6.7",), PASS, "ok")]
    folder = report.write_report(tmp_path, _info(), results, Scrubber({}))
    markdown = (folder / "report.md").read_text()
    assert "TLS: Mozilla intermediate profile (sslyze) (PASS): only TLS 1.2/1.3" in markdown


def test_report_lists_cis_ids_with_the_result_of_the_testinfra_row_that_tests_them():
    rows = [
        ControlRow("testinfra:hardening", "Host hardening", ("CC6.1",), "testinfra", FAIL, "1 test failed")
    ]
    by_id = {item["id"]: item for item in report.cis_results(rows)}
    assert by_id["5.3.3.4.1"]["state"] == "implemented and tested"
    assert by_id["5.3.3.4.1"]["result"] == [f"testinfra:hardening {report.STATUS_LABEL[FAIL]}"]
    assert by_id["4.2.1"]["state"] == "excepted"
    assert by_id["4.2.1"]["result"] == []
    assert "nftables" in by_id["4.2.1"]["exception"]
    # A module that did not run in this verify claims nothing.
    assert by_id["5.3.3.4.1"]["tests"] == ["test_hardening.py::test_pam_unix_refuses_empty_password"]
    not_run = {item["id"]: item for item in report.cis_results([])}
    assert not_run["5.3.3.4.1"]["result"] == ["testinfra:hardening not run"]
