"""App checks on the host, through the django_app role's manage wrapper (the app user, the service's
environment and secrets, production settings): `check --deploy`, the audit chain, data-key ages."""

from __future__ import annotations

import json
import re
import shlex
from datetime import UTC, datetime
from typing import Any

import yaml

from .. import local
from .context import Context
from .result import ERROR, FAIL, INFO, PASS, Attachment, CheckError, Outcome

MANAGE = local.MANAGE_COMMAND
_ISSUES = re.compile(r"System check identified (\d+|no) issues?")
_ISSUE_ID = re.compile(r"^\s*\S+: \((\w+\.[A-Z]\d{3})\)", re.MULTILINE)
HSTS_PRELOAD_WARNING = "security.W021"
_CHAIN_OK = re.compile(r"audit chain OK: (\d+) entries verified")
# Read-only listing of the data keys (no key material): the encryption app has no JSON listing command.
KEY_LISTING = (
    "import json\n"
    "from soc2kit.encryption.models import DataKey\n"
    "print('KEYS-JSON ' + json.dumps([{'version': k.version, 'key_id': k.key_id,"
    " 'kek_backend': k.kek_backend,"
    " 'kek_id': k.kek_id, 'created_at': k.created_at.isoformat(),"
    " 'rewrapped_at': k.rewrapped_at.isoformat() if k.rewrapped_at else None}"
    " for k in DataKey.objects.order_by('version')]))\n"
)


def manage(ctx: Context, host: str, *args: str) -> tuple[int, str]:
    done = ctx.hosts.run(host, f"{MANAGE} {shlex.join(args)}")
    if done.returncode in (2, 127) and ("no release at" in done.output or "not found" in done.output):
        raise CheckError(f"the app is not deployed on {host}: {done.output.strip()[-200:]}")
    return done.returncode, done.output


def accepted_decisions(ctx: Context) -> dict[str, str]:
    """check --deploy warnings that are a documented decision of this ENV, with the decision.

    Only W021 (no HSTS preload), and only where the AWS inventory declines preload explicitly:
    `soc2kit_hsts_preload: false` in its site.yml. An unset or non-boolean value accepts nothing.
    """
    if ctx.inventory is None:
        return {}
    site = ctx.inventory / "group_vars" / "app_hosts" / "site.yml"
    try:
        data = yaml.safe_load(site.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    if isinstance(data, dict) and data.get("soc2kit_hsts_preload") is False:
        shown = "/".join(site.parts[-6:])
        return {HSTS_PRELOAD_WARNING: f"HSTS preload declined (soc2kit_hsts_preload: false in {shown})"}
    return {}


def evaluate_check_deploy(
    outputs: dict[str, tuple[int, str]], accepted: dict[str, str] | None = None
) -> Outcome:
    """Every host must report no issue, apart from the `accepted` ones (issue id -> documented decision)."""
    accepted = accepted or {}
    figures: dict[str, Any] = {}
    if not outputs:
        return Outcome(ERROR, "nothing was checked: no app host")
    problems = []
    decisions: set[str] = set()
    for host, (code, output) in outputs.items():
        match = _ISSUES.search(output)
        issues = 0 if match and match.group(1) == "no" else int(match.group(1)) if match else None
        ids = _ISSUE_ID.findall(output)
        figures[host] = {"exit_status": code, "issues": issues, "issue_ids": ids}
        if issues is None:
            problems.append(f"{host}: check did not complete (exit {code}): {output.strip()[-200:]}")
        elif issues and len(ids) == issues and all(issue in accepted for issue in ids):
            figures[host]["accepted"] = {issue: accepted[issue] for issue in ids}
            decisions.update(accepted[issue] for issue in ids)
        elif issues or code != 0:
            found = [line.strip() for line in output.splitlines() if re.match(r"\s*\?: \(|\s*\S+: \(", line)]
            problems.append(f"{host}: {issues} issue(s) {'; '.join(found[:4])}")
    if problems:
        status = ERROR if all(f["issues"] is None for f in figures.values()) else FAIL
        return Outcome(status, "; ".join(problems), figures)
    summary = "manage.py check --deploy (production settings): no issues on " + ", ".join(outputs)
    if decisions:
        summary += " other than the documented decision: " + "; ".join(sorted(decisions))
    return Outcome(PASS, summary, figures)


def check_deploy(ctx: Context) -> tuple[Outcome, list[Attachment]]:
    outputs = {
        host: manage(ctx, host, "check", "--deploy", "--fail-level", "WARNING") for host in ctx.hosts.names
    }
    attachments = [Attachment(f"{host}-check-deploy.txt", output) for host, (_, output) in outputs.items()]
    return evaluate_check_deploy(outputs, accepted_decisions(ctx)), attachments


def evaluate_audit_chain(outputs: dict[str, tuple[int, str]]) -> Outcome:
    figures: dict[str, Any] = {}
    broken = []
    for host, (code, output) in outputs.items():
        match = _CHAIN_OK.search(output)
        if code == 0 and match:
            figures[host] = {"entries_verified": int(match.group(1))}
        else:
            line = next(
                (ln.strip() for ln in output.splitlines() if "audit chain" in ln), output.strip()[-200:]
            )
            figures[host] = {"exit_status": code, "error": line}
            broken.append(f"{host}: {line}")
    if broken:
        return Outcome(FAIL, "; ".join(broken), figures)
    if not any(f["entries_verified"] for f in figures.values()):
        # An empty chain proves nothing about tampering: never a pass.
        return Outcome(
            ERROR,
            "nothing was checked: the audit chain has 0 entries (no audited action yet; "
            "log in to the app once and run again)",
            figures,
        )
    counts = ", ".join(f"{h} {f['entries_verified']} entries" for h, f in figures.items())
    return Outcome(PASS, f"audit chain intact: {counts}", figures)


def audit_chain(ctx: Context) -> tuple[Outcome, list[Attachment]]:
    # The chain lives in the one database: verifying from the first host is enough.
    host = ctx.hosts.names[0]
    outputs = {host: manage(ctx, host, "verify_audit_chain")}
    return evaluate_audit_chain(outputs), [Attachment(f"{host}-verify-audit-chain.txt", outputs[host][1])]


def parse_key_listing(output: str) -> list[dict[str, Any]]:
    for line in output.splitlines():
        if line.startswith("KEYS-JSON "):
            return list(json.loads(line[len("KEYS-JSON ") :]))
    raise CheckError(f"the data-key listing printed no result: {output.strip()[-300:]}")


def evaluate_key_ages(keys: list[dict[str, Any]], max_days: int, now: datetime | None = None) -> Outcome:
    now = now or datetime.now(UTC)
    rows = []
    for key in keys:
        created = datetime.fromisoformat(key["created_at"])
        rows.append(
            {
                "version": key["version"],
                "key_id": key["key_id"],
                "wrapped_by": f"{key['kek_backend']}:{key['kek_id']}",
                "age_days": round((now - created).total_seconds() / 86400, 1),
                "rewrapped_at": key.get("rewrapped_at"),
            }
        )
    figures: dict[str, Any] = {"max_age_days": max_days, "data_keys": rows}
    if not rows:
        return Outcome(
            INFO,
            "no field-encryption data key yet (the first is created at the first encrypted write)",
            figures,
        )
    active = rows[-1]
    if active["age_days"] > max_days:
        return Outcome(
            FAIL,
            f"active data key v{active['version']} is {active['age_days']} days old (> {max_days}): "
            "run `manage.py rotate_field_keys`",
            figures,
        )
    return Outcome(
        PASS,
        f"{len(rows)} data key version(s); active v{active['version']} is {active['age_days']} days old "
        f"(limit {max_days})",
        figures,
    )


def key_ages(ctx: Context) -> tuple[Outcome, list[Attachment]]:
    host = ctx.hosts.names[0]
    code, output = manage(ctx, host, "shell", "-c", KEY_LISTING)
    if code != 0:
        raise CheckError(f"listing the data keys on {host} failed (exit {code}): {output.strip()[-300:]}")
    keys = parse_key_listing(output)
    return evaluate_key_ages(keys, ctx.thresholds.key_max_age_days), [
        Attachment(f"{host}-data-keys.json", json.dumps(keys, indent=2))
    ]
