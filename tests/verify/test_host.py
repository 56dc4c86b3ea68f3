"""systemd-analyze exposure and Lynis hardening index against their thresholds."""

from __future__ import annotations

import pytest
from kit.verify import host
from kit.verify.result import ERROR, FAIL, PASS, CheckError

from .conftest import FakeHosts, fixture_text

LYNIS_REPORT = """# Lynis Report
report_version_major=1
hardening_index={index}
warning[]=SSH-7408|Consider hardening SSH configuration|-|-|
suggestion[]=AUTH-9262|Install a PAM module for password strength testing|-|-|
suggestion[]=PKGS-7370|Install debsums utility|-|-|
"""


def test_recorded_nginx_exposure_is_parsed():
    assert host.parse_exposure(fixture_text("systemd-analyze-nginx.txt")) == (2.6, "OK")
    assert host.parse_exposure("Unit foo.service not found, cannot analyze.") is None


def test_exposure_above_the_limit_fails_and_names_the_unit():
    limits = {"django-app.service": 2.0, "nginx.service": 3.0}
    ok = host.evaluate_systemd({"app": {"django-app.service": 1.1, "nginx.service": 2.6}}, limits)
    assert ok.status == PASS
    assert "django-app.service 1.1" in ok.summary
    bad = host.evaluate_systemd({"app": {"django-app.service": 9.0, "nginx.service": 2.6}}, limits)
    assert bad.status == FAIL
    assert "django-app.service: 9.0 > 2.0" in bad.summary


def test_missing_unit_fails_instead_of_being_skipped(make_context, limits):
    answers = {"nginx.service": (0, fixture_text("systemd-analyze-nginx.txt"))}
    for unit in limits.units("nginx"):
        answers.setdefault(unit, (1, f"Unit {unit} not found, cannot analyze."))
    outcome, attachments = host.systemd_security(make_context(FakeHosts(answers)))
    assert outcome.status == FAIL
    assert "django-app.service: not analysed" in outcome.summary
    assert outcome.figures["exposure"]["app"]["nginx.service"] == 2.6
    assert len(attachments) == len(limits.units("nginx"))


def test_units_follow_the_web_server(limits):
    assert "nginx.service" in limits.units("nginx")
    assert "apache2.service" not in limits.units("nginx")
    assert "apache2.service" in limits.units("apache")
    assert "django-app.service" in limits.units("apache")


def test_lynis_report_parsing():
    parsed = host.parse_lynis_report(LYNIS_REPORT.format(index=83))
    assert parsed["hardening_index"] == 83
    assert parsed["suggestion_count"] == 2
    assert parsed["warnings"] == ["SSH-7408 Consider hardening SSH configuration"]


@pytest.mark.parametrize(("index", "status"), [(80, PASS), (79, FAIL), (58, FAIL), (95, PASS)])
def test_lynis_threshold(index, status):
    report = host.parse_lynis_report(LYNIS_REPORT.format(index=index))
    assert host.evaluate_lynis({"app": report}, 80).status == status


def test_lynis_report_without_index_is_an_error():
    report = host.parse_lynis_report("report_version_major=1\n")
    assert host.evaluate_lynis({"app": report}, 80).status == ERROR


def test_lynis_check_reads_the_report_from_the_host(make_context):
    hosts = FakeHosts({"lynis audit system": (0, "--- report ---\n" + LYNIS_REPORT.format(index=84))})
    outcome, attachments = host.lynis(make_context(hosts))
    assert outcome.status == PASS
    assert outcome.figures["hosts"]["app"]["hardening_index"] == 84
    assert attachments[0].name == "app-lynis-report.dat"
    # A check changes nothing on the host: no install, and Lynis's own log and report go to a temporary
    # folder that is removed, not to /var/log.
    sent = hosts.commands[0][1]
    for installer in ("apt-get", "apt ", "dpkg", "pip"):
        assert installer not in sent, f"make verify would run {installer!r} on the host"
    assert "--logfile" in sent
    assert "--report-file" in sent
    assert "rm -rf" in sent


def test_lynis_missing_on_a_host_names_the_role_that_installs_it(make_context):
    hosts = FakeHosts({"lynis audit system": (host.LYNIS_MISSING_EXIT, "")})
    with pytest.raises(CheckError, match=r"lynis is not installed on app.*hardening_audit_tools"):
        host.lynis(make_context(hosts))


def test_lynis_that_did_not_run_is_an_error(make_context):
    hosts = FakeHosts({"lynis audit system": (100, "lynis: cannot open /etc/lynis/default.prf")})
    with pytest.raises(CheckError, match="lynis did not run on app"):
        host.lynis(make_context(hosts))


def test_recorded_lynis_report_of_a_container():
    parsed = host.parse_lynis_report(fixture_text("lynis-report-app.dat"))
    assert parsed["hardening_index"] == 61
    assert parsed["warnings"] == [
        "PKGS-7388 Can't find any security repository in /etc/apt/sources.list or sources.list.d directory"
    ]
    assert parsed["suggestion_count"] > 10
    assert host.evaluate_lynis({"app": parsed}, 80).status == FAIL


def test_recorded_sandboxed_app_unit_is_within_its_limit(limits):
    exposure, predicate = host.parse_exposure(fixture_text("systemd-analyze-django-app.txt"))
    assert (exposure, predicate) == (1.2, "OK")
    assert exposure <= limits.units("nginx")["django-app.service"]


def test_no_host_measured_is_no_pass():
    """An empty host list used to PASS with 'exposure within limits: ' and an empty index list."""
    assert host.evaluate_systemd({}, {"django-app.service": 2.0}).status == ERROR
    assert host.evaluate_systemd({"app": {}}, {"django-app.service": 2.0}).status == ERROR
    assert host.evaluate_lynis({}, 80).summary == "nothing was checked: no host's Lynis report"
