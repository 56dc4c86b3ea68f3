"""Runs the checks with a progress line each, then writes the evidence folder and the summary table."""

from __future__ import annotations

import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from .. import REHEARSAL, ROOT, KitError
from . import registry
from .context import Context
from .provenance import Provenance, banner, collect
from .registry import Check
from .report import CRITERIA, RunInfo, all_rows, terminal_table, write_report
from .result import (
    ERROR,
    LABELS,
    NOT_APPLICABLE,
    Attachment,
    CheckError,
    CheckResult,
    ControlRow,
    Outcome,
    exit_code,
)
from .secrets import Scrubber

EVIDENCE_DIR = ROOT / "evidence"


def run_check(check: Check, ctx: Context) -> CheckResult:
    started = time.monotonic()
    attachments: list[Attachment] = []
    try:
        if ctx.env == REHEARSAL and check.not_in_rehearsal:
            raise CheckError(f"not in the rehearsal: {check.not_in_rehearsal}")
        outcome, attachments = check.run(ctx)
    except (CheckError, KitError) as error:
        outcome = Outcome(ERROR, f"could not run: {getattr(error, 'what', None) or error}")
    except Exception as error:  # a bug in a check must not stop the others, and must not pass
        outcome = Outcome(ERROR, f"the check crashed: {type(error).__name__}: {error}")
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
        test=check_test(check),
        controls=list(outcome.controls),
    )


def check_test(check: Check) -> str:
    """Where the check's verdict is computed: scripts/kit/verify/<module>.py::<function>."""
    module = check.run.__module__.rsplit(".", 1)[-1]
    return f"scripts/kit/verify/{module}.py::{getattr(check.run, '__name__', check.check_id)}"


def not_applicable_rows(env: str, only: set[str] | None) -> list[ControlRow]:
    return [
        ControlRow(check.check_id, check.title, check.criteria, check_test(check), NOT_APPLICABLE, reason)
        for check, reason in registry.not_applicable(env, only)
    ]


def run_all(
    ctx: Context,
    checks: Sequence[Check],
    scrubber: Scrubber,
    *,
    evidence_dir: Path = EVIDENCE_DIR,
    out: TextIO = sys.stderr,
    extra: dict[str, str] | None = None,
    only: set[str] | None = None,
    provenance: Provenance | None = None,
) -> tuple[int, Path]:
    """Runs every check (a failure does not stop the others); returns (exit code, evidence folder).

    Exit code: 0 every control that applies passed; 1 a control failed (an expired exception too);
    3 no control failed but at least one could not run."""
    known = {check.check_id for check in registry.CHECKS}
    for item in ctx.thresholds.exceptions:  # before any check runs: a typo must not waste a run
        if item.control not in known:
            raise KitError(
                f"exceptions.yml names unknown control {item.control!r}",
                f"use a check id: {', '.join(sorted(known))}",
            )
    started = datetime.now(UTC)
    who = provenance or collect(ctx.env)
    if banner(ctx.env):
        print(f"==> {banner(ctx.env)}", file=out, flush=True)
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
        print(f"    {LABELS[result.status]} in {result.duration_s:.1f} s: {summary}", file=out, flush=True)
        results.append(result)
    info = RunInfo(
        env=ctx.env,
        web=ctx.web,
        started=started,
        ended=datetime.now(UTC),
        target=ctx.site.display,
        provenance=who,
        exceptions=ctx.thresholds.exceptions,
        thresholds_file=str(Path(ctx.thresholds.source).resolve().relative_to(ROOT))
        if Path(ctx.thresholds.source).resolve().is_relative_to(ROOT)
        else ctx.thresholds.source,
        extra={**(extra or {}), "Secret values (and parts) scrubbed": str(len(scrubber))},
    )
    skipped = not_applicable_rows(ctx.env, only)
    folder = write_report(evidence_dir, info, results, scrubber, skipped)
    rows = all_rows(info, results, skipped)
    print("", file=out)
    print(scrubber.scrub(terminal_table(rows)), file=out)
    shown = folder.relative_to(evidence_dir.parent) if folder.is_relative_to(evidence_dir.parent) else folder
    print(
        f"Evidence: {shown}/report.md (and report.json, attachments/)",
        file=out,
        flush=True,
    )
    return exit_code(rows), folder


def scratch_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="soc2kit-verify-")
