"""sslyze, testssl.sh and certificate-expiry verdicts from recorded outputs."""

from __future__ import annotations

import json
import ssl
from datetime import UTC, datetime, timedelta

from kit.verify import tls
from kit.verify.result import ERROR, FAIL, PASS

from .conftest import fixture_text

NOT_COMPLIANT = """
 COMPLIANCE AGAINST TLS CONFIGURATION
 ------------------------------------

    Checking results against Mozilla's "intermediate" configuration.

    app.soc2kit.test:8443: FAILED - Not compliant.
        * tls_versions: TLS versions {'TLSv1.1', 'TLSv1'} are supported, but should be rejected.
        * curves: Curves {'X448', 'secp521r1'} are supported, but should be rejected.

"""


def test_sslyze_compliant_recorded_run_passes():
    outcome = tls.evaluate_sslyze(
        fixture_text("sslyze-compliant.txt"), 0, fixture_text("sslyze-compliant.json"), "intermediate"
    )
    assert outcome.status == PASS
    assert outcome.figures["protocols_accepted"] == ["TLSv1.2", "TLSv1.3"]
    assert outcome.figures["curves"] == ["X25519", "secp256r1", "secp384r1"]


def test_sslyze_not_compliant_names_each_issue():
    outcome = tls.evaluate_sslyze(NOT_COMPLIANT, 1, "", "intermediate")
    assert outcome.status == FAIL
    assert "tls_versions" in outcome.summary
    assert "curves" in outcome.summary
    assert len(outcome.figures["issues"]) == 2


def test_sslyze_compliant_text_with_failed_exit_is_not_a_pass():
    outcome = tls.evaluate_sslyze("app: OK - Compliant.\n", 1, "", "intermediate")
    assert outcome.status == ERROR


def test_sslyze_connection_failure_is_an_error():
    outcome = tls.evaluate_sslyze("Connection rejected\nERROR - could not connect", 1, "", "intermediate")
    assert outcome.status == ERROR
    assert "could not connect" in outcome.summary


def test_testssl_recorded_run_passes_with_the_two_named_exceptions(limits):
    outcome = tls.evaluate_testssl(
        fixture_text("testssl-pass.json"), limits.testssl_failing_severities, limits.testssl_exceptions
    )
    assert outcome.status == PASS
    assert set(outcome.figures["accepted_exceptions"]) == {"cipher_order", "cert_revocation"}
    assert outcome.figures["severity_counts"]["HIGH"] == 2


def test_testssl_untrusted_chain_fails_even_with_exceptions(limits):
    outcome = tls.evaluate_testssl(
        fixture_text("testssl-untrusted-chain.json"),
        limits.testssl_failing_severities,
        limits.testssl_exceptions,
    )
    assert outcome.status == FAIL
    assert outcome.figures["blocking_findings"] == [
        "cert_chain_of_trust (CRITICAL: failed (chain incomplete).)"
    ]


def test_testssl_without_exceptions_fails_on_the_two_high_findings(limits):
    outcome = tls.evaluate_testssl(fixture_text("testssl-pass.json"), ("HIGH", "CRITICAL"), {})
    assert outcome.status == FAIL
    assert len(outcome.figures["blocking_findings"]) == 2


def test_testssl_medium_counts_when_configured_to_fail():
    findings = [{"id": "BREACH", "severity": "MEDIUM", "finding": "potentially VULNERABLE"}]
    assert tls.evaluate_testssl(json.dumps(findings), ("MEDIUM", "HIGH"), {}).status == FAIL
    assert tls.evaluate_testssl(json.dumps(findings), ("HIGH",), {}).status == PASS


def test_testssl_truncated_or_empty_json_is_an_error(limits):
    truncated = fixture_text("testssl-pass.json")[:5000]
    assert tls.evaluate_testssl(truncated, ("HIGH",), {}).status == ERROR
    assert tls.evaluate_testssl("[]", ("HIGH",), {}).status == ERROR


def _certificate(not_before: datetime, not_after: datetime) -> dict:
    def fmt(moment: datetime) -> str:
        return moment.strftime("%b %d %H:%M:%S %Y GMT")

    return {
        "notBefore": fmt(not_before),
        "notAfter": fmt(not_after),
        "issuer": ((("commonName", "Pebble Intermediate CA 4d5e6f"),),),
        "subjectAltName": (("DNS", "app.soc2kit.test"),),
    }


def test_certificate_expiry_threshold():
    now = datetime(2026, 11, 29, tzinfo=UTC)
    fresh = _certificate(now - timedelta(days=1), now + timedelta(days=89))
    outcome = tls.evaluate_expiry(fresh, 21, now)
    assert outcome.status == PASS
    assert outcome.figures["days_left"] == 89.0
    assert outcome.figures["names"] == ["app.soc2kit.test"]
    stale = _certificate(now - timedelta(days=80), now + timedelta(days=10))
    failed = tls.evaluate_expiry(stale, 21, now)
    assert failed.status == FAIL
    assert "10.0 days" in failed.summary


def test_certificate_time_format_is_what_ssl_returns():
    # The test's formatter must match Python's own notation, or the threshold test above proves nothing.
    assert (
        ssl.cert_time_to_seconds("Nov 29 00:00:00 2026 GMT") == datetime(2026, 11, 29, tzinfo=UTC).timestamp()
    )


def test_testssl_command_for_loopback_never_resolves_names(make_context, monkeypatch, tmp_path):
    seen = {}

    def fake_run(command, *, env=None, timeout=0, cwd=None):
        seen["command"], seen["env"] = command, env
        (tmp_path / "testssl.json").write_text(fixture_text("testssl-pass.json"))
        from kit.verify.hosts import Completed

        return Completed("controller", 0, "done", "")

    monkeypatch.setattr(tls, "run_local", fake_run)
    outcome, attachments = tls.testssl(make_context())
    assert outcome.status == PASS
    command = seen["command"]
    assert command[command.index("--nodns") + 1] == "none"
    assert command[command.index("--ip") + 1] == "127.0.0.1"
    assert seen["env"] == {"NXCONNECT": "127.0.0.1:0"}
    assert command[-1] == "app.soc2kit.test:8443"
    assert [a.name for a in attachments] == ["testssl.txt", "testssl.json"]
