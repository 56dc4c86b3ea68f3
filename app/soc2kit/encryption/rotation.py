"""Key rotation: re-encrypt every encrypted column to the active data key, batch by batch.

Naturally resumable: each batch selects only rows that still hold a value under another key (the key
is readable from the ciphertext header, so this is a plain SQL filter), locks them, re-encrypts them
and commits. An interrupted run leaves every row either on its old key or on the new one, and both
keys stay in the keyring until no row uses the old one, so every row is readable throughout.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Callable
from dataclasses import dataclass

from django.apps import apps
from django.db import connection, models, transaction
from django.utils import timezone

from .fields import EncryptedFieldMixin
from .keyring import Keyring
from .models import DataKey

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class EncryptedTable:
    model: type[models.Model]
    fields: tuple[models.Field, ...]

    @property
    def label(self) -> str:
        return self.model._meta.label


def encrypted_tables() -> list[EncryptedTable]:
    """Every concrete model with encrypted columns (each MTI table on its own)."""
    tables = []
    for model in apps.get_models():
        if model._meta.proxy:
            continue
        fields = tuple(f for f in model._meta.local_concrete_fields if isinstance(f, EncryptedFieldMixin))
        if fields:
            tables.append(EncryptedTable(model, fields))
    return tables


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _not_on_key(table: EncryptedTable, header: str) -> tuple[str, list[str]]:
    """SQL condition: at least one encrypted column holds a value that is not under `header`'s key."""
    clauses = [
        f"({_quote(f.column)} IS NOT NULL AND NOT starts_with({_quote(f.column)}, %s))" for f in table.fields
    ]
    return "(" + " OR ".join(clauses) + ")", [header] * len(clauses)


def count_rows_not_on(table: EncryptedTable, header: str) -> int:
    where, params = _not_on_key(table, header)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {_quote(table.model._meta.db_table)} WHERE {where}", params)  # noqa: S608 - identifiers quoted by Django
        return cursor.fetchone()[0]


def count_rows_using(table: EncryptedTable, header: str) -> int:
    clauses = " OR ".join(f"starts_with({_quote(f.column)}, %s)" for f in table.fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM {_quote(table.model._meta.db_table)} WHERE {clauses}",  # noqa: S608 - identifiers quoted by Django
            [header] * len(table.fields),
        )
        return cursor.fetchone()[0]


def reencrypt_table(
    table: EncryptedTable, ring: Keyring, batch_size: int, progress: Progress | None = None
) -> int:
    """Re-encrypt every row of `table` not yet on the active key. Returns the number of rows rewritten."""
    header = ring.active().header
    total = count_rows_not_on(table, header)
    if progress:
        progress(table.label, 0, total)
    where, params = _not_on_key(table, header)
    pk = _quote(table.model._meta.pk.column)
    db_table = _quote(table.model._meta.db_table)
    names = [f.name for f in table.fields]
    done = 0
    last_pk = None
    while True:
        with transaction.atomic():
            after = f" AND {pk} > %s" if last_pk is not None else ""
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT {pk} FROM {db_table} WHERE {where}{after} ORDER BY {pk} LIMIT %s FOR UPDATE",  # noqa: S608 - identifiers quoted by Django
                    [*params, *([last_pk] if last_pk is not None else []), batch_size],
                )
                ids = [row[0] for row in cursor.fetchall()]
            if not ids:
                return done
            # Loading decrypts with whichever key each value names; saving encrypts with the active key.
            rows = list(table.model._base_manager.filter(pk__in=ids).only(*names))
            table.model._base_manager.bulk_update(rows, names)
        done += len(ids)
        last_pk = ids[-1]
        if progress:
            progress(table.label, done, total)


def retire_unused_keys(ring: Keyring, now: datetime.datetime | None = None) -> list[tuple[DataKey, str]]:
    """Delete superseded data keys that no row uses. Returns (key, outcome) for every superseded key.

    A key is kept while any row uses it, and for ACTIVE_KEY_TTL after its successor appeared, since
    other processes may still hold it as their cached active key for that long.
    """
    now = now or timezone.now()
    tables = encrypted_tables()
    keys = list(DataKey.objects.order_by("version"))
    outcomes = []
    for old, successor in itertools.pairwise(keys):
        header = f"ef1:{old.version}:{old.key_id}:"
        if successor.created_at > now - datetime.timedelta(seconds=ring.conf.active_key_ttl):
            outcomes.append(
                (old, f"kept: superseded under {ring.conf.active_key_ttl:g}s ago; run again later")
            )
            continue
        in_use = {t.label: n for t in tables if (n := count_rows_using(t, header))}
        if in_use:
            where = ", ".join(f"{label} ({n})" for label, n in in_use.items())
            outcomes.append((old, f"kept: still used by {where}"))
            continue
        with transaction.atomic():
            DataKey.objects.select_for_update().filter(pk=old.pk).delete()
        outcomes.append((old, "deleted: no row uses it"))
    return outcomes
