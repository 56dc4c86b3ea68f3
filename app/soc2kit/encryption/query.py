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

Used for every query built from the manager: model instances, values(), values_list(), get().
Querysets not built from it (related managers, `_base_manager`, raw SQL) keep the per-value path,
which gives the same results more slowly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import partial
from itertools import chain, islice

from django.db import models
from django.db.models.sql import Query

CHUNK_ROWS = 100  # rows decrypted together (Django fetches in chunks of 100 as well)


def batched_apply_converters(apply_converters: Callable, rows: Iterable, converters: dict) -> Iterator:
    """SQLCompiler.apply_converters, with the columns whose one converter has a `batch` done per chunk."""
    batched = []
    others = {}
    for position, (convs, expression) in converters.items():
        batch = getattr(convs[0], "batch", None) if len(convs) == 1 else None
        if batch is None:
            others[position] = (convs, expression)
        else:
            batched.append((position, batch))
    if not batched:
        return apply_converters(rows, converters)
    decrypted = _convert_chunks(rows, batched)
    return apply_converters(decrypted, others) if others else decrypted


def _convert_chunks(rows: Iterable, batched: list[tuple[int, Callable]]) -> Iterator[list]:
    # Rows leave through C-level iterators (chain, map, zip): no Python frame per row.
    return chain.from_iterable(map(partial(_convert_chunk, batched), _chunks(rows)))


def _chunks(rows: Iterable) -> Iterator[list]:
    rows = iter(rows)
    while chunk := list(islice(rows, CHUNK_ROWS)):
        yield chunk


def _convert_chunk(batched: list[tuple[int, Callable]], chunk: list) -> Iterator[list]:
    columns = list(zip(*chunk, strict=True))
    for position, batch in batched:
        columns[position] = batch(columns[position])
    return map(list, zip(*columns, strict=True))


class DecryptingQuery(Query):
    """A Query whose compilers apply batch converters (clones keep the class, so filter() etc. do too)."""

    def get_compiler(self, using=None, connection=None, elide_empty=True):
        compiler = super().get_compiler(using, connection, elide_empty)
        compiler.apply_converters = partial(batched_apply_converters, compiler.apply_converters)
        return compiler


class EncryptedQuerySet(models.QuerySet):
    def __init__(self, model=None, query=None, using=None, hints=None):
        if query is None and model is not None:
            query = DecryptingQuery(model)
        super().__init__(model=model, query=query, using=using, hints=hints)


class EncryptedManager(models.Manager.from_queryset(EncryptedQuerySet)):
    """The manager for models with encrypted fields: list reads decrypt a chunk of rows at a time."""
