"""audit_checkpoint: sign the audit chain's head and write it outside the database (log + store).

Run on a schedule (the django_app role's timer). It first checks that the trail still holds what the
latest checkpoint recorded: after a deletion or TRUNCATE it writes nothing (a new, smaller checkpoint
would hide the loss from the next verification), raises an alert and exits non-zero. After a loss an
operator has investigated (a database restored from a backup, say), ``--accept-loss REASON`` writes a
checkpoint of the trail as it is now, with an alert that carries the reason and what was lost; the
older checkpoints stay in the store as evidence.
"""

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from soc2kit.audit.checkpoints import CheckpointError, compare_with, store_from_settings, write_checkpoint
from soc2kit.observability.alerts import raise_alert


class Command(BaseCommand):
    help = "Write a signed checkpoint of the audit chain's head to the logs and the checkpoint store."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--accept-loss",
            metavar="REASON",
            default="",
            help="write a checkpoint even though the trail is behind the latest one (alerted, with REASON)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        reason = options["accept_loss"].strip()
        if options["accept_loss"] and not reason:
            raise CommandError(
                "--accept-loss needs a reason, e.g. --accept-loss 'restored from backup of ...'"
            )
        try:
            store = store_from_settings()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        try:
            latest = store.latest()
            problems = compare_with(latest) if latest is not None else []
            if problems and reason:
                raise_alert(
                    "audit_checkpoint_loss_accepted",
                    f"audit trail behind its latest checkpoint, loss accepted by an operator ({reason}); "
                    f"first: {problems[0]}",
                    problems=len(problems),
                )
            elif problems:
                raise_alert(
                    "audit_chain_broken",
                    f"audit trail behind its latest checkpoint; first: {problems[0]}",
                    problems=len(problems),
                )
                raise CommandError(
                    "no checkpoint written, the trail is behind the latest one:\n  - "
                    + "\n  - ".join(problems)
                    + "\nInvestigate; once the loss is explained, run audit_checkpoint --accept-loss REASON."
                )
            written, where = write_checkpoint(store)
        except CheckpointError as exc:
            raise_alert("audit_checkpoint_failed", f"audit checkpoint not written: {exc}")
            raise CommandError(f"audit checkpoint not written: {exc}") from exc
        self.stdout.write(self.style.SUCCESS(f"audit {written.describe()} written to {where}"))
