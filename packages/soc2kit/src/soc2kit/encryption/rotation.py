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
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psycopg
from django.apps import apps
from django.db import connection, models, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone

from .fields import BlindIndexField, EncryptedFieldMixin, row_identity_field
from .keyring import Keyring, identity_bytes
from .models import DataKey
from .query import EncryptedQuerySet

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class EncryptedTable:
    model: type[models.Model]
    fields: tuple[EncryptedFieldMixin, ...]

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


def _quote(name: str | None) -> str:
    assert name is not None  # a concrete field's column (None only before contribute_to_class)
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
    identity = row_identity_field(table.model)
    fields = table.fields
    # (label, value -> text) per column; the values were just decrypted, so they have the field's type.
    columns = [(f.encryption_label, f.to_text) for f in fields]
    encrypt = ring.encrypt

    def rewrite(rows: list[tuple]) -> None:
        # Values were decrypted with whichever key each names (errors name the row); they are encrypted
        # again with the active key, bound to the row when the model has a RowIdentityField.
        out = []
        for pk, row_identity, *values in rows:
            bound = None if row_identity is None else identity_bytes(row_identity)
            ciphertexts = [
                None if value is None else encrypt(to_text(value), label, bound)
                for value, (label, to_text) in zip(values, columns, strict=True)
            ]
            out.append((pk, ciphertexts))
        _write_values(table.model, fields, out)

    def report(done: int) -> None:
        if progress:
            progress(table.label, done, total)

    loaded = [identity.name if identity is not None else None, *(f.name for f in fields)]
    where, params = _not_on_key(table, header)
    return _in_locked_batches(table.model, where, params, loaded, batch_size, rewrite, report)


def _in_locked_batches(
    model: type[models.Model],
    where: str,
    params: list,
    columns: Sequence[str | None],
    batch_size: int,
    handle: Callable[[list[tuple]], None],
    committed: Callable[[int], object],
) -> int:
    """Select the rows matching the SQL condition `where` a batch at a time, in primary-key order, each
    batch locked (FOR UPDATE) and decrypted as (pk, *columns) tuples (None for a None column), and pass
    it to `handle` inside the batch's own transaction. Returns the number of rows handled.

    Resumable by construction: `where` selects only the rows still to do.
    """
    selected = [name for name in columns if name is not None]
    matching: EncryptedQuerySet = (
        EncryptedQuerySet(model)
        # `where` is built by this module from quoted column names; values travel as parameters.
        .filter(RawSQL(where, params, output_field=models.BooleanField()))  # noqa: S611
        .order_by("pk")
        .select_for_update()
    )
    done = 0
    last_pk = None
    while True:
        with transaction.atomic():
            batch = matching if last_pk is None else matching.filter(pk__gt=last_pk)
            rows = list(batch.values_list("pk", *selected)[:batch_size])
            if not rows:
                return done
            if len(selected) != len(columns):
                rows = [_with_nones(row, columns) for row in rows]
            handle(rows)
        done += len(rows)
        last_pk = rows[-1][0]
        committed(done)


def _with_nones(row: tuple, columns: Sequence[str | None]) -> tuple:
    values = iter(row[1:])
    return (row[0], *(None if name is None else next(values) for name in columns))


def _write_values(
    model: type[models.Model],
    fields: tuple[models.Field, ...],
    rows: Sequence[tuple[object, Sequence[str | None]]],
) -> None:
    """Write text columns of many rows in one statement: UPDATE ... FROM unnest(<one array per column>).

    bulk_update() builds a CASE WHEN per column and row, which costs far more than the encryption; a
    VALUES list with a placeholder per value spends its time in parameter handling. One array per
    column, sent in binary, keeps the statement the same size for any number of rows.
    """
    if not rows:
        return
    pk_field = model._meta.pk
    columns = [f"c{i}" for i in range(len(fields))]
    assignments = ", ".join(f"{_quote(f.column)} = v.{c}" for f, c in zip(fields, columns, strict=True))
    pk_array = f"%b::{pk_field.cast_db_type(connection)}[]"  # %b: a binary parameter
    arrays = ", ".join([pk_array, *(["%b::text[]"] * len(columns))])
    pks = [pk for pk, _values in rows]
    by_column = [list(column) for column in zip(*(values for _pk, values in rows), strict=True)]
    sql = (
        f"UPDATE {_quote(model._meta.db_table)} AS t SET {assignments} "  # noqa: S608 - identifiers quoted by Django
        f"FROM unnest({arrays}) AS v(k, {', '.join(columns)}) "
        # The second condition lets the planner find the rows through the primary key index instead
        # of hashing the whole table for every batch.
        f"WHERE t.{_quote(pk_field.column)} = v.k AND t.{_quote(pk_field.column)} = ANY({pk_array})"
    )
    connection.ensure_connection()
    # Django's cursors bind parameters client-side (quoting every array element); a plain psycopg
    # cursor on the same connection and transaction sends the arrays as binary parameters (%b).
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, [pks, *by_column, pks])


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
    clauses = [
        f"({_quote(f.column)} IS NOT NULL AND NOT starts_with({_quote(f.column)}, %s))" for f in table.indexes
    ]
    return "(" + " OR ".join(clauses) + ")", [prefix] * len(clauses)


def rebuild_table_indexes(
    table: IndexedTable, ring: Keyring, batch_size: int, progress: Progress | None = None
) -> int:
    """Recompute every blind index of `table` not yet under the active index key. Resumable like
    reencrypt_table: rows already on the active key are skipped. Returns the number of rows rewritten."""
    where, params = _index_not_on_key(table, f"{ring.conf.blind_index_active}:")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {_quote(table.model._meta.db_table)} WHERE {where}", params)  # noqa: S608 - identifiers quoted by Django
        total = cursor.fetchone()[0]
    if progress:
        progress(table.label, 0, total)
    sources = [f.source for f in table.indexes]

    def reindex(rows: list[tuple]) -> None:
        indexes = [
            (pk, [f.index_for(value) for f, value in zip(table.indexes, values, strict=True)])
            for pk, *values in rows
        ]
        _write_values(table.model, table.indexes, indexes)

    def report(done: int) -> None:
        if progress:
            progress(table.label, done, total)

    return _in_locked_batches(table.model, where, params, sources, batch_size, reindex, report)
