"""python manage.py rewrap_field_keys

Re-wraps every data key under the active KEK (a new local KEK id, a new KMS key, or a move from the
local backend to KMS). The data keys themselves do not change, so no row is touched. The old KEK must
still be configured while this runs; remove it afterwards.
"""

from django.core.management.base import BaseCommand, CommandError

from soc2kit.encryption.errors import EncryptionError
from soc2kit.encryption.keyring import get_keyring
from soc2kit.encryption.models import DataKey


class Command(BaseCommand):
    help = "Re-wrap every field-encryption data key under the active key-encryption key (KEK)."

    def handle(self, *args, **options):
        try:
            ring = get_keyring()
            target = f"{ring.keks.active.backend}:{ring.active_kek_id()}"
            changed = 0
            for row in DataKey.objects.order_by("version"):
                before = f"{row.kek_backend}:{row.kek_id}"
                if ring.rewrap(row):
                    changed += 1
                    self.stdout.write(
                        f"data key v{row.version} ({row.key_id}): re-wrapped from {before} to {target}"
                    )
                else:
                    self.stdout.write(f"data key v{row.version} ({row.key_id}): already wrapped by {target}")
            self.stdout.write(f"{changed} data key(s) re-wrapped; every key is now wrapped by {target}")
        except EncryptionError as exc:
            raise CommandError(f"{exc.__class__.__name__}: {exc}") from None
