"""Host checks: `systemd-analyze security` of the kit's units, and Lynis's hardening index."""

from __future__ import annotations

import re
import shlex
from typing import Any

from .context import Context
from .result import ERROR, FAIL, PASS, Attachment, CheckError, Outcome

_EXPOSURE = re.compile(r"Overall exposure level for (\S+):\s*([0-9.]+)\s+(\S+)")
# Lynis writes its machine-readable report here (Debian default).


def parse_exposure(output: str) -> tuple[float, str] | None:
    """(exposure, predicate) from `systemd-analyze security UNIT`, or None if it printed none."""
    match = _EXPOSURE.search(output)
    return (float(match.group(2)), match.group(3)) if match else None


def evaluate_systemd(measured: dict[str, dict[str, Any]], limits: dict[str, float]) -> Outcome:
    """measured: host -> unit -> exposure (float) or an error text."""
    figures: dict[str, Any] = {"limits": limits, "exposure": measured}
    if not any(units for units in measured.values()):
        return Outcome(ERROR, "nothing was checked: no host and no unit measured", figures)
    problems = []
    for host, units in measured.items():
        for unit, value in units.items():
            if isinstance(value, str):
                problems.append(f"{host} {unit}: {value}")
            elif value > limits[unit]:
                problems.append(f"{host} {unit}: {value} > {limits[unit]}")
    shown = ", ".join(
        f"{unit} {value}"
        for units in measured.values()
        for unit, value in units.items()
        if not isinstance(value, str)
    )
    if problems:
        return Outcome(FAIL, "; ".join(problems) + (f" (measured: {shown})" if shown else ""), figures)
    return Outcome(PASS, f"exposure within limits: {shown}", figures)


def systemd_security(ctx: Context) -> tuple[Outcome, list[Attachment]]:
    limits = ctx.thresholds.units(ctx.web)
    measured: dict[str, dict[str, Any]] = {}
    attachments = []
    for host in ctx.hosts.names:
        measured[host] = {}
        for unit in limits:
            done = ctx.hosts.run(host, f"systemd-analyze security --no-pager {shlex.quote(unit)}")
            attachments.append(Attachment(f"{host}-{unit}.txt", done.output))
            parsed = parse_exposure(done.output)
            if parsed is None:
                last = (done.output.strip().splitlines() or ["no output"])[-1]
                measured[host][unit] = f"not analysed ({last.strip()[:120]})"
            else:
                measured[host][unit] = parsed[0]
    return evaluate_systemd(measured, limits), attachments


def parse_lynis_report(text: str) -> dict[str, Any]:
    """hardening_index and counts of warnings/suggestions from lynis-report.dat (key=value lines)."""
    index = None
    warnings, suggestions = [], []
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key == "hardening_index":
            index = int(value) if value.strip().isdigit() else None
        elif key == "warning[]":
            warnings.append(value.split("|")[0] + " " + (value.split("|")[1] if "|" in value else ""))
        elif key == "suggestion[]":
            suggestions.append(value.split("|")[0])
    return {"hardening_index": index, "warnings": warnings, "suggestion_count": len(suggestions)}


def evaluate_lynis(reports: dict[str, dict[str, Any]], minimum: int) -> Outcome:
    figures: dict[str, Any] = {"minimum": minimum, "hosts": reports}
    if not reports:
        return Outcome(ERROR, "nothing was checked: no host's Lynis report", figures)
    missing = [host for host, report in reports.items() if report.get("hardening_index") is None]
    if missing:
        return Outcome(ERROR, f"no hardening index in the Lynis report of {', '.join(missing)}", figures)
    low = {h: r["hardening_index"] for h, r in reports.items() if r["hardening_index"] < minimum}
    shown = ", ".join(
        f"{h} {r['hardening_index']} ({len(r['warnings'])} warnings)" for h, r in reports.items()
    )
    if low:
        return Outcome(FAIL, f"hardening index below {minimum}: {shown}", figures)
    return Outcome(PASS, f"hardening index {shown} (minimum {minimum})", figures)


# A check never changes what it checks: Lynis is installed by the hardening role (hardening_audit_tools),
# before the AIDE baseline; here it only runs, with its log and report in a temporary folder removed after.
LYNIS_MISSING_EXIT = 3
_LYNIS_SCRIPT = f"""set -e
command -v lynis >/dev/null 2>&1 || exit {LYNIS_MISSING_EXIT}
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
lynis audit system --quick --no-colors --logfile "$work/lynis.log" --report-file "$work/report.dat" >/dev/null
echo '--- report ---'
cat "$work/report.dat"
"""


def lynis(ctx: Context) -> tuple[Outcome, list[Attachment]]:
    reports: dict[str, dict[str, Any]] = {}
    attachments = []
    for host in ctx.hosts.names:
        done = ctx.hosts.run(host, _LYNIS_SCRIPT)
        if done.returncode == LYNIS_MISSING_EXIT:
            raise CheckError(
                f"lynis is not installed on {host}; make verify installs nothing on the hosts it checks: "
                "converge the hardening role (its hardening_audit_tools list installs Lynis)"
            )
        if done.returncode != 0 or "--- report ---" not in done.stdout:
            raise CheckError(
                f"lynis did not run on {host} (exit {done.returncode}): {done.output.strip()[-300:]}"
            )
        report_text = done.stdout.split("--- report ---", 1)[1]
        attachments.append(Attachment(f"{host}-lynis-report.dat", report_text))
        reports[host] = parse_lynis_report(report_text)
    return evaluate_lynis(reports, ctx.thresholds.lynis_min_hardening_index), attachments
