"""verify_audit_chain: recompute every entry's MAC in order and compare the trail with the latest
checkpoint kept outside the database; report every problem, alert and exit 1, or write a new checkpoint."""

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from soc2kit.audit import chain
from soc2kit.audit.checkpoints import CheckpointError, compare_with, store_from_settings, write_checkpoint
from soc2kit.observability.alerts import raise_alert

# Entry ids named in the alert's details (the command's output lists every problem).
ALERT_IDS_SHOWN = 20


class Command(BaseCommand):
    help = (
        "Verify the audit trail's MAC chain and compare it with the latest checkpoint outside the database; "
        "reports every break, raises an alert and exits non-zero, else writes a new checkpoint."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            store = store_from_settings()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        checked, breaks = chain.verify()
        problems = [f"entry id={b.event_id}: {b.reason}" for b in breaks]
        try:
            checkpoint = store.latest()
        except CheckpointError as exc:
            checkpoint = None
            problems.append(f"the latest checkpoint cannot be read, so truncation cannot be ruled out: {exc}")
        if checkpoint is not None:
            problems += compare_with(checkpoint)
        if problems:
            summary = f"audit chain broken: {len(problems)} problem(s) in {checked} entries"
            raise_alert(
                "audit_chain_broken",
                f"{summary}; first: {problems[0]}",
                audit_ids=[b.event_id for b in breaks[:ALERT_IDS_SHOWN]],
                problems=len(problems),
            )
            raise CommandError(summary + ":\n  - " + "\n  - ".join(problems))
        against = checkpoint.describe() if checkpoint else "no earlier checkpoint (first run)"
        try:
            written, where = write_checkpoint(store)
        except CheckpointError as exc:
            raise_alert("audit_checkpoint_failed", f"audit checkpoint not written: {exc}")
            raise CommandError(f"audit chain verified, but no checkpoint was written: {exc}") from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"audit chain OK: {checked} entries verified; compared with {against}; "
                f"new {written.describe()} written to {where}"
            )
        )
