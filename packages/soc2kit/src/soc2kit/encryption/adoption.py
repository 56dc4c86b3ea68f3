"""Adopting encryption for an existing plaintext column, without losing a value on the way.

The pattern (docs/own-project.md, "Encrypting an existing column"):
1. add the encrypted column next to the plaintext one (nullable), and write both on every save;
2. backfill: ``manage.py encrypt_plaintext_column app.Model plain encrypted`` (this module);
3. ``--check``: every row's encrypted value equals its plaintext; then switch reads to the new field;
4. drop the plaintext column in a later migration.

The backfill uses rotation's batched writer: each batch selects only rows whose encrypted column is
still NULL while the plaintext is not, locks them, encrypts, writes and commits. The plaintext column
is never written, so an interrupted run loses nothing, and running it again continues where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models

from .errors import EncryptionError
from .fields import EncryptedFieldMixin, row_identity_field
from .keyring import Keyring, identity_bytes
from .query import EncryptedQuerySet
from .rotation import Progress, _in_locked_batches, _quote, _write_values


class AdoptionError(ValueError):
    """The model or fields named for a backfill do not fit the pattern; the message says why."""


@dataclass(frozen=True)
class ColumnPair:
    model: type[models.Model]
    plaintext: models.Field
    encrypted: EncryptedFieldMixin

    @property
    def label(self) -> str:
        return f"{self.model._meta.label}.{self.plaintext.name} -> {self.encrypted.name}"


def column_pair(model_label: str, plaintext: str, encrypted: str) -> ColumnPair:
    """Resolve and check `app_label.Model`, its plaintext field and its encrypted field."""
    try:
        model = apps.get_model(model_label)
    except (LookupError, ValueError):
        raise AdoptionError(f"no model {model_label!r}; name it as app_label.ModelName") from None
    try:
        source = model._meta.get_field(plaintext)
        target = model._meta.get_field(encrypted)
    except FieldDoesNotExist as exc:
        raise AdoptionError(f"{model_label}: {exc}") from None
    if isinstance(source, EncryptedFieldMixin):
        raise AdoptionError(f"{model_label}.{plaintext} is already encrypted; name the plaintext field first")
    if not isinstance(target, EncryptedFieldMixin):
        raise AdoptionError(
            f"{model_label}.{encrypted} is not an encrypted field (soc2kit.encryption.fields)"
        )
    if not target.null:
        raise AdoptionError(
            f"{model_label}.{encrypted} must be nullable while it is backfilled (null=True): NULL marks the "
            "rows still to do"
        )
    return ColumnPair(model, source, target)


def _to_do(pair: ColumnPair) -> str:
    return f"({_quote(pair.encrypted.column)} IS NULL AND {_quote(pair.plaintext.column)} IS NOT NULL)"


def backfill(pair: ColumnPair, ring: Keyring, batch_size: int, progress: Progress | None = None) -> int:
    """Encrypt the plaintext of every row whose encrypted column is still NULL. Returns the rows written."""
    identity = row_identity_field(pair.model)
    target = pair.encrypted
    encrypt = ring.encrypt
    total = (
        pair.model._default_manager.filter(**{f"{target.name}__isnull": True})
        .exclude(**{f"{pair.plaintext.name}__isnull": True})
        .count()
    )
    if progress:
        progress(pair.label, 0, total)

    def encrypt_batch(rows: list[tuple]) -> None:
        out = []
        for pk, row_identity, value in rows:
            if identity is not None and row_identity is None:
                raise EncryptionError(
                    f"{pair.model._meta.label} row {pk} has no {identity.name}; fill it before the backfill"
                )
            bound = None if identity is None else identity_bytes(row_identity)
            text = target.to_text(target.to_python(value))
            out.append((pk, [encrypt(text, target.encryption_label, bound)]))
        _write_values(pair.model, (target,), out)

    def report(done: int) -> None:
        if progress:
            progress(pair.label, done, total)

    loaded = [identity.name if identity is not None else None, pair.plaintext.name]
    return _in_locked_batches(pair.model, _to_do(pair), [], loaded, batch_size, encrypt_batch, report)


@dataclass(frozen=True)
class Comparison:
    rows: int
    missing: list  # primary keys whose encrypted value is still NULL while the plaintext is not
    different: list  # primary keys whose decrypted value differs from the plaintext

    @property
    def complete(self) -> bool:
        return not self.missing and not self.different


def compare(pair: ColumnPair, batch_size: int) -> Comparison:
    """Decrypt every encrypted value and compare it with the plaintext (the gate before the drop)."""
    rows = 0
    missing: list[object] = []
    different: list[object] = []
    queryset: EncryptedQuerySet = EncryptedQuerySet(pair.model).order_by("pk")
    last_pk = None
    while True:
        batch = queryset if last_pk is None else queryset.filter(pk__gt=last_pk)
        chunk = list(batch.values_list("pk", pair.plaintext.name, pair.encrypted.name)[:batch_size])
        if not chunk:
            return Comparison(rows, missing, different)
        for pk, plain, encrypted in chunk:
            if plain is None:
                continue
            if encrypted is None:
                missing.append(pk)
            elif encrypted != pair.encrypted.to_python(plain):
                different.append(pk)
        rows += len(chunk)
        last_pk = chunk[-1][0]
