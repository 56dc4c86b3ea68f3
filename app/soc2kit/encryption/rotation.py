"""Key rotation: re-encrypt every encrypted column to the active data key, batch by batch.

Naturally resumable: each batch selects only rows that still hold a value under another key or format
(both are readable from the ciphertext header, so this is a plain SQL filter), locks them,
re-encrypts them and commits. An interrupted run leaves every row either on its old key or on the new
one, and no key is ever deleted, so every row is readable throughout and afterwards. The same pass
migrates values written before row binding (ef1) to row-bound values (ef2).
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Callable
from dataclasses import dataclass

from django.apps import apps
from django.db import connection, models, transaction
from django.utils import timezone

from .fields import BlindIndexField, EncryptedFieldMixin, row_identity_field
from .keyring import Keyring
from .models import DataKey
from .query import EncryptedQuerySet

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


def target_header(table: EncryptedTable, ring: Keyring) -> str:
    """The header every value of the table has once rotated: the active key, bound to the row if it can."""
    active = ring.active()
    return active.bound_header if row_identity_field(table.model) is not None else active.header


def reencrypt_table(
    table: EncryptedTable, ring: Keyring, batch_size: int, progress: Progress | None = None
) -> int:
    """Re-encrypt every row of `table` not yet on the active key (and, for a model with a
    RowIdentityField, not yet bound to its row). Returns the number of rows rewritten."""
    header = target_header(table, ring)
    total = count_rows_not_on(table, header)
    if progress:
        progress(table.label, 0, total)
    where, params = _not_on_key(table, header)
    model = table.model
    pk = _quote(model._meta.pk.column)
    db_table = _quote(model._meta.db_table)
    identity = row_identity_field(model)
    load = [f.name for f in table.fields] + ([identity.name] if identity is not None else [])
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
            # Loading decrypts with whichever key each value names (errors name the row); pre_save
            # encrypts with the active key, bound to the row when the model has a RowIdentityField.
            rows = EncryptedQuerySet(model).filter(pk__in=ids).only(*load)
            _write_values(model, table.fields, [(row.pk, [_ciphertext(f, row) for f in table.fields]) for row in rows])
        done += len(ids)
        last_pk = ids[-1]
        if progress:
            progress(table.label, done, total)


def _ciphertext(field: models.Field, row: models.Model) -> str | None:
    return field.get_db_prep_save(field.pre_save(row, False), connection)


MAX_PARAMETERS = 65535  # PostgreSQL's limit of bind parameters in one statement


def _write_values(
    model: type[models.Model], fields: tuple[models.Field, ...], rows: list[tuple[object, list[str | None]]]
) -> None:
    """UPDATE ... FROM (VALUES ...) of text columns: one statement per block of rows, joined on the pk.

    bulk_update() builds a CASE WHEN per column and row, which costs far more than the encryption.
    """
    pk_field = model._meta.pk
    columns = [f"c{i}" for i in range(len(fields))]
    assignments = ", ".join(f"{_quote(f.column)} = v.{c}" for f, c in zip(fields, columns, strict=True))
    row_sql = "(" + ", ".join([f"%s::{pk_field.cast_db_type(connection)}", *(["%s::text"] * len(columns))]) + ")"
    per_statement = max(1, MAX_PARAMETERS // (len(columns) + 1))
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            block = rows[start : start + per_statement]
            cursor.execute(
                f"UPDATE {_quote(model._meta.db_table)} AS t SET {assignments} "  # noqa: S608 - identifiers quoted by Django
                f"FROM (VALUES {', '.join([row_sql] * len(block))}) AS v(k, {', '.join(columns)}) "
                f"WHERE t.{_quote(pk_field.column)} = v.k",
                [value for pk, values in block for value in (pk, *values)],
            )


def retire_unused_keys(ring: Keyring, now: datetime.datetime | None = None) -> list[tuple[DataKey, str]]:
    """Retire superseded data keys that no row uses. Returns (key, outcome) for every superseded key.

    Keys are never deleted. A process may have encrypted a value with a key and not yet committed it
    (a transaction still open, or a process still holding the key as its cached active key): no scan of
    committed rows can see that value, so deleting the key could make it unreadable for good. A retired
    key still decrypts; `rotate_field_keys --resume` re-encrypts any row that turns up on it later.
    Retirement is refused within ACTIVE_KEY_TTL of the successor's creation (other processes may
    still be encrypting with it), and marks the key so that old-format (field-only) values under it
    are refused on row-bound models: every such row was rewritten before the key was retired.
    """
    now = now or timezone.now()
    tables = encrypted_tables()
    keys = list(DataKey.objects.order_by("version"))
    outcomes = []
    for old, successor in itertools.pairwise(keys):
        headers = (f"ef1:{old.version}:{old.key_id}:", f"ef2:{old.version}:{old.key_id}:")
        in_use = {t.label: n for t in tables if (n := sum(count_rows_using(t, h) for h in headers))}
        if in_use:
            where = ", ".join(f"{label} ({n})" for label, n in in_use.items())
            outcomes.append((old, f"kept: still used by {where}; run rotate_field_keys --resume"))
            continue
        if old.retired_at is not None:
            outcomes.append((old, "retired: no row uses it"))
            continue
        if successor.created_at > now - datetime.timedelta(seconds=ring.conf.active_key_ttl):
            outcomes.append(
                (old, f"kept: superseded under {ring.conf.active_key_ttl:g}s ago; run again later")
            )
            continue
        DataKey.objects.filter(pk=old.pk, retired_at__isnull=True).update(retired_at=now)
        outcomes.append((old, "retired: no row uses it (kept for reading, never deleted)"))
    return outcomes


# -- blind indexes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexedTable:
    model: type[models.Model]
    indexes: tuple[BlindIndexField, ...]

    @property
    def label(self) -> str:
        return self.model._meta.label


def indexed_tables() -> list[IndexedTable]:
    """Every concrete model with blind-index columns."""
    tables = []
    for model in apps.get_models():
        if model._meta.proxy:
            continue
        indexes = tuple(f for f in model._meta.local_concrete_fields if isinstance(f, BlindIndexField))
        if indexes:
            tables.append(IndexedTable(model, indexes))
    return tables


def _index_not_on_key(table: IndexedTable, prefix: str) -> tuple[str, list[str]]:
    clauses = [f"({_quote(f.column)} IS NOT NULL AND NOT starts_with({_quote(f.column)}, %s))" for f in table.indexes]
    return "(" + " OR ".join(clauses) + ")", [prefix] * len(clauses)


def rebuild_table_indexes(
    table: IndexedTable, ring: Keyring, batch_size: int, progress: Progress | None = None
) -> int:
    """Recompute every blind index of `table` not yet under the active index key. Resumable like
    reencrypt_table: rows already on the active key are skipped. Returns the number of rows rewritten."""
    prefix = f"{ring.conf.blind_index_active}:"
    where, params = _index_not_on_key(table, prefix)
    model = table.model
    pk = _quote(model._meta.pk.column)
    db_table = _quote(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {db_table} WHERE {where}", params)  # noqa: S608 - identifiers quoted by Django
        total = cursor.fetchone()[0]
    if progress:
        progress(table.label, 0, total)
    sources = sorted({f.source for f in table.indexes})
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
            rows = EncryptedQuerySet(model).filter(pk__in=ids).only(*sources)
            _write_values(
                model,
                table.indexes,
                [(row.pk, [f.index_for(getattr(row, f.source)) for f in table.indexes]) for row in rows],
            )
        done += len(ids)
        last_pk = ids[-1]
        if progress:
            progress(table.label, done, total)
