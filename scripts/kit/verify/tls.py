"""TLS through the public name: sslyze's Mozilla compliance, testssl.sh findings, certificate expiry."""

from __future__ import annotations

import json
import re
import socket
import ssl
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .context import Context
from .hosts import run_local
from .result import ERROR, FAIL, PASS, Attachment, CheckError, Outcome

SSLYZE_PROTOCOLS = {
    "ssl_2_0_cipher_suites": "SSLv2",
    "ssl_3_0_cipher_suites": "SSLv3",
    "tls_1_0_cipher_suites": "TLSv1.0",
    "tls_1_1_cipher_suites": "TLSv1.1",
    "tls_1_2_cipher_suites": "TLSv1.2",
    "tls_1_3_cipher_suites": "TLSv1.3",
}
_ISSUE = re.compile(r"^\s+\* (\S+): (.*)$")


# --- sslyze ---------------------------------------------------------------------------------------


def evaluate_sslyze(stdout: str, returncode: int, json_text: str, profile: str) -> Outcome:
    """Compliant only when sslyze says so and exits 0; its listed issues become the summary."""
    figures: dict[str, Any] = {"profile": f"mozilla {profile}"}
    try:
        data = json.loads(json_text) if json_text.strip() else {}
    except ValueError:
        data = {}
    results = data.get("server_scan_results") or []
    if results:
        scan = results[0]
        figures["connectivity"] = scan.get("connectivity_status")
        found = scan.get("scan_result") or {}
        protocols = []
        for key, name in SSLYZE_PROTOCOLS.items():
            result = (found.get(key) or {}).get("result") or {}
            if result.get("accepted_cipher_suites"):
                protocols.append(name)
        figures["protocols_accepted"] = protocols
        curves = ((found.get("elliptic_curves") or {}).get("result") or {}).get("supported_curves") or []
        figures["curves"] = [curve.get("name") for curve in curves]
    if "OK - Compliant." in stdout and returncode == 0:
        return Outcome(PASS, f"compliant with Mozilla {profile} (sslyze)", figures)
    issues = [f"{m.group(1)}: {m.group(2)}" for line in stdout.splitlines() if (m := _ISSUE.match(line))]
    if "FAILED - Not compliant." in stdout:
        figures["issues"] = issues
        return Outcome(FAIL, f"not compliant with Mozilla {profile}: " + "; ".join(issues[:4]), figures)
    last = stdout.strip().splitlines()[-1:] or ["no output"]
    return Outcome(ERROR, f"sslyze did not complete (exit {returncode}): {last[0].strip()}", figures)


def sslyze(ctx: Context, profile: str = "intermediate") -> tuple[Outcome, list[Attachment]]:
    site = ctx.site
    target = f"{site.name}:{site.https_port}" + (
        f"{{{site.connect_address}}}" if site.connect_address else ""
    )
    json_path = ctx.scratch / "sslyze.json"
    command = [ctx.environ.get("KIT_PYTHON", "python3"), "-m", "sslyze", f"--mozilla_config={profile}"]
    if site.ca_file:
        command.append(f"--certinfo_ca_file={site.ca_file}")
    command += [f"--json_out={json_path}", target]
    done = run_local(command)
    json_text = json_path.read_text(encoding="utf-8") if json_path.is_file() else ""
    attachments = [Attachment("sslyze.txt", done.output)]
    if json_text:
        attachments.append(Attachment("sslyze.json", json_text))
    return evaluate_sslyze(done.stdout, done.returncode, json_text, profile), attachments


# --- testssl.sh -----------------------------------------------------------------------------------


def evaluate_testssl(json_text: str, failing: tuple[str, ...], exceptions: dict[str, str]) -> Outcome:
    """Fails on every finding of a failing severity except the named exceptions (which are listed)."""
    try:
        findings = json.loads(json_text)
    except ValueError as error:
        return Outcome(ERROR, f"testssl.sh wrote no valid JSON ({error}); see its output")
    if not isinstance(findings, list) or not findings:
        return Outcome(ERROR, "testssl.sh found nothing to report (no scan ran); see its output")
    counts: dict[str, int] = {}
    blocking: list[str] = []
    excepted: list[str] = []
    for finding in findings:
        severity = str(finding.get("severity", "")).upper()
        counts[severity] = counts.get(severity, 0) + 1
        if severity in failing:
            entry = f"{finding.get('id')} ({severity}: {str(finding.get('finding', '')).strip()})"
            (excepted if finding.get("id") in exceptions else blocking).append(entry)
    scan_problems = [
        f
        for f in findings
        if f.get("id") in ("scanProblem", "engine_problem") and f.get("severity") == "FATAL"
    ]
    figures: dict[str, Any] = {
        "severity_counts": dict(sorted(counts.items())),
        "accepted_exceptions": {e.split(" ")[0]: exceptions[e.split(" ")[0]] for e in excepted},
    }
    if scan_problems:
        return Outcome(ERROR, f"testssl.sh could not scan: {scan_problems[0].get('finding')}", figures)
    if blocking:
        figures["blocking_findings"] = blocking
        return Outcome(
            FAIL, f"{len(blocking)} finding(s) of {'/'.join(failing)}: " + "; ".join(blocking[:3]), figures
        )
    summary = f"no {'/'.join(failing)} finding beyond {len(excepted)} named exception(s)"
    return Outcome(
        PASS, summary + (f" ({', '.join(figures['accepted_exceptions'])})" if excepted else ""), figures
    )


def testssl(ctx: Context) -> tuple[Outcome, list[Attachment]]:
    site = ctx.site
    json_path = ctx.scratch / "testssl.json"
    command = ["testssl", "--quiet", "--color", "0", "--warnings", "off", "--jsonfile", str(json_path)]
    env: dict[str, str] = {}
    if site.connect_address:
        # testssl 3.0.8 resolves the name even with --ip: no DNS at all, and no lookups of "invalid.".
        command += ["--nodns", "none", "--ip", site.connect_address]
        env["NXCONNECT"] = f"{site.connect_address}:0"
    if site.ca_file:
        command += ["--add-ca", str(site.ca_file)]
    command.append(f"{site.name}:{site.https_port}")
    done = run_local(command, env=env, timeout=900)
    json_text = json_path.read_text(encoding="utf-8") if json_path.is_file() else ""
    attachments = [Attachment("testssl.txt", done.output)]
    if json_text:
        attachments.append(Attachment("testssl.json", json_text))
    th = ctx.thresholds
    return evaluate_testssl(json_text, th.testssl_failing_severities, th.testssl_exceptions), attachments


# --- certificate expiry ---------------------------------------------------------------------------


def fetch_certificate(
    name: str, port: int, connect_address: str | None, ca_file: Path | None
) -> dict[str, Any]:
    """The site's verified leaf certificate as Python's ssl module decodes it."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    try:
        with (
            socket.create_connection((connect_address or name, port), timeout=15) as raw,
            context.wrap_socket(raw, server_hostname=name) as tls,
        ):
            certificate = tls.getpeercert()
    except ssl.SSLCertVerificationError as error:
        raise CheckError(f"the certificate of {name} does not verify: {error.verify_message}") from error
    except OSError as error:
        raise CheckError(f"cannot connect to {connect_address or name}:{port}: {error}") from error
    if not certificate:
        raise CheckError(f"{name} sent no certificate")
    return certificate


def evaluate_expiry(certificate: dict[str, Any], min_days: int, now: datetime | None = None) -> Outcome:
    not_after = datetime.fromtimestamp(ssl.cert_time_to_seconds(certificate["notAfter"]), UTC)
    not_before = datetime.fromtimestamp(ssl.cert_time_to_seconds(certificate["notBefore"]), UTC)
    now = now or datetime.now(UTC)
    days_left = (not_after - now).total_seconds() / 86400
    issuer = ", ".join("=".join(pair) for rdn in certificate.get("issuer", ()) for pair in rdn)
    names = [value for kind, value in certificate.get("subjectAltName", ()) if kind == "DNS"]
    figures = {
        "not_before": not_before.isoformat(),
        "not_after": not_after.isoformat(),
        "days_left": round(days_left, 1),
        "lifetime_days": round((not_after - not_before).total_seconds() / 86400, 1),
        "issuer": issuer,
        "names": names,
        "min_days_left": min_days,
    }
    if days_left < min_days:
        return Outcome(
            FAIL,
            f"certificate expires in {days_left:.1f} days (< {min_days}): renewal is not working",
            figures,
        )
    return Outcome(PASS, f"certificate valid for {days_left:.0f} more days (threshold {min_days})", figures)


def certificate_expiry(ctx: Context) -> tuple[Outcome, list[Attachment]]:
    site = ctx.site
    certificate = fetch_certificate(site.name, site.https_port, site.connect_address, site.ca_file)
    outcome = evaluate_expiry(certificate, ctx.thresholds.certificate_min_days_left)
    return outcome, [Attachment("certificate.json", json.dumps(certificate, indent=2, default=str))]
