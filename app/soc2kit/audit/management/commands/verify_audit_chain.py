"""verify_audit_chain: recompute every entry's MAC in order; report the first broken entry and exit 1."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from soc2kit.audit import chain
from soc2kit.observability.alerts import raise_alert


class Command(BaseCommand):
    help = "Verify the audit trail's MAC chain; exits non-zero and raises an alert at the first broken entry."

    def handle(self, *args: Any, **options: Any) -> None:
        checked, broken = chain.verify()
        if broken is not None:
            message = (
                f"audit chain broken at entry id={broken.event_id}: {broken.reason} "
                f"({checked} entries before it verified)"
            )
            raise_alert("audit_chain_broken", message, audit_id=broken.event_id)
            raise CommandError(message)
        self.stdout.write(self.style.SUCCESS(f"audit chain OK: {checked} entries verified"))
