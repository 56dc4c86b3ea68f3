"""The period's results as OSCAL assessment-results JSON, built and validated with compliance-trestle's
OSCAL models (the maintained Python models of NIST's schemas): every field is checked as it is built,
and the written file is read back through the same models before it goes into the bundle."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from trestle.oscal import OSCAL_VERSION, common
from trestle.oscal import assessment_results as ar

from .. import KitError
from .period import Period

# The namespace of the kit's own property names (an identifier only: nothing is fetched from it).
NAMESPACE = "https://soc2kit.invalid/ns/oscal"
_NOT_TOKEN = re.compile(r"[^A-Za-z0-9._-]+")


def token(control_id: str) -> str:
    """An OSCAL token (letters, digits, . _ -) for a control id such as `testinfra:hardening`."""
    return _NOT_TOKEN.sub("-", control_id)


def _prop(name: str, value: str) -> common.Property:
    return common.Property(name=name, value=value, ns=NAMESPACE)


def build(
    title: str,
    env: str,
    period: Period,
    controls: Sequence[dict[str, Any]],
    generated: datetime,
    banner: str | None,
) -> ar.AssessmentResults:
    """controls: {id, title, criteria, status ("pass"/"fail"/...), description, evidence (bundle paths)}."""
    observations, findings = [], []
    for control in controls:
        observation_uuid = str(uuid.uuid4())
        observations.append(
            common.Observation(
                uuid=observation_uuid,
                title=control["title"],
                description=control["description"],
                methods=["TEST"],
                props=[
                    _prop("control-id", token(control["id"])),
                    *(_prop("soc2-criterion", c) for c in control["criteria"]),
                ],
                relevant_evidence=[
                    common.RelevantEvidence(href=path, description=f"bundle file {path}")
                    for path in control["evidence"]
                ]
                or None,
                collected=generated,
            )
        )
        satisfied = control["status"] == "pass"
        findings.append(
            common.Finding(
                uuid=str(uuid.uuid4()),
                title=control["title"],
                description=control["description"],
                target=common.FindingTarget(
                    type="objective-id",
                    target_id=token(control["id"]),
                    status=common.ObjectiveStatus(
                        state="satisfied" if satisfied else "not-satisfied",
                        reason=None if satisfied else "other",
                        remarks=None if satisfied else f"status in the period: {control['status']}",
                    ),
                ),
                related_observations=[common.RelatedObservation(observation_uuid=observation_uuid)],
            )
        )
    metadata = common.Metadata(
        title=title,
        last_modified=generated,
        version="1",
        oscal_version=OSCAL_VERSION,
        props=[_prop("environment", env), *([_prop("not-production", "true")] if banner else [])],
        remarks=banner,
    )
    result = ar.Result(
        uuid=str(uuid.uuid4()),
        title=f"SOC2 controls of ENV={env}, {period.label()}",
        description="Daily host checks and make verify runs of the period, per control.",
        start=period.start,
        end=period.end,
        reviewed_controls=common.ReviewedControls(
            control_selections=[common.ControlSelection(include_all=common.IncludeAll())]
        ),
        observations=observations or None,
        findings=findings or None,
    )
    return ar.AssessmentResults(
        uuid=str(uuid.uuid4()),
        metadata=metadata,
        import_ap=ar.ImportAp(
            href="#assessment-plan",
            remarks="No separate assessment plan: the kit's CONTROLS.md and make verify are the plan.",
        ),
        results=[result],
    )


def write(document: ar.AssessmentResults, path: Path) -> None:
    """Writes {"assessment-results": ...} and validates the file by reading it back through the models."""
    document.oscal_write(path)
    validate(path)


def validate(path: Path) -> ar.AssessmentResults:
    """The document in `path` read through trestle's models; KitError naming the problem when invalid."""
    try:
        return ar.AssessmentResults.oscal_read(path)
    except Exception as error:  # trestle wraps pydantic's ValidationError in its own errors
        raise KitError(
            f"{path} is not valid OSCAL {OSCAL_VERSION} assessment-results: {str(error)[:600]}",
            "this is a bug in kit/evidence/oscal.py: report it",
        ) from error
