"""The evidence folder: evidence/<ENV>/<UTC timestamp>/ with report.md, report.json and attachments/.

Everything passes through the scrubber before it is written, and the written folder is read back and
scanned for every known secret value; a hit removes the folder and fails the run.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from .controls import SUITE_CONTROLS, CisRow, cis_rows
from .exceptions import ControlException
from .provenance import Provenance, banner
from .registry import CHECKS
from .result import ERROR, FAIL, INFO, LABELS, NOT_APPLICABLE, PASS, CheckResult, ControlRow, exit_code
from .secrets import Scrubber

# What each Trust Services Criterion asks (AICPA TSC 2017, revised points of focus 2022), in short.
CRITERIA = {
    "CC6.1": "Logical access security: software, infrastructure and architectures protect information assets",
    "CC6.6": "Boundary protection: logical access from outside the system boundary is restricted",
    "CC6.7": "Transmission of information is restricted and protected (encryption in transit)",
    "CC6.8": "Unauthorised or malicious software is prevented or detected",
    "CC7.1": "Configuration and vulnerability monitoring detects weaknesses",
    "CC7.2": "System components are monitored for anomalies (logging, alerting, integrity)",
    "CC8.1": "Changes are authorised, tested and approved before implementation",
    "A1.2": "Environmental protections, backups and recovery infrastructure",
    "C1.1": "Confidential information is identified and protected (encryption at rest, key management)",
}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
STATUS_LABEL = LABELS
EXCEPTIONS_FILE = "scripts/kit/verify/exceptions.yml"


def utc_stamp(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


def attachment_name(check_id: str, name: str) -> str:
    return _SAFE_NAME.sub("_", f"{check_id}--{name}")


@dataclass(frozen=True)
class RunInfo:
    env: str
    web: str
    started: datetime
    ended: datetime
    target: str
    provenance: Provenance
    thresholds_file: str
    exceptions: Sequence[ControlException]
    extra: Mapping[str, Any]


def reasons_by_control() -> dict[str, Mapping[str, str]]:
    """control id -> {criterion: why}: the written reason of every mapping."""
    return {
        **{check.check_id: check.mapping for check in CHECKS},
        **{f"testinfra:{item.module}": item.mapping for item in SUITE_CONTROLS},
    }


def exception_rows(items: Sequence[ControlException], today: date) -> list[ControlRow]:
    """An expired exception is a failure of its own, until it is renewed or removed."""
    return [
        ControlRow(
            f"exception:{item.control}:{item.finding}",
            f"Exception {item.finding} of {item.control} (owner: {item.owner})",
            (),
            EXCEPTIONS_FILE,
            FAIL,
            f"expired on {item.expires}: renew it (new review and expiry) or remove it",
        )
        for item in items
        if item.expired(today)
    ]


def all_rows(
    info: RunInfo, results: Sequence[CheckResult], not_applicable: Sequence[ControlRow] = ()
) -> list[ControlRow]:
    rows = [row for result in results for row in result.rows()]
    return rows + exception_rows(info.exceptions, info.started.date()) + list(not_applicable)


def counts_line(rows: Sequence[ControlRow]) -> str:
    count = {status: sum(row.status == status for row in rows) for status in STATUS_LABEL}
    return (
        f"{len(rows)} controls: {count[PASS]} passed, {count[FAIL]} failed, {count[ERROR]} could not run, "
        f"{count[NOT_APPLICABLE]} not applicable, {count[INFO]} informational"
    )


def verdict(rows: Sequence[ControlRow]) -> str:
    code = exit_code(list(rows))
    if code == 1:
        return f"{sum(r.status == FAIL for r in rows)} CONTROL(S) FAILED"
    if code == 3:
        return f"NO FAILURE, BUT {sum(r.status == ERROR for r in rows)} CONTROL(S) COULD NOT RUN"
    return "EVERY CONTROL THAT APPLIES VERIFIED"


def terminal_table(rows: Sequence[ControlRow]) -> str:
    table = [("STATUS", "CONTROL", "TSC", "RESULT")]
    table += [(STATUS_LABEL[r.status], r.title, ", ".join(r.criteria), r.summary) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    lines = [
        f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}" for row in table
    ]
    lines.append(counts_line(rows))
    return "\n".join(lines)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def cis_results(rows: Sequence[ControlRow]) -> list[dict[str, Any]]:
    """Per CIS id: its state in the kit, its tests, and this run's result of the testinfra rows holding them
    (a tested id is as good as its module's row; an untested or excepted one claims nothing here)."""
    by_id = {row.control_id: row for row in rows}

    def results(cis: CisRow) -> list[str]:
        modules = sorted(
            {test.split("::")[0].removeprefix("test_").removesuffix(".py") for test in cis.tested_by}
        )
        return [
            f"testinfra:{module} {STATUS_LABEL[by_id[f'testinfra:{module}'].status]}"
            if f"testinfra:{module}" in by_id
            else f"testinfra:{module} not run"
            for module in modules
        ]

    return [
        {
            "id": cis.cis_id,
            "state": cis.state,
            "tests": list(cis.tested_by),
            "result": results(cis),
            "exception": cis.exception,
        }
        for cis in cis_rows()
    ]


def render_markdown(
    info: RunInfo, results: Sequence[CheckResult], not_applicable: Sequence[ControlRow] = ()
) -> str:
    today = info.started.date()
    rows = all_rows(info, results, not_applicable)
    who = info.provenance
    out = [f"# SOC2 control verification: ENV={info.env}", ""]
    if banner(info.env):
        out += [f"> **{banner(info.env)}**", ""]
    out += [
        f"- Result: **{verdict(rows)}** ({counts_line(rows)})",
        *who.markdown_lines("Run by", info.started, info.ended),
        f"- Target: {info.target} (web server: {info.web})",
        f"- Thresholds: `{info.thresholds_file}`; exceptions: `{EXCEPTIONS_FILE}`",
        *(f"- {key}: {value}" for key, value in info.extra.items()),
        "",
        "## Controls",
        "",
        "One row per control (the testinfra suite: one row per test module; each test's result is in the "
        "JUnit attachment). COULD NOT RUN claims nothing about the control: it is neither a pass nor a "
        "failure, and the run exits 3 when that is all that went wrong.",
        "",
        "| status | control | test | criteria | result |",
        "|---|---|---|---|---|",
        *(
            f"| {STATUS_LABEL[r.status]} | {_md_cell(r.title)} | `{r.test}` | {', '.join(r.criteria) or '-'} "
            f"| {_md_cell(r.summary)} |"
            for r in rows
        ),
        "",
    ]
    for status, heading in ((FAIL, "Failed"), (ERROR, "Could not run"), (NOT_APPLICABLE, "Not applicable")):
        chosen = [row for row in rows if row.status == status]
        out += [f"## {heading} ({len(chosen)})", ""]
        out += [f"- {row.title}: {row.summary}" for row in chosen] or ["- none"]
        out.append("")
    out += [
        "## Exceptions",
        "",
        "| control | finding | reason | owner | expires | state |",
        "|---|---|---|---|---|---|",
        *(
            f"| {e.control} | {e.finding} | {_md_cell(e.reason)} | {_md_cell(e.owner)} | {e.expires} | "
            f"{'EXPIRED (a failure)' if e.expired(today) else 'in force'} |"
            for e in info.exceptions
        ),
        "",
        "## CIS Debian Linux 12 Benchmark v1.1.0, Level 1 - Server",
        "",
        "Each id the kit implements (a task of roles/hardening), tests (a testinfra test) or excepts (above, "
        "finding `cis_<id>`), with this run's result of the testinfra row that holds its tests.",
        "",
        "| CIS id | state | tests | result in this run |",
        "|---|---|---|---|",
        *(
            f"| {item['id']} | {item['state']} | {', '.join(f'`{t}`' for t in item['tests']) or '-'} | "
            f"{'; '.join(item['result']) or '-'} |"
            for item in cis_results(rows)
        ),
        "",
        "## Trust Services Criteria covered, and why",
        "",
        "| criterion | what it asks | control (status): why it is evidence |",
        "|---|---|---|",
    ]
    reasons = reasons_by_control()
    for criterion, meaning in CRITERIA.items():
        covering = [r for r in rows if criterion in r.criteria and r.status != NOT_APPLICABLE]
        if covering:
            names = "; ".join(
                f"{r.title} ({STATUS_LABEL[r.status]}): {reasons.get(r.control_id, {}).get(criterion, '')}"
                for r in covering
            )
            out.append(f"| {criterion} | {meaning} | {_md_cell(names)} |")
    out += ["", "## Checks", ""]
    for result in results:
        out += [
            f"### {result.title} — {STATUS_LABEL[result.status]}",
            "",
            f"- Check id: `{result.check_id}`; criteria: {', '.join(result.criteria)}; "
            f"took {result.duration_s:.1f} s",
            f"- Result: {result.summary}",
        ]
        for key, value in result.figures.items():
            shown = json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)
            out.append(f"- {key}: {shown}")
        if result.attachments:
            out.append(
                "- Raw output: " + ", ".join(f"[{a.name}](attachments/{a.name})" for a in result.attachments)
            )
        out.append("")
    return "\n".join(out)


def render_json(
    info: RunInfo, results: Sequence[CheckResult], not_applicable: Sequence[ControlRow] = ()
) -> str:
    rows = all_rows(info, results, not_applicable)
    data = {
        "env": info.env,
        "web": info.web,
        "not_production": banner(info.env),
        "started": info.started.isoformat(),
        "ended": info.ended.isoformat(),
        "target": info.target,
        **info.provenance.as_dict(),
        "thresholds_file": info.thresholds_file,
        "extra": dict(info.extra),
        "passed": exit_code(rows) == 0,
        "exit_code": exit_code(rows),
        "summary": counts_line(rows),
        "controls": [
            {
                "id": row.control_id,
                "title": row.title,
                "test": row.test,
                "criteria": list(row.criteria),
                "status": row.status,
                "summary": row.summary,
            }
            for row in rows
        ],
        "exceptions": [item.as_dict(info.started.date()) for item in info.exceptions],
        "cis_debian12_l1": cis_results(rows),
        "criteria": {k: v for k, v in CRITERIA.items() if any(k in r.criteria for r in rows)},
        "checks": [r.as_dict() for r in results],
    }
    return json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"


def write_report(
    base: Path,
    info: RunInfo,
    results: Sequence[CheckResult],
    scrubber: Scrubber,
    not_applicable: Sequence[ControlRow] = (),
) -> Path:
    """Writes the scrubbed folder and returns it; raises SecretLeakError (folder removed) on a leak."""
    for result in results:
        result.summary = scrubber.scrub(result.summary)
        result.figures = json.loads(scrubber.scrub(json.dumps(result.figures, default=str)))
        for attachment in result.attachments:
            attachment.name = attachment_name(result.check_id, attachment.name)
            attachment.content = scrubber.scrub(attachment.content)
    folder = base / info.env / utc_stamp(info.started)
    (folder / "attachments").mkdir(parents=True, exist_ok=False)
    try:
        for result in results:
            for attachment in result.attachments:
                (folder / "attachments" / attachment.name).write_text(attachment.content, encoding="utf-8")
        markdown = render_markdown(info, results, not_applicable)
        (folder / "report.md").write_text(scrubber.scrub(markdown), encoding="utf-8")
        as_json = render_json(info, results, not_applicable)
        (folder / "report.json").write_text(scrubber.scrub(as_json), encoding="utf-8")
        scrubber.scan_folder(folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder
