"""The testinfra suite's verdict from its JUnit XML."""

from __future__ import annotations

from kit.verify import suite
from kit.verify.result import ERROR, FAIL, PASS

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
