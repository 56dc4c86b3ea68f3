"""python manage.py encrypt_plaintext_column app_label.Model PLAIN_FIELD ENCRYPTED_FIELD [--batch-size N]
                                           [--check]

Backfills an encrypted column from its plaintext twin in batches (one transaction each), with the same
batched writer as rotate_field_keys. Interrupted? Run it again: rows already done are skipped, and the
plaintext is never written. --check decrypts every value and compares it with the plaintext; it exits
non-zero while any row is missing or different, so it can gate the migration that drops the plaintext.
"""

from django.core.management.base import BaseCommand, CommandError

from soc2kit.encryption.adoption import AdoptionError, backfill, column_pair, compare
from soc2kit.encryption.errors import EncryptionError
from soc2kit.encryption.keyring import get_keyring


class Command(BaseCommand):
    help = "Encrypt an existing plaintext column into its encrypted twin, in resumable batches."

    def add_arguments(self, parser):
        parser.add_argument("model", help="app_label.ModelName")
        parser.add_argument("plaintext_field")
        parser.add_argument("encrypted_field")
        parser.add_argument("--batch-size", type=int, default=500, help="Rows per transaction (default 500).")
        parser.add_argument(
            "--check",
            action="store_true",
            help="Write nothing; compare every encrypted value with its plaintext.",
        )

    def handle(self, *args, model, plaintext_field, encrypted_field, batch_size, check, **options):
        if batch_size < 1:
            raise CommandError(f"--batch-size is {batch_size}; it must be at least 1")
        try:
            pair = column_pair(model, plaintext_field, encrypted_field)
            if check:
                self._check(pair, batch_size)
                return
            try:
                done = backfill(pair, get_keyring(), batch_size, self._progress)
            except KeyboardInterrupt:
                raise CommandError(
                    f"Interrupted: every committed batch of {pair.label} is encrypted and no plaintext was "
                    "changed. Run the same command again to finish."
                ) from None
        except (AdoptionError, EncryptionError) as exc:
            raise CommandError(f"{exc.__class__.__name__}: {exc}") from None
        self.stdout.write(f"{pair.label}: {done} rows encrypted; next: the same command with --check")

    def _check(self, pair, batch_size):
        result = compare(pair, batch_size)
        if not result.complete:
            raise CommandError(
                f"{pair.label}: {len(result.missing)} rows not yet encrypted "
                f"(first ids {result.missing[:5]}), "
                f"{len(result.different)} rows whose encrypted value differs from the plaintext (first ids "
                f"{result.different[:5]}). Run the backfill again (it encrypts missing rows) and make every "
                "save write both fields; do not drop the plaintext yet."
            )
        self.stdout.write(f"{pair.label}: all {result.rows} rows match; the plaintext column can be dropped")

    def _progress(self, label, done, total):
        self.stdout.write(f"  {label}: {done}/{total} rows encrypted")
