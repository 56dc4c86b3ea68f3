"""The SOC2 common criteria CC1..CC9 for the period: which are evidenced automatically by the kit's
controls, which need a person's evidence (with the template of what to supply), and why.

The daily checks' control ids (issue 16 §2) are mapped here like make verify's checks, each with its
reason; an id the daily timer writes that is missing here is reported as unmapped, never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..verify.controls import SUITE_CONTROLS
from ..verify.registry import CHECKS

# The daily, read-only host checks (issue 16 §2): control id -> {criterion: why}.
DAILY_CONTROLS: Mapping[str, Mapping[str, str]] = {
    "file_modes": {
        "CC6.1": "owners and modes of sensitive files (keys, secrets, configuration) stay restricted"
    },
    "sshd": {"CC6.1": "the running sshd (sshd -T) allows keys only and no root login"},
    "sysctl": {"CC6.6": "the running kernel's network settings (sysctl) refuse redirects and source routes"},
    "auditd_rules": {"CC7.2": "the loaded audit rules still record the required events"},
    "aide": {"CC7.2": "the AIDE database check detects changed system files"},
    "certificate_expiry": {"CC6.7": "the site certificate stays valid, so traffic stays encrypted"},
    "audit_chain": {"CC7.2": "the app's audit trail hash chain is intact"},
}


@dataclass(frozen=True)
class Criterion:
    series: str
    title: str
    automated_parts: tuple[str, ...]  # the points (CC6.1, ...) the kit's controls evidence
    manual: str  # what a person supplies for the rest
    not_applicable: str = ""  # why a part does not apply, where one does not


COMMON_CRITERIA: tuple[Criterion, ...] = (
    Criterion(
        "CC1",
        "Control environment (integrity and ethics, oversight, structure, competence, accountability)",
        (),
        "Code of conduct and its yearly acknowledgements; organisation chart with security roles; "
        "background checks and security training records of everyone with production access.",
    ),
    Criterion(
        "CC2",
        "Communication and information",
        (),
        "The system description; security policies as published to staff; how customers are told of "
        "commitments and incidents (terms, status page).",
    ),
    Criterion(
        "CC3",
        "Risk assessment",
        (),
        "The risk register with its yearly review (date, reviewers), including fraud risk and the "
        "assessment of changes (new vendors, new systems).",
    ),
    Criterion(
        "CC4",
        "Monitoring activities",
        ("CC4.1",),
        "Who reviewed this bundle's failures and drifts, when, and what was decided (CC4.2: deficiencies "
        "communicated to those who fix them).",
    ),
    Criterion(
        "CC5",
        "Control activities",
        (),
        "Policies and procedures that put the controls in place (the kit's CONTROLS.md lists the "
        "technical ones); their approval and yearly review.",
    ),
    Criterion(
        "CC6",
        "Logical and physical access controls",
        ("CC6.1", "CC6.6", "CC6.7", "CC6.8"),
        "CC6.2/CC6.3: access requests, approvals and removals of people (joiners, movers, leavers), and "
        "the quarterly access review of AWS IAM, SSH keys and app admins. CC6.5: disposal records.",
        "CC6.4 physical access: the hosts run in AWS data centres; use AWS's own SOC 2 report (carve-out).",
    ),
    Criterion(
        "CC7",
        "System operations",
        ("CC7.1", "CC7.2"),
        "CC7.3-CC7.5: incident tickets of the period (or a statement that there were none), the incident "
        "response plan and its last exercise, and post-incident reviews.",
    ),
    Criterion(
        "CC8",
        "Change management",
        ("CC8.1",),
        "The approval of each change in the deploy history (pull request review by someone other than "
        "the author), and emergency changes with their later approval.",
    ),
    Criterion(
        "CC9",
        "Risk mitigation",
        (),
        "CC9.1: business continuity plan and insurance; CC9.2: the vendor list (AWS and others) with "
        "each vendor's SOC report reviewed in the period.",
    ),
)


def control_mappings() -> dict[str, Mapping[str, str]]:
    """Every control id that can appear in the evidence -> {criterion: why}."""
    return {
        **{check.check_id: check.mapping for check in CHECKS},
        **{f"testinfra:{item.module}": item.mapping for item in SUITE_CONTROLS},
        **{f"daily:{control}": mapping for control, mapping in DAILY_CONTROLS.items()},
    }


def coverage(evidenced: Iterable[str]) -> list[dict[str, Any]]:
    """Per CC1..CC9: automated, partly automated or manual, with the controls and the manual template.

    `evidenced` are the control ids that produced results in the period (daily or make verify). CC4.1
    (ongoing evaluations) counts as automated when any control ran in the period."""
    mappings = control_mappings()
    ran = sorted(set(evidenced))
    rows = []
    for criterion in COMMON_CRITERIA:
        by_point: dict[str, list[str]] = {}
        for point in criterion.automated_parts:
            if point == "CC4.1":
                by_point[point] = ran
            else:
                by_point[point] = [c for c in ran if point in mappings.get(c, {})]
        automated = {point: ids for point, ids in by_point.items() if ids}
        kind = "manual" if not automated else "partly automated"
        rows.append(
            {
                "criterion": criterion.series,
                "title": criterion.title,
                "coverage": kind,
                "automated": automated,
                "manual_template": criterion.manual,
                "not_applicable": criterion.not_applicable,
            }
        )
    return rows


def unmapped(evidenced: Iterable[str]) -> list[str]:
    mappings = control_mappings()
    return sorted({c for c in evidenced if c not in mappings and not c.startswith("exception:")})
