"""python manage.py rotate_field_keys [--batch-size N] [--resume] [--keep-old-keys]

Creates a new data key version, re-encrypts every encrypted column of every model to it in batches
(one transaction each; values of models with a RowIdentityField become bound to their row), then
retires superseded keys that no row uses any more. Keys are never deleted: a writer may still commit
a value encrypted with one. Interrupted? Run it again with --resume: rows already done are skipped.
"""

from django.core.management.base import BaseCommand, CommandError

from soc2kit.encryption.errors import EncryptionError
from soc2kit.encryption.keyring import get_keyring
from soc2kit.encryption.models import DataKey
from soc2kit.encryption.rotation import encrypted_tables, reencrypt_table, retire_unused_keys


class Command(BaseCommand):
    help = "Rotate the field-encryption data key and re-encrypt every row with it (resumable)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500, help="Rows per transaction (default 500).")
        parser.add_argument(
            "--resume",
            action="store_true",
            help="Do not create a new key: finish re-encrypting to the newest key (after an interruption).",
        )
        parser.add_argument(
            "--keep-old-keys",
            action="store_true",
            help="Do not retire superseded keys even when no row uses them.",
        )

    def handle(self, *args, batch_size, resume, keep_old_keys, **options):
        if batch_size < 1:
            raise CommandError(f"--batch-size is {batch_size}; it must be at least 1")
        try:
            ring = get_keyring()
            latest = DataKey.objects.order_by("-version").first()
            if resume and latest is not None:
                self.stdout.write(f"Resuming: re-encrypting to the newest key, {latest}")
            else:
                latest = ring.create_key()
                self.stdout.write(f"Created {latest}; it now encrypts all new values")
            ring.expire_active()  # pick up the newest key now, not after the cache TTL
            total = 0
            try:
                for table in encrypted_tables():
                    total += reencrypt_table(table, ring, batch_size, self._progress)
            except KeyboardInterrupt:
                raise CommandError(
                    f"Interrupted after {total} rows in finished tables; "
                    "every committed batch is on the new key "
                    "and every row stays readable. Run 'manage.py rotate_field_keys --resume' to finish."
                ) from None
            self.stdout.write(f"Re-encrypted {total} rows to data key v{latest.version}")
            if keep_old_keys:
                return
            for key, outcome in retire_unused_keys(ring):
                self.stdout.write(f"Old {key}: {outcome}")
        except EncryptionError as exc:
            raise CommandError(f"{exc.__class__.__name__}: {exc}") from None

    def _progress(self, label, done, total):
        percent = 100 if total == 0 else done * 100 // total
        self.stdout.write(f"  {label}: {done}/{total} rows re-encrypted ({percent}%)")
