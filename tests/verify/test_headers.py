"""MDN HTTP Observatory grading from a recorded scan, and the loopback-only scan command."""

from __future__ import annotations

import json

import pytest
from kit.verify import headers
from kit.verify.result import ERROR, FAIL, PASS, CheckError

from .conftest import fixture_text


def test_recorded_scan_of_the_local_stack_is_a_plus():
    outcome = headers.evaluate_observatory(fixture_text("observatory-aplus.json"), "A+", 100)
    assert outcome.status == PASS
    assert outcome.figures["grade"] == "A+"
    assert outcome.figures["score"] == 115


def test_lower_grade_or_failed_test_fails():
    data = json.loads(fixture_text("observatory-aplus.json"))
    data["scan"]["grade"], data["scan"]["score"] = "B", 70
    data["tests"]["strict-transport-security"]["pass"] = False
    data["tests"]["strict-transport-security"]["result"] = "hsts-not-implemented"
    outcome = headers.evaluate_observatory(json.dumps(data), "A+", 100)
    assert outcome.status == FAIL
    assert "hsts-not-implemented" in outcome.summary


def test_a_plus_below_the_score_threshold_fails():
    data = json.loads(fixture_text("observatory-aplus.json"))
    assert headers.evaluate_observatory(json.dumps(data), "A+", 120).status == FAIL


def test_scan_error_or_no_output_is_an_error():
    data = {"scan": {"error": "site down", "grade": None, "score": 0}}
    assert headers.evaluate_observatory(json.dumps(data), "A+", 100).status == ERROR
    assert headers.evaluate_observatory("", "A+", 100).status == ERROR


def test_grade_order():
    assert headers.grade_at_least("A+", "A")
    assert headers.grade_at_least("A", "A")
    assert not headers.grade_at_least("A-", "A")
    assert not headers.grade_at_least("unknown", "F")


def test_local_scan_runs_in_the_containers_network_namespace(make_context, monkeypatch, tmp_path):
    monkeypatch.setattr(headers, "container_pid", lambda container, environ: "4242")
    monkeypatch.setattr(headers.os, "geteuid", lambda: 0)
    ctx = make_context(local_app_container="app")
    command = headers.scan_command(ctx, tmp_path / "scan.js")
    assert command[:5] == ["nsenter", "-t", "4242", "-n", "unshare"]
    assert command[-1] == "app.soc2kit.test"
    hosts_file = tmp_path / "observatory-hosts"
    assert "127.0.0.1 app.soc2kit.test" in hosts_file.read_text()


def test_aws_scan_targets_the_public_name(make_context, tmp_path):
    command = headers.scan_command(make_context(env="prod"), tmp_path / "scan.js")
    assert command[1:] == [str(tmp_path / "scan.js"), "app.soc2kit.test"]


def test_local_scan_without_container_is_an_error(make_context, tmp_path):
    with pytest.raises(CheckError):
        headers.scan_command(make_context(), tmp_path / "scan.js")


def test_rehearsal_scan_runs_in_an_app_containers_network_namespace(make_context, monkeypatch, tmp_path):
    """The site's name is never looked up outside: the balancer's port is not 443, the container's is."""
    monkeypatch.setattr(headers, "container_pid", lambda container, environ: "4242")
    monkeypatch.setattr(headers.os, "geteuid", lambda: 0)
    ctx = make_context(env="rehearsal", local_app_container="rh-app-1")
    command = headers.scan_command(ctx, tmp_path / "scan.js")
    assert command[:5] == ["nsenter", "-t", "4242", "-n", "unshare"]
