"""Querysets that decrypt their results a chunk of rows at a time: the hot path of every list view.

    class Customer(models.Model):
        ...
        objects = EncryptedManager()

Django converts query results one value at a time (`SQLCompiler.apply_converters`: a Python call per
value). For an encrypted column that call wraps a few hundred nanoseconds of AEAD work in as much
again of interpreter overhead. A model whose manager is EncryptedManager instead hands each encrypted
column of a chunk of rows to the field converter's `batch` (keyring.Keyring._batch_converter), which
decrypts the column's values, each still on its own, in C-level pipelines. Results are the same,
value for value and error for error; other columns keep Django's own converters.

Used for every query built from the manager: model instances, values(), values_list(), get(). It also
supplies each value's row context (primary key for error messages, RowIdentityField for row-bound
values). Querysets not built from it (raw SQL, a plain manager) keep Django's per-value path, which
reads field-bound values only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import partial
from itertools import chain, islice
from types import MappingProxyType
from typing import TYPE_CHECKING, cast

from django.db import connections, models
from django.db.models.expressions import Col
from django.db.models.sql import Query
from django.db.models.sql.compiler import SQLCompiler

from .errors import BlindIndexMismatchError
from .keyring import identity_column_bytes

CHUNK_ROWS = 100  # rows decrypted together (Django fetches in chunks of 100 as well)


def _chunks(rows: Iterable) -> Iterator[list]:
    rows = iter(rows)
    while chunk := list(islice(rows, CHUNK_ROWS)):
        yield chunk


# For the type checker the mixin is the SQLCompiler it is mixed into (its super() calls reach that compiler).
if TYPE_CHECKING:
    from .fields import BlindIndexField  # imported at run time where used (fields imports this module)

    _CompilerBase = SQLCompiler
else:
    _CompilerBase = object


class DecryptingCompilerMixin(_CompilerBase):
    """Decrypts each encrypted column a chunk of rows at a time, with the row context it needs.

    Every encrypted column is read together with its row's primary key (errors name the row) and, for
    a row-bound model, its RowIdentityField (part of each value's associated data). When a query does
    not select them (values(), only()), they are added at the end of the SELECT and dropped from the
    rows before anyone sees them. Rows found by blind_lookup() are checked: the stored index must be
    the index of the decrypted value, so an index copied from another row is caught.
    """

    # Set by setup_query(); these defaults serve a compiler that never built a SELECT.
    row_context: Mapping[int, tuple[int | None, int | None]] = MappingProxyType({})
    index_checks: Sequence[tuple] = ()
    extra_columns = 0
    col_count: int  # set by setup_query(), as SQLCompiler does

    def setup_query(self, with_col_aliases=False):
        super().setup_query(with_col_aliases=with_col_aliases)
        from .fields import EncryptedFieldMixin

        self.row_context: dict[int, tuple[int | None, int | None]] = {}
        self.index_checks: list[tuple] = []
        self.extra_columns = 0
        query = self.query
        aggregates = any(
            getattr(expression, "contains_aggregate", False) for expression, _s, _a in self.select
        )
        can_add = not (
            query.subquery or query.combinator or with_col_aliases or query.group_by is not None or aggregates
        )
        positions = {
            (expression.alias, expression.target.column): i
            for i, (expression, _sql, _alias) in enumerate(self.select)
            if isinstance(expression, Col)
        }

        def position(alias: str, field) -> int | None:
            found = positions.get((alias, field.column))
            if found is None and can_add:
                column = field.get_col(alias)
                sql, params = column.select_format(self, *self.compile(column))
                self.select.append((column, (sql, params), None))
                found = positions[(alias, field.column)] = len(self.select) - 1
                self.extra_columns += 1
            return found

        verified = getattr(query, "verified_blind_indexes", ())
        if verified and can_add:
            alias = query.base_table  # (get_initial_alias() would add a reference to the query)
            model = cast("type[models.Model]", query.model)  # a SELECT that verifies indexes has a model
            for name in verified:
                index = cast("BlindIndexField", model._meta.get_field(name))
                source = model._meta.get_field(index.source)
                self.index_checks.append(
                    (index, position(alias, index), position(alias, source), position(alias, model._meta.pk))
                )
        for i, (expression, _sql, _alias) in enumerate(list(self.select)):
            if isinstance(expression, Col) and isinstance(expression.target, EncryptedFieldMixin):
                field = expression.target
                identity = field.row_identity
                self.row_context[i] = (
                    position(expression.alias, identity) if identity is not None else None,
                    position(expression.alias, field.model._meta.pk),
                )
        self.col_count = len(self.select)

    def apply_converters(self, rows, converters):
        """SQLCompiler.apply_converters, with the columns whose one converter has a `batch` done per chunk."""
        batched = []
        others = {}
        for position, (convs, expression) in converters.items():
            batch = getattr(convs[0], "batch", None) if len(convs) == 1 else None
            if batch is None:
                others[position] = (convs, expression)
            else:
                batched.append((position, batch, *self.row_context.get(position, (None, None))))
        if not batched and not self.extra_columns:
            return super().apply_converters(rows, converters)
        keep = self.col_count - self.extra_columns
        others = {position: value for position, value in others.items() if position < keep}
        # Rows leave through C-level iterators (chain, map, zip): no Python frame per row.
        converted = chain.from_iterable(map(partial(self._convert_chunk, batched, keep), _chunks(rows)))
        return super().apply_converters(converted, others) if others else converted

    def _convert_chunk(self, batched: list[tuple], keep: int, chunk: list) -> Iterator[tuple]:
        columns = list(zip(*chunk, strict=True))
        identities = {}  # identity column position -> its 16-byte values, shared by the row's columns
        for position, batch, identity_position, pk_position in batched:
            if identity_position is not None and identity_position not in identities:
                try:
                    identities[identity_position] = identity_column_bytes(columns[identity_position])
                except AttributeError:  # a None identity (e.g. a missing related row): value by value
                    identities[identity_position] = columns[identity_position]
            columns[position] = batch(
                columns[position],
                None if identity_position is None else identities[identity_position],
                None if pk_position is None else columns[pk_position],
            )
        for index, index_position, source_position, pk_position in self.index_checks:
            for stored, value, pk in zip(
                columns[index_position], columns[source_position], columns[pk_position], strict=True
            ):
                if not index.matches(stored, value):
                    raise BlindIndexMismatchError(
                        f"blind index {index.index_label} (table {index.model._meta.db_table}, row id {pk}) "
                        f"is not the index of the row's {index.source}: it was copied from another row "
                        "or altered; searches by it would return the wrong record"
                    )
        if self.extra_columns:
            del columns[keep:]
        # Rows as tuples, as the cursor returns them (no list per row); Django only reads and slices them.
        return zip(*columns, strict=True)


class DecryptingQuery(Query):
    """A Query whose compilers decrypt a chunk at a time (clones keep the class, so filter() etc. do too)."""

    verified_blind_indexes: tuple[str, ...] = ()  # set by blind_lookup(); checked on every row read

    def get_compiler(self, using=None, connection=None, elide_empty=True):
        if self.compiler != "SQLCompiler":  # updates, deletes, inserts, aggregates: nothing to decrypt
            return super().get_compiler(using, connection, elide_empty)
        if using:
            connection = connections[using]
        if connection is None:
            raise ValueError("Need either using or connection")
        return decrypting_compiler(connection.ops.compiler("SQLCompiler"))(
            self, connection, using, elide_empty
        )


_COMPILERS: dict[type, type] = {}


def decrypting_compiler(base: type) -> type:
    """The backend's own SQLCompiler with DecryptingCompilerMixin in front (one class per backend)."""
    compiler = _COMPILERS.get(base)
    if compiler is None:
        compiler = _COMPILERS[base] = type(f"Decrypting{base.__name__}", (DecryptingCompilerMixin, base), {})
    return compiler


class EncryptedQuerySet(models.QuerySet):
    def __init__(self, model=None, query=None, using=None, hints=None):
        if query is None and model is not None:
            query = DecryptingQuery(model)
        super().__init__(model=model, query=query, using=using, hints=hints)


_EncryptedManagerBase = models.Manager.from_queryset(EncryptedQuerySet)


class EncryptedManager(_EncryptedManagerBase):
    """The manager for models with encrypted fields: list reads decrypt a chunk of rows at a time."""
