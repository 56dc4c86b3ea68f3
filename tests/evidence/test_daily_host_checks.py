"""The hosts' daily check script (roles/hardening/files/usr/local/sbin/soc2kit-daily-checks): its control
ids are the evidence's (criteria.DAILY_CONTROLS), its lines parse as daily results, a loosened file fails
file_modes, and a control that passed and now fails raises a SECURITY ALERT line (drift)."""

from __future__ import annotations

import grp
import importlib.machinery
import importlib.util
import json
import os
import pwd

import pytest
from kit import ROOT
from kit.evidence import criteria, daily

SCRIPT = ROOT / "roles/hardening/files/usr/local/sbin/soc2kit-daily-checks"


def _load():
    loader = importlib.machinery.SourceFileLoader("soc2kit_daily_checks", str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


checks = _load()
OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name


def _config(tmp_path, watched):
    return {
        "file_modes": [f"{watched}:{OWNER}:{GROUP}:0600"],
        "log_dirs": [str(tmp_path / "log")],
        "state_file": str(tmp_path / "state" / "last.json"),
    }


def _run(tmp_path, monkeypatch, capsys, config):
    path = tmp_path / "daily-checks.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    monkeypatch.setenv("SOC2KIT_DAILY_CHECKS_CONFIG", str(path))
    code = checks.main()
    return code, capsys.readouterr().out.splitlines()


@pytest.fixture
def watched(tmp_path):
    (tmp_path / "log").mkdir()
    path = tmp_path / "crontab"
    path.write_text("# probe\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def test_every_control_id_is_one_the_evidence_maps():
    full = {
        "file_modes": [],
        "sshd": {"permitrootlogin": "no"},
        "sysctl": {"kernel.sysrq": "0"},
        "auditd_keys": ["identity"],
        "aide_config": "/etc/aide/aide.conf",
        "certificates": ["/etc/letsencrypt/live/*/cert.pem"],
        "audit_chain_command": ["/usr/local/sbin/django-app-manage", "verify_audit_chain"],
    }
    assert set(checks.checks(full)) == set(criteria.DAILY_CONTROLS)


def test_result_lines_parse_as_daily_results(tmp_path, monkeypatch, capsys, watched):
    code, lines = _run(tmp_path, monkeypatch, capsys, _config(tmp_path, watched))
    assert code == 0
    results = daily.parse_lines(line[3:] for line in lines)  # after the journal priority prefix
    assert [(r.control, r.status, r.host) for r in results] == [("file_modes", "pass", os.uname().nodename)]


def test_loosened_file_mode_fails_and_names_the_file(watched):
    watched.chmod(0o644)
    passed, detail = checks.check_file_modes([f"{watched}:{OWNER}:{GROUP}:0600"], [])
    assert not passed
    assert f"{watched} is {OWNER}:{GROUP}:0644, expected {OWNER}:{GROUP}:0600" in detail


def test_world_readable_log_file_fails_but_login_records_may_be_0664(tmp_path):
    logs = tmp_path / "log"
    (logs / "apt").mkdir(parents=True)
    (logs / "wtmp").write_text("", encoding="utf-8")
    (logs / "wtmp").chmod(0o664)
    (logs / "apt" / "history.log").write_text("", encoding="utf-8")
    (logs / "apt" / "history.log").chmod(0o640)
    assert checks.check_file_modes([], [str(logs)])[0]
    (logs / "apt" / "history.log").chmod(0o644)
    passed, detail = checks.check_file_modes([], [str(logs)])
    assert not passed
    assert "history.log is 0644, at most 0640 allowed" in detail
    (logs / "wtmp").chmod(0o666)
    assert "wtmp is 0666, at most 0664 allowed" in checks.check_file_modes([], [str(logs)])[1]


def test_drift_raises_a_security_alert_once(tmp_path, monkeypatch, capsys, watched):
    config = _config(tmp_path, watched)
    _run(tmp_path, monkeypatch, capsys, config)
    watched.chmod(0o644)
    code, lines = _run(tmp_path, monkeypatch, capsys, config)
    assert code == 1
    alerts = [line for line in lines if "SECURITY ALERT daily_check_drift: file_modes on " in line]
    assert len(alerts) == 1
    assert "fails now" in alerts[0]
    assert f"{watched} is" in alerts[0]
    # Still failing the day after: a failure, not a new drift.
    code, lines = _run(tmp_path, monkeypatch, capsys, config)
    assert code == 1
    assert not [line for line in lines if "SECURITY ALERT" in line]
    watched.chmod(0o600)
    code, lines = _run(tmp_path, monkeypatch, capsys, config)
    assert code == 0
    assert [r.status for r in daily.parse_lines(line[3:] for line in lines)] == ["pass"]


def test_no_certificate_found_is_not_a_pass(tmp_path):
    passed, detail = checks.check_certificates([str(tmp_path / "live/*/cert.pem")], 14)
    assert not passed
    assert "nothing was checked" in detail


def test_empty_audit_chain_records_no_result():
    assert checks.check_audit_chain(["echo", "audit chain OK: 0 entries verified"]) is None
    assert checks.check_audit_chain(["echo", "audit chain OK: 3 entries verified"]) == (
        True,
        "audit chain OK: 3 entries verified",
    )
    assert checks.check_audit_chain(["sh", "-c", "echo 'audit chain BROKEN at 2'; exit 1"]) == (
        False,
        "audit chain BROKEN at 2",
    )


def test_sshd_t_output_is_read_by_lower_case_name():
    assert checks.parse_sshd_t("PermitRootLogin no\nciphers aes256-ctr,aes128-ctr\n") == {
        "permitrootlogin": "no",
        "ciphers": "aes256-ctr,aes128-ctr",
    }


def test_bad_configuration_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SOC2KIT_DAILY_CHECKS_CONFIG", str(tmp_path / "missing.json"))
    assert checks.main() == 2
    assert "cannot read the configuration" in capsys.readouterr().out
