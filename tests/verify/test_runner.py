"""The run: progress lines, a failing or crashing check never stops the others and never passes,
the exit code, the registry's criteria, and the CLI's early errors."""

from __future__ import annotations

import io
import json

import pytest
from kit import KitError
from kit.verify import __main__ as cli
from kit.verify import registry, report, runner
from kit.verify.hosts import parse_ansible_json
from kit.verify.result import ERROR, FAIL, PASS, Attachment, CheckError, Outcome
from kit.verify.secrets import Scrubber


def _check(check_id, action):
    return registry.Check(check_id, f"check {check_id}", {"CC6.1": "a test mapping"}, action)


def _passing(ctx):
    return Outcome(PASS, "fine"), [Attachment("out.txt", "raw")]


def _failing(ctx):
    return Outcome(FAIL, "bad"), []


def _unrunnable(ctx):
    raise CheckError("tool missing")


def _crashing(ctx):
    raise ZeroDivisionError("bug")


def test_all_passing_exits_zero(make_context, tmp_path):
    out = io.StringIO()
    code, folder = runner.run_all(
        make_context(), [_check("a", _passing)], Scrubber({}), evidence_dir=tmp_path, out=out
    )
    assert code == 0
    assert "==> [1/1] check a ..." in out.getvalue()
    assert "PASS in" in out.getvalue()
    assert json.loads((folder / "report.json").read_text())["passed"] is True


def test_could_not_run_alone_exits_3_not_1(make_context, tmp_path):
    code, folder = runner.run_all(
        make_context(),
        [_check("a", _passing), _check("b", _unrunnable)],
        Scrubber({}),
        evidence_dir=tmp_path,
        out=io.StringIO(),
    )
    assert code == 3
    assert json.loads((folder / "report.json").read_text())["passed"] is False


def test_not_applicable_checks_get_a_row_with_the_reason(make_context, tmp_path):
    out = io.StringIO()
    code, folder = runner.run_all(
        make_context(), [_check("a", _passing)], Scrubber({}), evidence_dir=tmp_path, out=out
    )
    assert code == 0
    rows = {c["id"]: c for c in json.loads((folder / "report.json").read_text())["controls"]}
    assert rows["aws_rds"]["status"] == "not_applicable"
    assert rows["aws_rds"]["summary"].startswith("ENV=local has no AWS account")
    assert rows["policy_pack"]["summary"] == "ENV=local has no Pulumi stack"
    assert "N/A" in out.getvalue()


def test_local_run_prints_the_not_production_banner(make_context, tmp_path):
    out = io.StringIO()
    runner.run_all(make_context(), [_check("a", _passing)], Scrubber({}), evidence_dir=tmp_path, out=out)
    assert out.getvalue().startswith("==> NOT PRODUCTION: ENV=local")


def test_failures_errors_and_crashes_all_run_and_fail_the_run(make_context, tmp_path):
    checks = [_check("a", _failing), _check("b", _unrunnable), _check("c", _crashing), _check("d", _passing)]
    out = io.StringIO()
    code, folder = runner.run_all(make_context(), checks, Scrubber({}), evidence_dir=tmp_path, out=out)
    assert code == 1
    statuses = [c["status"] for c in json.loads((folder / "report.json").read_text())["checks"]]
    assert statuses == [FAIL, ERROR, ERROR, PASS]
    assert "could not run: tool missing" in out.getvalue()
    assert (folder / "attachments" / "c--traceback.txt").is_file()


def test_progress_lines_are_scrubbed(make_context, tmp_path):
    def leaky(ctx):
        return Outcome(FAIL, "DATABASE_URL=postgres://u:very-secret-pw@db/app"), []

    out = io.StringIO()
    runner.run_all(
        make_context(),
        [_check("a", leaky)],
        Scrubber({"DATABASE_URL": "postgres://u:very-secret-pw@db/app"}),
        evidence_dir=tmp_path,
        out=out,
    )
    assert "very-secret-pw" not in out.getvalue()


def test_every_mapping_names_a_known_criterion_with_its_reason():
    from kit.verify.controls import SUITE_CONTROLS

    for item in (*registry.CHECKS, *SUITE_CONTROLS):
        for criterion, reason in item.mapping.items():
            assert criterion in report.CRITERIA, (item, criterion)
            assert len(reason.split()) >= 4, (item, criterion)
    covered = {c for item in (*registry.CHECKS, *SUITE_CONTROLS) for c in item.criteria}
    assert {"CC6.1", "CC6.6", "CC6.7", "CC6.8", "CC7.1", "CC7.2", "CC8.1", "A1.2"} <= covered
    ids = [check.check_id for check in registry.CHECKS]
    assert len(ids) == len(set(ids))


def test_stretched_mappings_are_gone():
    """The header scan is no malware control (CC6.8); a configuration check is no change approval (CC8.1)."""
    by_id = {check.check_id: check for check in registry.CHECKS}
    assert "CC6.8" not in by_id["observatory"].criteria
    assert "CC8.1" not in by_id["check_deploy"].criteria
    assert "CC8.1" not in by_id["audit_chain"].criteria
    assert "C1.1" not in by_id["data_keys"].criteria


def test_every_testinfra_module_is_a_mapped_control():
    from kit import MOLECULE_DIR
    from kit.verify.controls import suite_control

    modules = [p.stem.removeprefix("test_") for p in (MOLECULE_DIR / "tests").glob("test_*.py")]
    assert modules
    assert [m for m in modules if suite_control(m) is None] == []


def test_every_exception_names_a_check():
    from kit.verify import exceptions

    known = {check.check_id for check in registry.CHECKS}
    assert exceptions.load(exceptions.DEFAULT_FILE, known)


def test_local_and_aws_check_sets():
    local_ids = {c.check_id for c in registry.checks_for("local")}
    aws_ids = {c.check_id for c in registry.checks_for("prod")}
    assert "aws_rds" not in local_ids
    assert {"aws_rds", "aws_kms", "aws_secrets", "policy_pack", "testinfra", "lynis"} <= aws_ids
    assert [c.check_id for c in registry.checks_for("local", {"lynis", "sslyze"})] == ["sslyze", "lynis"]
    with pytest.raises(KitError, match="nope"):
        registry.checks_for("local", {"nope"})


def test_cli_rejects_unknown_env_and_check_before_anything_runs(capsys):
    assert cli.main(["qa"]) == 2
    assert "unknown ENV='qa'" in capsys.readouterr().err
    assert cli.main(["local", "nginx", "--checks", "sslyze,typo"]) == 2
    assert "typo" in capsys.readouterr().err


def test_published_port_is_read_from_the_scenario():
    from kit import local

    scenario = local.scenario_for("nginx")
    container = scenario.container("app_hosts")
    assert cli.published_port(scenario, container, 443) == 8443
    with pytest.raises(KitError, match="publishes no port for 22"):
        cli.published_port(scenario, container, 22)


ANSIBLE_JSON = """[WARNING]: something
{"plays": [{"tasks": [{"hosts": {
  "soc2kit-dev-app-1": {"rc": 0, "stdout": "ok", "stderr": "", "changed": true},
  "soc2kit-dev-app-2": {"rc": 3, "stdout": "", "stderr": "boom", "failed": true}}}]}]}

TASKS RECAP ***
ansible.builtin.shell --- 4.32s
"""


def test_ansible_json_results_per_host():
    results = parse_ansible_json(ANSIBLE_JSON)
    assert results["soc2kit-dev-app-1"].stdout == "ok"
    assert results["soc2kit-dev-app-2"].returncode == 3


def test_unreachable_host_is_an_error():
    text = '{"plays": [{"tasks": [{"hosts": {"h1": {"unreachable": true, "msg": "ssh timeout"}}}]}]}'
    with pytest.raises(CheckError, match="h1 is unreachable: ssh timeout"):
        parse_ansible_json(text)
    with pytest.raises(CheckError, match="no JSON"):
        parse_ansible_json("ERROR! the inventory is empty")


def test_an_exception_naming_an_unknown_check_stops_the_run_before_any_check(make_context, tmp_path):
    import dataclasses
    from datetime import date

    from kit.verify.exceptions import ControlException

    ran = []

    def recording(ctx):
        ran.append(1)
        return Outcome(PASS, "fine"), []

    ctx = make_context()
    typo = ControlException("testsl", "cipher_order", "clients choose", "sec lead", date(2027, 1, 1))
    ctx.thresholds = dataclasses.replace(ctx.thresholds, exceptions=(typo,))
    with pytest.raises(KitError, match="unknown control 'testsl'"):
        runner.run_all(ctx, [_check("a", recording)], Scrubber({}), evidence_dir=tmp_path, out=io.StringIO())
    assert ran == []


def test_rehearsal_reports_a_check_it_cannot_run_as_could_not_run_without_running_it(make_context):
    ran = []

    def check_run(ctx):
        ran.append(ctx.env)
        return Outcome(PASS, "ran"), []

    check = registry.Check(
        "probe", "probe", {"CC7.1": "why"}, check_run, not_in_rehearsal="no outside network"
    )
    result = runner.run_check(check, make_context(env="rehearsal"))
    assert result.status == ERROR
    assert "no outside network" in result.summary
    assert ran == []
    assert runner.run_check(check, make_context(env="prod")).status == PASS
    assert ran == ["prod"]


def test_rehearsal_cannot_run_exactly_the_checks_that_need_the_outside_or_an_aws_api():
    offline = {check.check_id for check in registry.CHECKS if check.not_in_rehearsal}
    assert offline == {"pip_audit", "outdated", "aws_rds", "policy_pack"}
    assert {check.check_id for check in registry.checks_for("rehearsal")} >= offline | {
        "aws_kms",
        "aws_secrets",
    }
