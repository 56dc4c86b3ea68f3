"""Assembles, signs and verifies the evidence bundle of a period.

Layout (every file is listed with its SHA-256 in manifest.json, whose signature is manifest.sig.json):
  README.md                 the report for people: who, when, period, per control, CC1..CC9, deploy history
  summary.json              the same for tools
  assessment-results.json   OSCAL 1.1 assessment-results (validated with compliance-trestle)
  timeline.html             per control, pass/fail per day and host (inline SVG, no script)
  daily-results.jsonl       the daily check results of the period, as received
  manual/CC<n>.md           what a person supplies for the criteria the kit cannot evidence
  verify-reports/<time>/    the make verify folders of the period (report.md, report.json, attachments/)
  signing-public-key.pem    ENV=local: the public half of the local signing key
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import KitError
from ..verify import exceptions
from ..verify.provenance import Provenance, banner
from ..verify.report import utc_stamp
from ..verify.secrets import Scrubber
from . import criteria, history, oscal, timeline
from .daily import DailyResult
from .period import ControlStats, Period, control_stats
from .signing import PUBLIC_KEY_FILE, LocalSigner, Signer
from .signing import verify as verify_signature

MANIFEST, SIGNATURE = "manifest.json", "manifest.sig.json"


@dataclass
class Gathered:
    env: str
    period: Period
    daily: list[DailyResult]
    verify_reports: list[Path]
    commits: list[history.Commit]
    converges: list[history.Converge]
    provenance: Provenance
    started: datetime
    sources: dict[str, str] = field(default_factory=dict)  # what was read, from where


def verify_reports_in(evidence_env_dir: Path, period: Period) -> list[Path]:
    """The make verify folders (evidence/<ENV>/<time>/) whose run started in the period."""
    found = []
    for report in sorted(evidence_env_dir.glob("*/report.json")):
        try:
            started = datetime.fromisoformat(json.loads(report.read_text(encoding="utf-8"))["started"])
        except (ValueError, KeyError):
            continue
        if period.start <= started < period.end:
            found.append(report.parent)
    return found


def verify_runs(folders: Sequence[Path]) -> dict[str, Counter[str]]:
    """control id -> status counts over the make verify runs (a report row per control)."""
    counts: dict[str, Counter[str]] = {}
    for folder in folders:
        data = json.loads((folder / "report.json").read_text(encoding="utf-8"))
        rows = data.get("controls") or data.get("checks") or []
        for row in rows:
            counts.setdefault(row["id"], Counter())[row["status"]] += 1
    return counts


def period_status(stats: ControlStats) -> str:
    if stats.runs == 0:
        return "no result"
    return "fail" if stats.failures else "pass"


def control_rows(stats: Sequence[ControlStats], verify: dict[str, Counter[str]]) -> list[dict[str, Any]]:
    mappings = criteria.control_mappings()
    rows = []
    for item in stats:
        control_id = f"daily:{item.control}"
        fixes = [d.hours_to_fix() for d in item.drifts if d.fixed_at is not None]
        unfixed = sum(d.fixed_at is None for d in item.drifts)
        rows.append(
            {
                "id": control_id,
                "title": f"Daily check {item.control}",
                "criteria": list(mappings.get(control_id, {})),
                "status": period_status(item),
                "population": item.population,
                "runs": item.runs,
                "failures": item.failures,
                "missed_host_days": item.missed,
                "time_to_fix_hours": fixes,
                "unfixed_at_end": unfixed,
                "description": (
                    f"{item.runs} runs of {item.population} expected (hosts x days), "
                    f"{item.failures} failed, {len(item.drifts)} drift(s), "
                    f"fixes took {fixes or 'n/a'} h, {unfixed} unfixed at the end"
                ),
                "evidence": ["daily-results.jsonl", "timeline.html"],
            }
        )
    seen = {item.control for item in stats}
    for control in sorted(set(criteria.DAILY_CONTROLS) - seen):
        rows.append(
            {
                "id": f"daily:{control}",
                "title": f"Daily check {control}",
                "criteria": list(criteria.DAILY_CONTROLS[control]),
                "status": "no result",
                "population": None,
                "runs": 0,
                "failures": 0,
                "missed_host_days": None,
                "time_to_fix_hours": [],
                "unfixed_at_end": None,
                "description": "no result in the period: the daily check did not run on any host, or its "
                "results never reached the log pipeline (nothing is claimed for it)",
                "evidence": [],
            }
        )
    for control_id, counts in sorted(verify.items()):
        runs = sum(counts.values())
        status = "fail" if counts.get("fail") else "pass" if counts.get("pass") else "no result"
        rows.append(
            {
                "id": control_id,
                "title": f"make verify: {control_id}",
                "criteria": list(mappings.get(control_id, {})),
                "status": status,
                "population": runs,
                "runs": runs,
                "failures": counts.get("fail", 0),
                "missed_host_days": None,
                "time_to_fix_hours": [],
                "unfixed_at_end": None,
                "description": "make verify runs: "
                + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())),
                "evidence": ["verify-reports/"],
            }
        )
    accepted = _exceptions_text()
    for row in rows:
        row["exceptions"] = [
            f"{e['finding']} (owner {e['owner']}, expires {e['expires']}"
            + (", EXPIRED)" if e["expired"] else ")")
            for e in accepted
            if e["control"] == row["id"]
        ]
    return rows


def _exceptions_text() -> list[dict[str, Any]]:
    today = datetime.now(UTC).date()
    return [item.as_dict(today) for item in exceptions.load()]


def _dash(value: object) -> str:
    return "-" if value is None else str(value)


def _control_line(r: dict[str, Any]) -> str:
    cells = [
        r["id"],
        ", ".join(r["criteria"]) or "not mapped",
        r["status"].upper(),
        _dash(r["population"]),
        str(r["runs"]),
        str(r["failures"]),
        ", ".join(str(h) for h in r["time_to_fix_hours"]) or "-",
        _dash(r["unfixed_at_end"]),
        "; ".join(r["exceptions"]) or "-",
    ]
    return "| " + " | ".join(cells) + " |"


def render_readme(
    g: Gathered, rows: Sequence[dict[str, Any]], cc: Sequence[dict[str, Any]], ended: datetime
) -> str:
    who = g.provenance
    out = [f"# SOC2 evidence bundle: ENV={g.env}, {g.period.label()}", ""]
    if banner(g.env):
        out += [f"> **{banner(g.env)}**", ""]
    out += [
        *who.markdown_lines("Assembled by", g.started, ended),
        *(f"- {name}: {where}" for name, where in g.sources.items()),
        "",
        "## Per control",
        "",
        "Population: the runs expected (one per host and day for the daily checks; each make verify run).",
        "",
        "| control | criteria | period | population | runs | failures | time to fix (h) | unfixed "
        "| exceptions |",
        "|---|---|---|---|---|---|---|---|---|",
        *(_control_line(r) for r in rows),
        "",
    ]
    if not any(r["runs"] for r in rows):
        out += ["**No control result in this period: nothing here is evidence that a control worked.**", ""]
    out += [
        "## Exceptions (scripts/kit/verify/exceptions.yml)",
        "",
        "| control | finding | reason | owner | expires | expired |",
        "|---|---|---|---|---|---|",
        *(
            f"| {e['control']} | {e['finding']} | {e['reason']} | {e['owner']} | {e['expires']} | "
            f"{'YES (a failure)' if e['expired'] else 'no'} |"
            for e in _exceptions_text()
        ),
        "",
        "## SOC2 common criteria CC1..CC9",
        "",
        "| criterion | coverage | automated by (controls with results in the period) | "
        "manual: what a person supplies | not applicable |",
        "|---|---|---|---|---|",
        *(
            f"| {c['criterion']} {c['title']} | {c['coverage']} | "
            f"{'; '.join(f'{p}: ' + ', '.join(ids) for p, ids in c['automated'].items()) or '-'} | "
            f"[manual/{c['criterion']}.md](manual/{c['criterion']}.md) {c['manual_template']} | "
            f"{c['not_applicable'] or '-'} |"
            for c in cc
        ),
        "",
        "## Deploy history",
        "",
        history.NOT_GATHERED,
        "",
        f"Commits of the kit in the period ({len(g.commits)}):",
        "",
        *(
            [
                f"- {c.time.strftime('%Y-%m-%d %H:%M')} `{c.sha[:12]}` {c.author}: {c.subject}"
                for c in g.commits
            ]
            or ["- none"]
        ),
        "",
        f"Converges run from this machine (.cache/logs) in the period ({len(g.converges)}):",
        "",
        *(
            [f"- {c.time.strftime('%Y-%m-%d %H:%M')} {c.scenario} ({c.log})" for c in g.converges]
            or ["- none"]
        ),
        "",
        "## Verify it",
        "",
        "`make evidence-verify BUNDLE=<this folder>`: every file's SHA-256 against manifest.json, and the "
        "manifest's signature (manifest.sig.json).",
        "",
    ]
    return "\n".join(out)


def manual_template(criterion: dict[str, Any], g: Gathered) -> str:
    return "\n".join(
        [
            f"# {criterion['criterion']} {criterion['title']}: evidence supplied by a person",
            "",
            f"Period: {g.period.label()} (ENV={g.env})",
            "",
            f"What to supply: {criterion['manual_template']}",
            "",
            "- Supplied by (name, role):",
            "- Date:",
            "- Documents (name, version, where kept):",
            "- Reviewed by (name, date):",
            "- Deviations in the period and what was done:",
            "",
        ]
    )


def _write(folder: Path, relative: str, text: str, scrubber: Scrubber) -> None:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(scrubber.scrub(text), encoding="utf-8")


def file_hashes(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name not in (MANIFEST, SIGNATURE)
    }


def assemble(g: Gathered, out_dir: Path, scrubber: Scrubber, signer: Signer, now: datetime) -> Path:
    """Writes the bundle (scrubbed, read back for secrets, signed); removes it on any error."""
    folder = out_dir / g.env / f"bundle-{g.period.since}_{g.period.until}-{utc_stamp(now)}"
    folder.mkdir(parents=True, exist_ok=False)
    try:
        stats = control_stats(g.daily, g.period)
        verify = verify_runs(g.verify_reports)
        rows = control_rows(stats, verify)
        evidenced = [r["id"] for r in rows if r["runs"]]
        cc = criteria.coverage(evidenced)
        _write(
            folder, "daily-results.jsonl", "".join(json.dumps(r.as_dict()) + "\n" for r in g.daily), scrubber
        )
        for source in g.verify_reports:
            target = folder / "verify-reports" / source.name
            for path in sorted(source.rglob("*")):
                if path.is_file():
                    text = path.read_bytes().decode("utf-8", errors="replace")
                    _write(target, path.relative_to(source).as_posix(), text, scrubber)
        daily_criteria = {s.control: list(criteria.DAILY_CONTROLS.get(s.control, {})) for s in stats}
        title = f"SOC2 controls, ENV={g.env}, {g.period.label()}"
        page = timeline.render(title, banner(g.env), g.period, stats, g.daily, daily_criteria)
        _write(folder, "timeline.html", page, scrubber)
        for item in cc:
            _write(folder, f"manual/{item['criterion']}.md", manual_template(item, g), scrubber)
        document = oscal.build(title, g.env, g.period, rows, now, banner(g.env))
        oscal.write(document, folder / "assessment-results.json")
        ended = datetime.now(now.tzinfo)
        summary = {
            "env": g.env,
            "not_production": banner(g.env),
            "period": {"since": g.period.since.isoformat(), "until": g.period.until.isoformat()},
            "started": g.started.isoformat(),
            "ended": ended.isoformat(),
            **g.provenance.as_dict(),
            "sources": g.sources,
            "controls": rows,
            "drifts": {s.control: s.as_dict()["drifts"] for s in stats},
            "unmapped_controls": criteria.unmapped(evidenced),
            "common_criteria": cc,
            "exceptions": _exceptions_text(),
            "deploy_history": {
                "not_gathered": history.NOT_GATHERED,
                "commits": [
                    {"sha": c.sha, "time": c.time.isoformat(), "author": c.author, "subject": c.subject}
                    for c in g.commits
                ],
                "converges": [
                    {"time": c.time.isoformat(), "scenario": c.scenario, "log": c.log} for c in g.converges
                ],
            },
        }
        _write(folder, "summary.json", json.dumps(summary, indent=2) + "\n", scrubber)
        _write(folder, "README.md", render_readme(g, rows, cc, ended), scrubber)
        if isinstance(signer, LocalSigner):
            _write(folder, PUBLIC_KEY_FILE, signer.public_key_pem(), scrubber)
        scrubber.scan_folder(folder)
        manifest = {
            "env": g.env,
            "period": summary["period"],
            "created": now.isoformat(),
            "algorithm": "sha256",
            "files": file_hashes(folder),
        }
        manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
        (folder / MANIFEST).write_bytes(manifest_bytes)
        (folder / SIGNATURE).write_text(
            json.dumps(signer.sign(manifest_bytes), indent=2) + "\n", encoding="utf-8"
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def verify_bundle(folder: Path, kms_client: Any = None, expected_public_key: Path | None = None) -> str:
    """Raises KitError naming every added, removed or changed file, or a bad signature; returns the signer."""
    if not (folder / MANIFEST).is_file() or not (folder / SIGNATURE).is_file():
        raise KitError(
            f"{folder} has no {MANIFEST} and {SIGNATURE}",
            "BUNDLE= must name a bundle folder of make evidence",
        )
    manifest_bytes = (folder / MANIFEST).read_bytes()
    try:
        signature = json.loads((folder / SIGNATURE).read_text(encoding="utf-8"))
        listed: dict[str, str] = json.loads(manifest_bytes)["files"]
    except (ValueError, KeyError) as error:
        raise KitError(
            f"the manifest or its signature is not valid JSON ({error})", "the bundle cannot be trusted"
        ) from error
    signer = verify_signature(manifest_bytes, signature, folder, kms_client)
    if (
        expected_public_key is not None
        and signature.get("algorithm") == "ed25519"
        and (folder / PUBLIC_KEY_FILE).read_bytes() != expected_public_key.read_bytes()
    ):
        raise KitError(
            f"the bundle is signed by another key than {expected_public_key}",
            "it was re-signed after it was made, or made on another machine: ask its maker for the key",
        )
    actual = file_hashes(folder)
    added = sorted(set(actual) - set(listed))
    removed = sorted(set(listed) - set(actual))
    changed = sorted(name for name in set(actual) & set(listed) if actual[name] != listed[name])
    if added or removed or changed:
        problems = [
            f"{label}: {', '.join(names)}"
            for label, names in (("added", added), ("removed", removed), ("changed", changed))
            if names
        ]
        raise KitError(
            "the bundle differs from its signed manifest: " + "; ".join(problems), "do not use it as evidence"
        )
    return signer
