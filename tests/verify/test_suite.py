"""The testinfra suite's verdict from its JUnit XML."""

from __future__ import annotations

import ast
import shlex
import sys
from pathlib import Path

import pytest
from kit.verify import suite
from kit.verify.hosts import Completed
from kit.verify.result import ERROR, FAIL, NOT_APPLICABLE, PASS

GREEN = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0" failures="0"
skipped="1" tests="3"><testcase classname="test_hardening" name="test_sshd_refuses_password_auth[ansible://app]"/>
<testcase classname="test_hardening" name="test_firewall[ansible://app]"/>
<testcase classname="test_hardening" name="test_auditd_loaded[ansible://app]">
<skipped message="container"/></testcase>
</testsuite></testsuites>"""
RED = GREEN.replace('failures="0"', 'failures="1"').replace(
    'name="test_firewall[ansible://app]"/>',
    'name="test_firewall[ansible://app]"><failure message="port 23 open"/></testcase>',
)


def test_green_suite_passes_and_reports_skips_separately():
    outcome = suite.evaluate_suite(GREEN, 0)
    assert outcome.status == PASS
    assert outcome.figures["passed"] == 2
    assert outcome.figures["skipped"] == 1
    assert "1 skipped" in outcome.summary


def test_failed_control_is_named():
    outcome = suite.evaluate_suite(RED, 1)
    assert outcome.status == FAIL
    assert "test_hardening::test_firewall[ansible://app]" in outcome.summary


def test_no_report_or_no_tests_is_an_error():
    assert suite.evaluate_suite("", 4).status == ERROR
    empty = '<testsuites><testsuite tests="0" failures="0" errors="0" skipped="0"/></testsuites>'
    assert suite.evaluate_suite(empty, 5).status == ERROR


def test_nonzero_exit_with_green_xml_is_not_a_pass():
    assert suite.evaluate_suite(GREEN, 2).status == FAIL


def test_killed_run_says_so():
    output = (
        "collected 193 items\n../tests/test_hardening.py ....FF\n"
        "└─ Return code: -15 ──\nCRITICAL Verifier tests failed\n"
    )
    outcome = suite.evaluate_suite("", 1, output)
    assert outcome.status == ERROR
    assert "killed before it finished" in outcome.summary
    assert "Verifier tests failed" in outcome.summary


# --- The live deployment is checked, never changed -----------------------------------------------
MOLECULE_TESTS = Path(__file__).resolve().parents[2] / "molecule" / "tests"
# Commands in a test that change the deployment (accounts included) or interrupt a service.
DISRUPTIVE_COMMANDS = ("systemctl stop", "kill -", "ansible-playbook", "site.yml", "useradd")


def _is_marked_disruptive(node: ast.AST) -> bool:
    return "pytest.mark.disruptive" in ast.unparse(node)


def test_tests_that_stop_services_or_deploy_are_marked_disruptive():
    unmarked = []
    for module in sorted(MOLECULE_TESTS.glob("test_*.py")):
        if module.name == "test_role_arguments.py":  # runs on throw-away hosts only, outside any stack
            continue
        tree = ast.parse(module.read_text(encoding="utf-8"))
        module_marked = any(
            isinstance(node, ast.Assign)
            and any(getattr(target, "id", "") == "pytestmark" for target in node.targets)
            and _is_marked_disruptive(node.value)
            for node in tree.body
        )
        if module_marked:
            continue
        helpers = {node.name: ast.unparse(node) for node in tree.body if isinstance(node, ast.FunctionDef)}
        for node in tree.body:
            if not (isinstance(node, ast.FunctionDef) and node.name.startswith("test_")):
                continue
            source = ast.unparse(node)
            # The test's own body and the module helpers it calls.
            called = [text for name, text in helpers.items() if name != node.name and f"{name}(" in source]
            text = "\n".join([source, *called])
            if any(command in text for command in DISRUPTIVE_COMMANDS) and not any(
                _is_marked_disruptive(decorator) for decorator in node.decorator_list
            ):
                unmarked.append(f"{module.name}::{node.name}")
    assert unmarked == [], f"mark these @pytest.mark.disruptive (they change a live stack): {unmarked}"


def test_marker_check_sees_a_kill_in_an_unmarked_test(tmp_path, monkeypatch):
    module = tmp_path / "test_sample.py"
    module.write_text('def test_x(host):\n    host.run("kill -KILL 1")\n', encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "MOLECULE_TESTS", tmp_path)
    with pytest.raises(AssertionError, match=r"test_sample.py::test_x"):
        test_tests_that_stop_services_or_deploy_are_marked_disruptive()


@pytest.mark.parametrize("env", ["local", "prod"])
def test_verify_leaves_disruptive_tests_out(env, make_context, monkeypatch, tmp_path):
    calls = []

    def fake_run_local(command, *, env=None, timeout=0, cwd=None):
        calls.append((list(command), dict(env or {})))
        return Completed("controller", 0, "", "")

    monkeypatch.setattr(suite, "run_local", fake_run_local)
    context = make_context(env=env, inventory=tmp_path)
    suite.testinfra(context)
    ((command, environ),) = calls
    options = command if env != "local" else shlex.split(environ["PYTEST_ADDOPTS"])
    position = options.index("-m")
    assert options[position + 1] == "not disruptive"


def test_one_row_per_test_module_with_its_criteria():
    outcome = suite.evaluate_suite(RED, 1)
    rows = {row.control_id: row for row in outcome.controls}
    assert [r for r in rows if rows[r].status != NOT_APPLICABLE] == ["testinfra:hardening"]
    row = rows["testinfra:hardening"]
    assert row.status == FAIL
    assert row.test == "molecule/tests/test_hardening.py"
    assert "CC6.6" in row.criteria
    assert row.summary.startswith("1 passed, 1 failed, 1 skipped: test_firewall")


ALL_SKIPPED = """<testsuites><testsuite tests="3" failures="0" errors="0" skipped="2">
<testcase classname="tests.test_hardening" name="test_a"/>
<testcase classname="tests.test_log_shipping" name="test_b"><skipped message="no collector"/></testcase>
<testcase classname="tests.test_log_shipping" name="test_c"><skipped message="no collector"/></testcase>
</testsuite></testsuites>"""


def test_a_module_whose_tests_all_skipped_is_not_applicable_never_passed():
    outcome = suite.evaluate_suite(ALL_SKIPPED, 0)
    rows = {row.control_id: row for row in outcome.controls}
    assert rows["testinfra:hardening"].status == PASS
    skipped = rows["testinfra:log_shipping"]
    assert skipped.status == NOT_APPLICABLE
    assert skipped.summary == "all 2 tests skipped: no collector"


def test_a_suite_that_skipped_everything_checked_nothing():
    xml = ALL_SKIPPED.replace('<testcase classname="tests.test_hardening" name="test_a"/>', "").replace(
        'tests="3"', 'tests="2"'
    )
    outcome = suite.evaluate_suite(xml, 0)
    assert outcome.status == ERROR
    assert outcome.summary.startswith("no testinfra test ran")


def test_modules_that_did_not_run_are_not_applicable_with_the_reason():
    rows = {row.control_id: row for row in suite.evaluate_suite(GREEN, 0).controls}
    assert rows["testinfra:log_shipping_outage"].status == NOT_APPLICABLE
    assert rows["testinfra:log_shipping_outage"].summary.startswith("marked disruptive")
    # Proved outside the suite: the row names that test and where it runs.
    assert rows["testinfra:release_lifecycle"].status == NOT_APPLICABLE
    assert rows["testinfra:release_lifecycle"].test == "tests/rehearsal/test_rolling.py"
    assert rows["testinfra:release_lifecycle"].summary.startswith("runs in `make test`'s rehearsal only")
    assert rows["testinfra:nginx"].summary.startswith("no test of this module ran")
    assert "testinfra:acme_server" not in rows  # test infrastructure, not a control


def test_test_infrastructure_modules_get_no_control_row():
    xml = GREEN.replace(
        'classname="test_hardening" name="test_firewall', 'classname="test_acme_server" name="test_pebble'
    )
    rows = {row.control_id for row in suite.evaluate_suite(xml, 0).controls}
    assert "testinfra:acme_server" not in rows
    assert "testinfra:hardening" in rows
