"""Runs the checks with a progress line each, then writes the evidence folder and the summary table."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from .. import ROOT, KitError
from .context import Context
from .registry import Check
from .report import CRITERIA, RunInfo, terminal_table, write_report
from .result import ERROR, INFO, PASS, CheckError, CheckResult, Outcome
from .secrets import Scrubber

EVIDENCE_DIR = ROOT / "evidence"
LABEL = {PASS: "PASS", INFO: "INFO", ERROR: "ERROR", "fail": "FAIL"}


def run_check(check: Check, ctx: Context) -> CheckResult:
    started = time.monotonic()
    attachments = []
    try:
        outcome, attachments = check.run(ctx)
    except (CheckError, KitError) as error:
        outcome = Outcome(ERROR, f"could not run: {getattr(error, 'what', None) or error}")
    except Exception as error:  # a bug in a check must not stop the others, and must not pass
        outcome = Outcome(ERROR, f"the check crashed: {type(error).__name__}: {error}")
        from .result import Attachment

        attachments = [Attachment("traceback.txt", traceback.format_exc())]
    for criterion in check.criteria:
        if criterion not in CRITERIA:
            raise KitError(
                f"check {check.check_id} names unknown criterion {criterion}", "add it to report.CRITERIA"
            )
    return CheckResult(
        check_id=check.check_id,
        title=check.title,
        criteria=check.criteria,
        status=outcome.status,
        summary=outcome.summary,
        figures=outcome.figures,
        attachments=list(attachments),
        duration_s=time.monotonic() - started,
    )


def git_commit() -> str:
    try:
        done = subprocess.run(  # noqa: S603
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"


def run_all(
    ctx: Context,
    checks: Sequence[Check],
    scrubber: Scrubber,
    *,
    evidence_dir: Path = EVIDENCE_DIR,
    out: TextIO = sys.stderr,
    extra: dict[str, str] | None = None,
) -> tuple[int, Path]:
    """Runs every check (a failure does not stop the others); returns (exit code, evidence folder)."""
    started = datetime.now(UTC)
    results: list[CheckResult] = []
    print(
        f"==> make verify ENV={ctx.env} WEB={ctx.web}: {len(checks)} checks against {ctx.site.display}",
        file=out,
        flush=True,
    )
    for number, check in enumerate(checks, start=1):
        print(f"==> [{number}/{len(checks)}] {check.title} ...", file=out, flush=True)
        result = run_check(check, ctx)
        # The progress line shows the scrubbed summary: no secret on the terminal either.
        summary = scrubber.scrub(result.summary)
        print(f"    {LABEL[result.status]} in {result.duration_s:.1f} s: {summary}", file=out, flush=True)
        results.append(result)
    info = RunInfo(
        env=ctx.env,
        web=ctx.web,
        started=started,
        target=ctx.site.display,
        commit=git_commit(),
        thresholds_file=str(Path(ctx.thresholds.source).resolve().relative_to(ROOT))
        if Path(ctx.thresholds.source).resolve().is_relative_to(ROOT)
        else ctx.thresholds.source,
        extra={**(extra or {}), "Secret values (and parts) scrubbed": str(len(scrubber))},
    )
    folder = write_report(evidence_dir, info, results, scrubber)
    print("", file=out)
    print(scrubber.scrub(terminal_table(results)), file=out)
    shown = folder.relative_to(evidence_dir.parent) if folder.is_relative_to(evidence_dir.parent) else folder
    print(
        f"Evidence: {shown}/report.md (and report.json, attachments/)",
        file=out,
        flush=True,
    )
    return (1 if any(result.failed for result in results) else 0), folder


def scratch_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="soc2kit-verify-")
