"""The testinfra suite (molecule/tests: every role's controls) against the deployed hosts, with JUnit XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from .. import MOLECULE_DIR, local
from ..livecheck import live_check
from .context import Context
from .controls import SUITE_CONTROLS, disruptive, suite_control
from .hosts import run_local
from .result import ERROR, FAIL, NOT_APPLICABLE, PASS, Attachment, ControlRow, Outcome

# Plain text in the attachment (no terminal colour codes).
NO_COLOUR = {"NO_COLOR": "1", "PY_COLORS": "0", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}


def module_of(classname: str) -> str:
    """`test_hardening` or `tests.test_hardening` (or a class inside it) -> `hardening`."""
    parts = [part for part in classname.split(".") if part.startswith("test_")]
    return parts[-1].removeprefix("test_") if parts else classname or "unknown"


def parse_junit(xml_text: str) -> dict[str, Any]:
    root = ET.fromstring(xml_text)  # noqa: S314
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    failed: list[str] = []
    modules: dict[str, dict[str, Any]] = {}
    for suite in suites:
        for key in totals:
            totals[key] += int(suite.get(key, 0))
        for case in suite.iter("testcase"):
            counts = modules.setdefault(
                module_of(case.get("classname", "")),
                {"tests": 0, "failed": 0, "skipped": 0, "failed_tests": [], "skip_reasons": []},
            )
            counts["tests"] += 1
            if case.find("failure") is not None or case.find("error") is not None:
                failed.append(f"{case.get('classname', '')}::{case.get('name', '')}")
                counts["failed"] += 1
                counts["failed_tests"].append(case.get("name", ""))
            elif (skipped := case.find("skipped")) is not None:
                counts["skipped"] += 1
                reason = skipped.get("message", "")
                if reason and reason not in counts["skip_reasons"]:
                    counts["skip_reasons"].append(reason)
    return {**totals, "failed_tests": failed, "modules": modules}


def control_rows(modules: dict[str, dict[str, Any]]) -> list[ControlRow]:
    """One row per test module: failed if any test failed, not applicable if every test was skipped."""
    rows = []
    for module, counts in sorted(modules.items()):
        known = suite_control(module)
        if known is not None and not known.criteria:
            continue  # test infrastructure (the local ACME server): in the JUnit, not a control row
        passed = counts["tests"] - counts["failed"] - counts["skipped"]
        summary = f"{passed} passed, {counts['failed']} failed, {counts['skipped']} skipped"
        if counts["failed"]:
            status = FAIL
            summary += ": " + ", ".join(counts["failed_tests"][:5])
        elif passed == 0:
            # Nothing was checked: never a pass.
            status = NOT_APPLICABLE
            summary = f"all {counts['skipped']} tests skipped: {'; '.join(counts['skip_reasons'][:3])}"
        else:
            status = PASS
        rows.append(
            ControlRow(
                control_id=f"testinfra:{module}",
                title=known.title if known else f"test_{module}.py (not in registry.SUITE_CONTROLS)",
                criteria=known.criteria if known else (),
                test=f"molecule/tests/test_{module}.py",
                status=status,
                summary=summary,
            )
        )
    for item in SUITE_CONTROLS:
        if item.module not in modules and item.criteria:
            if item.runs_only:
                reason = f"runs in {item.runs_only}"
            elif disruptive(item.module):
                reason = (
                    "marked disruptive: it changes what it tests, so it runs in the molecule scenarios only"
                )
            else:
                reason = "no test of this module ran in this deployment (not collected for its scenario)"
            rows.append(
                ControlRow(
                    f"testinfra:{item.module}",
                    item.title,
                    item.criteria,
                    item.path,
                    NOT_APPLICABLE,
                    reason,
                )
            )
    return rows


def evaluate_suite(xml_text: str, returncode: int, output: str = "") -> Outcome:
    if not xml_text.strip():
        reason = ""
        if returncode < 0 or "Return code: -" in output:
            reason = "pytest was killed before it finished (a signal from outside the run); "
        last = [line.strip() for line in output.splitlines() if line.strip()][-2:]
        return Outcome(
            ERROR,
            f"the testinfra run wrote no JUnit report (exit {returncode}): {reason}"
            f"last output: {' / '.join(last)}",
        )
    figures = parse_junit(xml_text)
    passed = figures["tests"] - figures["failures"] - figures["errors"] - figures["skipped"]
    figures["passed"] = passed
    summary = (
        f"{passed} passed, {figures['failures']} failed, {figures['errors']} errors, "
        f"{figures['skipped']} skipped of {figures['tests']} controls"
    )
    rows = control_rows(figures.pop("modules"))
    if figures["tests"] == 0 or passed == 0:
        # Nothing was checked (no test, or every test skipped): never a pass.
        return Outcome(ERROR, f"no testinfra test ran ({summary})", figures, rows)
    if figures["failures"] or figures["errors"] or returncode != 0:
        names = ", ".join(figures["failed_tests"][:5])
        return Outcome(
            FAIL, summary + (f": {names}" if names else f" (pytest exit {returncode})"), figures, rows
        )
    return Outcome(PASS, summary, figures, rows)


def testinfra(ctx: Context) -> tuple[Outcome, list[Attachment]]:
    junit = ctx.scratch / "testinfra-junit.xml"
    # The live deployment is checked, never changed (livecheck leaves the disruptive tests out).
    if ctx.is_local:
        check = live_check(scenario=local.scenario_for(ctx.web).name, junit=junit)
        done = run_local(
            check.command,
            env={**local.molecule_env(), **NO_COLOUR, **check.env},
            timeout=1800,
            cwd=MOLECULE_DIR.parent,
        )
    else:
        check = live_check(inventory=ctx.inventory, junit=junit)
        done = run_local(check.command, env={**ctx.environ, **NO_COLOUR, **check.env}, timeout=1800)
    xml_text = junit.read_text(encoding="utf-8") if junit.is_file() else ""
    attachments = [Attachment("testinfra-output.txt", done.output)]
    if xml_text:
        attachments.append(Attachment("testinfra-junit.xml", xml_text))
    return evaluate_suite(xml_text, done.returncode, done.output), attachments
