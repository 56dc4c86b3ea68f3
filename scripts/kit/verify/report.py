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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .result import ERROR, FAIL, INFO, PASS, CheckResult
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
STATUS_LABEL = {PASS: "PASS", FAIL: "FAIL", ERROR: "ERROR", INFO: "INFO"}


def utc_stamp(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


def attachment_name(check_id: str, name: str) -> str:
    return _SAFE_NAME.sub("_", f"{check_id}--{name}")


@dataclass(frozen=True)
class RunInfo:
    env: str
    web: str
    started: datetime
    target: str
    commit: str
    thresholds_file: str
    extra: Mapping[str, Any]


def summary_rows(results: Sequence[CheckResult]) -> list[tuple[str, str, str, str]]:
    return [
        (STATUS_LABEL[result.status], result.title, ", ".join(result.criteria), result.summary)
        for result in results
    ]


def terminal_table(results: Sequence[CheckResult]) -> str:
    rows = [("STATUS", "CHECK", "TSC", "RESULT"), *summary_rows(results)]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}" for row in rows]
    failed = sum(result.failed for result in results)
    lines.append(
        f"{len(results)} checks: {sum(r.status == PASS for r in results)} passed, "
        f"{failed} failed or could not run, {sum(r.status == INFO for r in results)} informational"
    )
    return "\n".join(lines)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(info: RunInfo, results: Sequence[CheckResult]) -> str:
    failed = [r for r in results if r.failed]
    verdict = "ALL CONTROLS VERIFIED" if not failed else f"{len(failed)} CHECK(S) NOT PASSED"
    out = [
        f"# SOC2 control verification: ENV={info.env}",
        "",
        f"- Result: **{verdict}**",
        f"- Run started: {info.started.strftime('%Y-%m-%d %H:%M:%S UTC')}",
        f"- Target: {info.target} (web server: {info.web})",
        f"- Kit commit: `{info.commit}`",
        f"- Thresholds: `{info.thresholds_file}`",
        *(f"- {key}: {value}" for key, value in info.extra.items()),
        "",
        "## Summary",
        "",
        "| status | check | criteria | result |",
        "|---|---|---|---|",
        *(f"| {s} | {_md_cell(t)} | {c} | {_md_cell(r)} |" for s, t, c, r in summary_rows(results)),
        "",
        "## Trust Services Criteria covered",
        "",
        "| criterion | what it asks | checks (status) |",
        "|---|---|---|",
    ]
    for criterion, meaning in CRITERIA.items():
        covering = [r for r in results if criterion in r.criteria]
        if covering:
            names = "; ".join(f"{r.title} ({STATUS_LABEL[r.status]})" for r in covering)
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


def render_json(info: RunInfo, results: Sequence[CheckResult]) -> str:
    data = {
        "env": info.env,
        "web": info.web,
        "started": info.started.isoformat(),
        "target": info.target,
        "commit": info.commit,
        "thresholds_file": info.thresholds_file,
        "extra": dict(info.extra),
        "passed": not any(r.failed for r in results),
        "criteria": {k: v for k, v in CRITERIA.items() if any(k in r.criteria for r in results)},
        "checks": [r.as_dict() for r in results],
    }
    return json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"


def write_report(base: Path, info: RunInfo, results: Sequence[CheckResult], scrubber: Scrubber) -> Path:
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
        (folder / "report.md").write_text(scrubber.scrub(render_markdown(info, results)), encoding="utf-8")
        (folder / "report.json").write_text(scrubber.scrub(render_json(info, results)), encoding="utf-8")
        scrubber.scan_folder(folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder
