"""Dependencies of the deployed app: pip-audit of its hash-locked requirements (no known vulnerability;
a package that could not be audited is not counted as clean), and the packages with newer releases
(informational, for the periodic review)."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .. import ROOT
from .context import Context
from .hosts import run_local
from .result import ERROR, FAIL, INFO, PASS, Attachment, Outcome

LOCK_FILE = ROOT / "app" / "requirements" / "base.txt"
PYPI_JSON = "https://pypi.org/pypi/{name}/json"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def locked_packages(text: str) -> dict[str, str]:
    return {name.lower(): version for name, version in _PIN.findall(text)}


def evaluate_pip_audit(json_text: str, ignore: dict[str, str], locked: Iterable[str] = ()) -> Outcome:
    """The verdict on one pip-audit run. A package is audited only when pip-audit reports it without a
    skip reason; ``locked`` (the lock file's names) catches packages missing from the report."""
    try:
        dependencies = json.loads(json_text)["dependencies"]
    except (ValueError, KeyError, TypeError):
        return Outcome(ERROR, "pip-audit wrote no JSON result; see its output")
    vulnerable: list[str] = []
    ignored: list[str] = []
    unaudited: list[str] = []
    for dep in dependencies:
        if dep.get("skip_reason"):
            unaudited.append(f"{dep['name']} ({dep['skip_reason']})")
            continue
        for vuln in dep.get("vulns", []):
            ids = [vuln["id"], *vuln.get("aliases", [])]
            fixed = ", ".join(vuln.get("fix_versions") or ["no fix yet"])
            entry = f"{dep['name']} {dep.get('version')}: {vuln['id']} (fixed in {fixed})"
            (ignored if any(i in ignore for i in ids) else vulnerable).append(entry)
    reported = {canonicalize_name(dep["name"]) for dep in dependencies}
    missing = sorted({canonicalize_name(name) for name in locked} - reported)
    unaudited.extend(f"{name} (locked but missing from pip-audit's report)" for name in missing)
    total = len(dependencies) + len(missing)
    figures: dict[str, Any] = {
        "packages": total,
        "audited": total - len(unaudited),
        "vulnerabilities": vulnerable,
        "ignored_by_thresholds": ignored,
        "not_audited": unaudited,
    }
    not_audited_note = ""
    if unaudited:  # any package, not only all of them: one unaudited package may be the vulnerable one
        names = ", ".join(u.split(" ")[0] for u in unaudited[:5])
        not_audited_note = (
            f"{len(unaudited)} of {total} packages could not be audited (e.g. {names}): the "
            "vulnerability service did not answer for them, so they are not counted as clean"
        )
    if vulnerable:
        summary = f"{len(vulnerable)} known vulnerabilit(y/ies): " + "; ".join(vulnerable[:3])
        return Outcome(FAIL, summary + (f"; and {not_audited_note}" if unaudited else ""), figures)
    if unaudited:
        return Outcome(ERROR, not_audited_note, figures)
    return Outcome(PASS, f"no known vulnerability in {total} locked packages", figures)


def pip_audit(ctx: Context, lock_file: Path = LOCK_FILE) -> tuple[Outcome, list[Attachment]]:
    out = ctx.scratch / "pip-audit.json"
    done = run_local(
        [
            ctx.environ.get("KIT_PIP_AUDIT", "pip-audit"),
            "-r",
            str(lock_file),
            "--require-hashes",
            "--disable-pip",
            "--format",
            "json",
            "--progress-spinner",
            "off",
            "-o",
            str(out),
        ],
        timeout=600,
    )
    json_text = out.read_text(encoding="utf-8") if out.is_file() else ""
    locked = locked_packages(lock_file.read_text(encoding="utf-8"))
    attachments = [Attachment("pip-audit.txt", done.output)]
    if json_text:
        attachments.append(Attachment("pip-audit.json", json_text))
    return evaluate_pip_audit(json_text, ctx.thresholds.pip_audit_ignore, locked), attachments


def fetch_latest(name: str) -> str:
    with urllib.request.urlopen(PYPI_JSON.format(name=name), timeout=15) as response:  # noqa: S310 (fixed https URL)
        return str(json.load(response)["info"]["version"])


def evaluate_outdated(locked: dict[str, str], latest: dict[str, str | None]) -> Outcome:
    newer, unknown = {}, []
    for name, version in sorted(locked.items()):
        found = latest.get(name)
        if found is None:
            unknown.append(name)
            continue
        try:
            if Version(found) > Version(version):
                newer[name] = f"{version} -> {found}"
        except InvalidVersion:
            unknown.append(name)
    figures: dict[str, Any] = {"newer_releases": newer, "not_looked_up": unknown, "packages": len(locked)}
    summary = f"{len(newer)} of {len(locked)} locked packages have newer releases"
    if newer:
        summary += ": " + ", ".join(f"{n} {v}" for n, v in list(newer.items())[:6])
    if unknown:
        summary += f"; {len(unknown)} could not be looked up"
    return Outcome(INFO, summary, figures)


def outdated(
    ctx: Context, lock_file: Path = LOCK_FILE, fetch: Callable[[str], str] = fetch_latest
) -> tuple[Outcome, list[Attachment]]:
    locked = locked_packages(lock_file.read_text(encoding="utf-8"))
    latest: dict[str, str | None] = {}
    errors = []
    for name in locked:
        try:
            latest[name] = fetch(name)
        except (OSError, ValueError, KeyError) as error:
            latest[name] = None
            errors.append(f"{name}: {error}")
    outcome = evaluate_outdated(locked, latest)
    record = {"locked": locked, "latest": latest, "errors": errors}
    return outcome, [Attachment("outdated.json", json.dumps(record, indent=2))]
