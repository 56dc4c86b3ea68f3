"""The testinfra suite (molecule/tests: every role's controls) against the deployed hosts, with JUnit XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from .. import MOLECULE_DIR, local
from ..livecheck import live_check
from .context import Context
from .hosts import run_local
from .result import ERROR, FAIL, PASS, Attachment, Outcome

# Plain text in the attachment (no terminal colour codes).
NO_COLOUR = {"NO_COLOR": "1", "PY_COLORS": "0", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}


def parse_junit(xml_text: str) -> dict[str, Any]:
    root = ET.fromstring(xml_text)  # noqa: S314
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    failed: list[str] = []
    for suite in suites:
        for key in totals:
            totals[key] += int(suite.get(key, 0))
        for case in suite.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed.append(f"{case.get('classname', '')}::{case.get('name', '')}")
    return {**totals, "failed_tests": failed}


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
    if figures["tests"] == 0:
        return Outcome(ERROR, "no testinfra test ran", figures)
    if figures["failures"] or figures["errors"] or returncode != 0:
        names = ", ".join(figures["failed_tests"][:5])
        return Outcome(FAIL, summary + (f": {names}" if names else f" (pytest exit {returncode})"), figures)
    return Outcome(PASS, summary, figures)


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
