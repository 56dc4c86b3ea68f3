"""python manage.py rebuild_blind_indexes [--batch-size N]

Recomputes every blind index under the active index key (FIELD_ENCRYPTION_BLIND_INDEX_KEY "active"),
in batches of one transaction each. Resumable: rows whose indexes already carry the active key id are
skipped, so after an interruption run it again. Searches keep working throughout: blind_lookup() tries
every configured index key. When it reports nothing left, remove the old key from the setting.
"""

from django.core.management.base import BaseCommand, CommandError

from soc2kit.encryption.errors import EncryptionError
from soc2kit.encryption.keyring import get_keyring
from soc2kit.encryption.rotation import indexed_tables, rebuild_table_indexes


class Command(BaseCommand):
    help = "Recompute every blind index under the active blind-index key (batched, resumable)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500, help="Rows per transaction (default 500).")

    def handle(self, *args, batch_size, **options):
        if batch_size < 1:
            raise CommandError(f"--batch-size is {batch_size}; it must be at least 1")
        try:
            ring = get_keyring()
            active = ring.conf.blind_index_active
            self.stdout.write(f"Rebuilding blind indexes under index key {active!r}")
            total = 0
            try:
                for table in indexed_tables():
                    total += rebuild_table_indexes(table, ring, batch_size, self._progress)
            except KeyboardInterrupt:
                raise CommandError(
                    f"Interrupted after {total} rows in finished tables; every committed batch is on key "
                    f"{active!r} and searches find both. "
                    "Run 'manage.py rebuild_blind_indexes' again to finish."
                ) from None
            others = sorted(set(ring.conf.blind_index_keys) - {active})
            done = f"Rebuilt {total} rows; every blind index is now under key {active!r}"
            if others:
                done += f"; index key(s) {others} can now be removed from FIELD_ENCRYPTION_BLIND_INDEX_KEY"
            self.stdout.write(done)
        except EncryptionError as exc:
            raise CommandError(f"{exc.__class__.__name__}: {exc}") from None

    def _progress(self, label, done, total):
        percent = 100 if total == 0 else done * 100 // total
        self.stdout.write(f"  {label}: {done}/{total} rows re-indexed ({percent}%)")
