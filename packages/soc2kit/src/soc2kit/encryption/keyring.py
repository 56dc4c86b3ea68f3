"""The keyring: data keys (DEKs) unwrapped on first use and cached in process memory, and the AEAD itself.

Ciphertext format (a text column):  ef<n>:<dek version>:<dek key id>:<base64(nonce || ciphertext || tag)>
- AES-256-GCM, 12-byte random nonce, 16-byte tag (cryptography's AESGCM).
- ef2 (models with a RowIdentityField): associated data = "<16-byte row identity>|<label>|ef2:<v>:<id>:",
  so a value copied into another row, field or table fails authentication.
- ef1 (models without one, and values written before row binding):
  associated data = "<app_label.Model.field>|ef1:<version>:<key id>:".
The header cannot be altered in either format: it is part of the associated data.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from itertools import compress, repeat
from operator import attrgetter, is_not, itemgetter
from typing import Any, Protocol, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, transaction
from django.utils import timezone

from .config import EncryptionSettings, load_settings
from .errors import (
    DecryptionError,
    EncryptionError,
    FieldMismatchError,
    KeyConfigurationError,
    UnknownKeyError,
)
from .kek import NONCE_BYTES, KekSet, KmsKEK, WrappedKey

logger = logging.getLogger(__name__)

FORMAT = "ef1"  # bound to its field
BOUND_FORMAT = "ef2"  # bound to its field and its row's identity
IDENTITY_BYTES = 16  # a row identity is a UUID, bound as its 16 raw bytes
# NIST SP 800-38D 8.3: with random 96-bit nonces, at most 2^32 encryptions per key.
NONCE_SAFE_ENCRYPTIONS = 2**32

# Labels ("app_label.Model.field") of every encrypted field, filled as models load; used only to name the
# field a misplaced ciphertext really belongs to.
FIELD_LABELS: set[str] = set()


@dataclass(frozen=True, repr=False)
class DataKeyHandle:
    version: int
    key_id: str
    aead: AESGCM
    header: str  # "ef1:<version>:<key id>:"
    version_text: str
    aads: dict[str, bytes]  # field label -> associated data, built once per field
    retired: bool = False
    # Encryptions this process may still do with the key: an iterator over a block reserved in the
    # database (see Keyring._reserve); next() on it is atomic, so threads never share a count.
    budget: list = field(default_factory=lambda: [iter(())])
    bound_aads: dict[str, bytes] = field(default_factory=dict)  # label -> bound_aad_suffix

    @cached_property
    def bound_header(self) -> str:  # "ef2:<version>:<key id>:"
        return f"{BOUND_FORMAT}{self.header[len(FORMAT) :]}"

    def aad(self, label: str) -> bytes:
        aad = self.aads.get(label)
        if aad is None:
            aad = self.aads[label] = f"{label}|{self.header}".encode()
        return aad

    def bound_aad_suffix(self, label: str) -> bytes:
        """A row-bound value's associated data is the row's 16 identity bytes + this suffix."""
        suffix = self.bound_aads.get(label)
        if suffix is None:
            suffix = self.bound_aads[label] = f"|{label}|{self.bound_header}".encode()
        return suffix

    def __repr__(self) -> str:
        return f"DataKeyHandle(v{self.version}, {self.key_id})"


def identity_bytes(identity) -> bytes:
    """A row identity (uuid.UUID, or its text) as the 16 bytes bound into the associated data."""
    if isinstance(identity, uuid.UUID):
        return identity.bytes
    return uuid.UUID(str(identity)).bytes


def identity_column_bytes(identities) -> list[bytes]:
    """A column of uuid.UUID identities as 16-byte values (big-endian, as UUID.bytes), in C-level
    pipelines: no Python call per row. Raises AttributeError for anything but UUIDs."""
    return list(map(int.to_bytes, map(_uuid_int, identities), repeat(IDENTITY_BYTES)))


_uuid_int = attrgetter("int")


def _where(label: str, table: str, row_id) -> str:
    """How errors name a value: field label, table and row id (when the read knows them)."""
    if not table and row_id is None:
        return label
    parts = [f"table {table}"] if table else []
    if row_id is not None:
        parts.append(f"row id {row_id}")
    return f"{label} ({', '.join(parts)})"


class Converter(Protocol):
    """What Keyring.converter returns: Django's per-value converter carrying `value` and `batch`."""

    value: Callable[..., Any]
    batch: Callable[..., list[Any]]

    def __call__(self, token: Any, expression: Any = None, connection: Any = None) -> Any: ...


class Keyring:
    def __init__(self, conf: EncryptionSettings, kms_client=None):
        self.conf = conf
        self.keks = KekSet(conf, kms_client)
        self._deks: dict[str, DataKeyHandle] = {}  # key id -> handle; bounded by conf.dek_cache_size
        self._active: DataKeyHandle | None = None
        self._active_expires = 0.0
        self._blind_keys: dict[tuple[str, str], bytes] = {}
        self._converters: dict[tuple, Converter] = {}
        self._lock = threading.Lock()
        self._reserve_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Keyring(backend={self.conf.kek_backend!r}, cached_data_keys={len(self._deks)})"

    # -- data keys ---------------------------------------------------------------------------------
    def _cache(self, version: int, key_id: str, plaintext: bytes, retired: bool = False) -> DataKeyHandle:
        handle = DataKeyHandle(
            version, key_id, AESGCM(plaintext), f"{FORMAT}:{version}:{key_id}:", str(version), {}, retired
        )
        with self._lock:
            while len(self._deks) >= self.conf.dek_cache_size:
                self._deks.pop(next(iter(self._deks)))  # oldest first
            self._deks[key_id] = handle
        return handle

    def _handle_for_row(self, row) -> DataKeyHandle:
        cached = self._deks.get(row.key_id)
        if cached is not None:
            return cached
        wrapped = WrappedKey(row.kek_backend, row.kek_id, bytes(row.wrapped_key))
        return self._cache(
            row.version, row.key_id, self.keks.unwrap(wrapped, row.key_id), row.retired_at is not None
        )

    def create_key(self):
        """Create the next data key version (it becomes the active key). Returns the DataKey row.

        The row is written and committed on a connection of its own, so it is durable before any value
        encrypted with it can be: if the caller's transaction rolls back, the key stays (unused) instead
        of vanishing while this process keeps encrypting with it.
        """
        from .models import DataKey

        if self.keks.active is None:
            raise KeyConfigurationError("no KEK configured for FIELD_ENCRYPTION_KEK_BACKEND")
        own = connections.create_connection(DEFAULT_DB_ALIAS)  # autocommit
        table = own.ops.quote_name(DataKey._meta.db_table)
        try:
            for _attempt in range(5):
                with own.cursor() as cursor:
                    cursor.execute(f"SELECT coalesce(max(version), 0) FROM {table}")  # noqa: S608 - quoted name
                    version = cursor.fetchone()[0] + 1
                    key_id = secrets.token_hex(4)
                    plaintext, wrapped = self.keks.active.generate(key_id)
                    created_at = timezone.now()
                    try:
                        cursor.execute(
                            f"INSERT INTO {table} "  # noqa: S608 - quoted name
                            "(version, key_id, kek_backend, kek_id, wrapped_key, created_at, "
                            "encryptions_reserved) VALUES (%s, %s, %s, %s, %s, %s, 0) RETURNING id",
                            [version, key_id, wrapped.backend, wrapped.kek_id, wrapped.blob, created_at],
                        )
                    except IntegrityError:
                        continue  # another process created this version at the same moment; take the next one
                    pk = cursor.fetchone()[0]
                row = DataKey(
                    pk=pk,
                    version=version,
                    key_id=key_id,
                    kek_backend=wrapped.backend,
                    kek_id=wrapped.kek_id,
                    wrapped_key=wrapped.blob,
                    created_at=created_at,
                )
                row._state.adding = False
                self._cache(version, key_id, plaintext)
                self.expire_active()
                return row
        finally:
            own.close()
        raise EncryptionError("could not create a new data key: version numbers kept colliding")

    def active(self) -> DataKeyHandle:
        now = time.monotonic()
        active = self._active
        if active is None or now >= self._active_expires:
            from .models import DataKey

            row = DataKey.objects.order_by("-version").first() or self.create_key()
            active = self._handle_for_row(row)
            self._active, self._active_expires = active, now + self.conf.active_key_ttl
        return active

    def expire_active(self) -> None:
        self._active_expires = 0.0

    def _encrypting_key(self) -> DataKeyHandle:
        """The active key, with one encryption counted against it (reserved in blocks, see _reserve)."""
        dek = self.active()
        try:
            next(dek.budget[0])
        except StopIteration:
            dek = self._reserve(dek)
        return dek

    def _reserve(self, dek: DataKeyHandle) -> DataKeyHandle:
        """Count a block of encryptions against `dek` in the database; rotate to a new key past the limit.

        Every process reserves ENCRYPTION_RESERVATION encryptions at a time (one UPDATE on a connection
        of its own), so the stored count is an upper bound of what was really encrypted across processes.
        Once it passes ROTATE_AFTER_ENCRYPTIONS (default 2^31), the next data key is created and takes
        over: long before the 2^32 random-nonce limit of NIST SP 800-38D (section 8.3).
        """
        from .models import DataKey

        with self._reserve_lock:
            try:
                next(dek.budget[0])  # another thread reserved while this one waited
            except StopIteration:
                pass
            else:
                return dek
            block = self.conf.encryption_reservation
            own = connections.create_connection(DEFAULT_DB_ALIAS)  # autocommit: the count survives rollbacks
            try:
                with own.cursor() as cursor:
                    cursor.execute(
                        f"UPDATE {own.ops.quote_name(DataKey._meta.db_table)} "  # noqa: S608 - quoted name
                        "SET encryptions_reserved = encryptions_reserved + %s WHERE key_id = %s "
                        "RETURNING encryptions_reserved",
                        [block, dek.key_id],
                    )
                    found = cursor.fetchone()
            finally:
                own.close()
            if found is None:
                raise UnknownKeyError(
                    f"active data key v{dek.version} ({dek.key_id}) is no longer in the encryption_datakey "
                    "table; it cannot count its encryptions"
                )
            reserved = found[0]
            if reserved <= self.conf.rotate_after_encryptions and reserved <= NONCE_SAFE_ENCRYPTIONS:
                dek.budget[0] = iter(range(block - 1))  # this call takes the first one of the block
                return dek
            newest = DataKey.objects.order_by("-version").values_list("version", flat=True).first()
            if newest is not None and newest > dek.version:
                self.expire_active()  # another process already created the next key: use it
            else:
                logger.warning(
                    "data key v%s (%s) reached %s reserved encryptions (limit %s): creating the next key",
                    dek.version,
                    dek.key_id,
                    reserved,
                    self.conf.rotate_after_encryptions,
                )
                self.create_key()
        return self._encrypting_key()  # the newest key, with a block of its own

    def get(self, key_id: str, version: str, label: str = "") -> DataKeyHandle:
        handle = self._deks.get(key_id)
        if handle is None:
            from .models import DataKey

            row = DataKey.objects.filter(key_id=key_id).first()
            if row is None:
                where = f" in {label}" if label else ""
                raise UnknownKeyError(
                    f"ciphertext{where} names data key v{version} ({key_id}), which is not in the keyring "
                    "(encryption_datakey table): it comes from another database or environment"
                )
            handle = self._handle_for_row(row)
        if handle.version_text != version:
            raise UnknownKeyError(
                f"ciphertext{' in ' + label if label else ''} names data key {key_id} as version {version}, "
                f"but the keyring holds that id as version {handle.version}"
            )
        return handle

    # -- values --------------------------------------------------------------------------------------
    def encrypt(self, plaintext: str, label: str, identity: bytes | None = None) -> str:
        """Encrypt for field `label`; with the row's 16-byte `identity`, bound to that row too (ef2)."""
        dek = self._encrypting_key()
        nonce = os.urandom(NONCE_BYTES)
        if identity is None:
            sealed = dek.aead.encrypt(nonce, plaintext.encode(), dek.aad(label))
            header = dek.header
        else:
            sealed = dek.aead.encrypt(nonce, plaintext.encode(), identity + dek.bound_aad_suffix(label))
            header = dek.bound_header
        return header + binascii.b2a_base64(nonce + sealed, newline=False).decode("ascii")

    def decrypt(self, token: str, label: str, identity: bytes | None = None, row_id=None) -> str:
        return self.converter(label).value(token, identity, row_id)

    def converter(
        self,
        label: str,
        from_text: Callable[[str], object] | None = None,
        table: str = "",
        row_bound: bool = False,
    ) -> Converter:
        """The database converter of one field: ciphertext (or None) -> value. The hot path of every list.

        convert(token) is Django's per-value converter; convert.value(token, identity=None, row_id=None)
        takes the row's identity (needed for row-bound ef2 values) and id (named in errors). Each
        distinct ciphertext header is validated and resolved to its data key once; after that a value
        costs one partition, one dict lookup and one AEAD call.

        The converter carries `batch`, which converts a column of values (one chunk of rows, see
        query.py) with the same result; it is what the list views use.
        """
        key = (label, from_text, table, row_bound)
        cached = self._converters.get(key)
        if cached is not None:
            return cached
        resolved: dict[str, tuple] = {}
        a2b = binascii.a2b_base64
        limit = self.conf.dek_cache_size

        def convert_value(token, identity=None, row_id=None):
            if token is None:
                return None
            header, _, body = token.rpartition(":")
            entry = resolved.get(header)
            if entry is None:
                dek, bound = self._resolve_header(header, token, label, table, row_id, row_bound)
                if len(resolved) >= limit:
                    resolved.clear()
                aad = dek.bound_aad_suffix(label) if bound else dek.aad(label)
                entry = resolved[header] = (dek.aead.decrypt, aad, dek, bound)
            if entry[3]:
                if identity is None:
                    raise DecryptionError(
                        f"value in {_where(label, table, row_id)} is bound to its row and was read without "
                        "the row identity; read it through the model's EncryptedManager "
                        "(objects, and Meta.base_manager_name), which loads it"
                    )
                aad = (identity if isinstance(identity, bytes) else identity_bytes(identity)) + entry[1]
            else:
                aad = entry[1]
            try:
                raw = a2b(body)
                text = entry[0](raw[:12], raw[12:], aad).decode()  # 12 = NONCE_BYTES
            except (InvalidTag, ValueError):  # binascii.Error and UnicodeDecodeError are ValueErrors
                raise self._failure(entry[2], body, label, table, row_id, identity, entry[3]) from None
            return text if from_text is None else from_text(text)

        def convert(token, expression=None, connection=None):  # Django's per-value converter signature
            return convert_value(token)

        converter = cast(Converter, convert)  # the function, with the two attributes set here
        converter.value = convert_value
        converter.batch = self._batch_converter(label, from_text, table, row_bound, convert_value)
        self._converters[key] = converter
        return converter

    def _batch_converter(
        self, label: str, from_text, table: str, row_bound: bool, convert: Callable
    ) -> Callable:
        """convert() over a column of values: the same values, or the same error, as one call per value.

        Every value is still decrypted and authenticated on its own (own nonce, its field's and row's
        associated data, the header checked in full); what is shared is the work around it. When every
        value of the column starts with the same header, the values go through base64 decoding, the
        AEAD and text decoding as C-level map() pipelines instead of one Python call per value. The
        checks that every value carries the header and no other ":" are whole-column operations too
        (min/max, one search). Anything
        else (another key in the same chunk during rotation, a malformed or tampered value, a missing
        row identity) goes value by value through convert(), which raises the precise error.
        """
        a2b = binascii.a2b_base64
        nonce_of = itemgetter(slice(None, NONCE_BYTES))
        sealed_of = itemgetter(slice(NONCE_BYTES, None))
        decode = bytes.decode
        startswith = str.startswith
        concat = bytes.__add__
        fast: tuple | None = None  # (header with its colon, body getter, aead decrypt, aad or suffix, bound)

        def header_state(token: str) -> tuple | None:
            header, sep, _ = token.rpartition(":")
            if not sep:
                return None
            try:
                dek, bound = self._resolve_header(header, token, label, table, None, row_bound)
            except EncryptionError:
                return None  # convert() raises it, naming the value's field and row
            aad = dek.bound_aad_suffix(label) if bound else dek.aad(label)
            return (f"{header}:", itemgetter(slice(len(header) + 1, None)), dek.aead.decrypt, aad, bound)

        def one_by_one(tokens, identities, row_ids) -> list:
            identities = repeat(None) if identities is None else identities
            row_ids = repeat(None) if row_ids is None else row_ids
            return list(map(convert, tokens, identities, row_ids))

        def batch(tokens, identities=None, row_ids=None) -> list:
            nonlocal fast
            complete = None not in tokens
            selector = None if complete else list(map(is_not, tokens, repeat(None)))
            present = tokens if selector is None else list(compress(tokens, selector))
            if not present:
                return list(tokens)
            # Does every value start with the header? The strings that start with a prefix are one
            # contiguous range in sort order, so it is enough that the smallest and the largest do:
            # min() and max() compare in C, without the argument tuple per value that str.startswith
            # through map() builds.
            first, last = min(present), max(present)
            state = fast
            if state is None or not (startswith(first, state[0]) and startswith(last, state[0])):
                state = header_state(present[0])
                if state is None or not (startswith(first, state[0]) and startswith(last, state[0])):
                    return one_by_one(tokens, identities, row_ids)
                fast = state  # one tuple, so a concurrent reader never mixes two keys' parts
            _prefix, body_of, decrypt, aad, bound = state
            aads: Iterable[bytes]
            if bound:
                if identities is None or not all(identities):
                    return one_by_one(tokens, identities, row_ids)
                ids = identities if selector is None else list(compress(identities, selector))
                if type(ids[0]) is not bytes:
                    try:
                        ids = identity_column_bytes(ids)
                    except AttributeError:  # not UUIDs
                        return one_by_one(tokens, identities, row_ids)
                aads = map(concat, ids, repeat(aad))
            else:
                aads = repeat(aad)
            bodies = list(map(body_of, present))
            if ":" in "".join(bodies):  # convert() splits at the last ":"; so must this (one memchr)
                return one_by_one(tokens, identities, row_ids)
            try:
                raws = list(map(a2b, bodies))
                plaintexts = map(decrypt, map(nonce_of, raws), map(sealed_of, raws), aads)
                values: list[Any] = list(map(decode, plaintexts))
            except (InvalidTag, ValueError):  # binascii.Error and UnicodeDecodeError are ValueErrors
                return one_by_one(tokens, identities, row_ids)
            if from_text is not None:
                values = list(map(from_text, values))
            if not complete:
                found = iter(values)
                values = [None if token is None else next(found) for token in tokens]
            return values

        return batch

    def _resolve_header(
        self, header: str, token: str, label: str, table: str = "", row_id=None, row_bound: bool = False
    ) -> tuple[DataKeyHandle, bool]:
        """The data key a header names, and whether the value is row-bound (ef2)."""
        parts = header.split(":")
        if len(parts) != 3 or parts[0] not in (FORMAT, BOUND_FORMAT):
            shown = token.split(":", 1)[0][:8] if ":" in token else "no header"
            raise DecryptionError(
                f"value in {_where(label, table, row_id)} is not a field-encryption ciphertext "
                f"(format {shown!r}, expected {BOUND_FORMAT!r} or {FORMAT!r}); "
                "it was written without encryption or by another tool"
            )
        fmt, version, key_id = parts
        dek = self._deks.get(key_id)
        if dek is None or dek.version_text != version:
            dek = self.get(key_id, version, _where(label, table, row_id))
        if fmt == BOUND_FORMAT and not row_bound:
            raise FieldMismatchError(
                f"ciphertext in {_where(label, table, row_id)} is bound to a row of a model with a "
                f"RowIdentityField, and {label} has none: it was copied from another table"
            )
        if fmt == FORMAT and row_bound and dek.retired:
            # Every row of a row-bound model was rewritten to ef2 before this key was retired: an ef1
            # value under it was put back from a backup or copied in, and could belong to any row.
            raise DecryptionError(
                f"value in {_where(label, table, row_id)} has the old field-only format under retired data "
                f"key v{dek.version} ({dek.key_id}): it was written before row binding and put back "
                "after rotation, so it cannot be trusted to belong to this row"
            )
        return dek, fmt == BOUND_FORMAT

    def _failure(
        self, dek: DataKeyHandle, body: str, label: str, table: str, row_id, identity, bound: bool
    ) -> DecryptionError:
        owner = self._owner_of(dek, body, label, identity, bound)
        where = _where(label, table, row_id)
        if owner:
            return FieldMismatchError(
                f"ciphertext in {where} was encrypted for field {owner}; "
                "copying encrypted values between fields is refused"
            )
        how = "altered or copied from another row" if bound else "altered"
        return DecryptionError(
            f"ciphertext in {where} (data key v{dek.version}, {dek.key_id}) failed authentication: it was "
            f"{how}, or the data key under that id is not the one that encrypted it"
        )

    def _owner_of(self, dek: DataKeyHandle, body: str, label: str, identity, bound: bool) -> str | None:
        """Name the field a ciphertext really belongs to (error path only)."""
        try:
            raw = binascii.a2b_base64(body)
        except (binascii.Error, ValueError):
            return None
        if bound and identity is None:
            return None
        for other in sorted(FIELD_LABELS - {label}):
            if bound:
                own = identity if isinstance(identity, bytes) else identity_bytes(identity)
                aad = own + dek.bound_aad_suffix(other)
            else:
                aad = f"{other}|{dek.header}".encode()
            try:
                dek.aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)
            except (InvalidTag, ValueError):
                continue
            return other
        return None

    # -- blind index ---------------------------------------------------------------------------------
    def blind_index(self, label: str, normalized: str, key_id: str | None = None) -> str:
        """The index of a normalised value: "<key id>:<hex HMAC>" under `key_id` (default: the active key)."""
        key_id = key_id or self.conf.blind_index_active
        return f"{key_id}:{self._blind_hmac(label, normalized, key_id)}"

    def blind_index_candidates(self, label: str, normalized: str) -> list[str]:
        """Every stored form the value's index may have while a rebuild runs: each configured key, with
        its version prefix, and unprefixed (values written before index keys carried a version)."""
        candidates = []
        for key_id in self.conf.blind_index_keys:
            digest = self._blind_hmac(label, normalized, key_id)
            candidates += [f"{key_id}:{digest}", digest]
        return candidates

    def _blind_hmac(self, label: str, normalized: str, key_id: str) -> str:
        key = self._blind_keys.get((label, key_id))
        if key is None:
            master = self.conf.blind_index_keys.get(key_id)
            if master is None:
                raise UnknownKeyError(
                    f"blind index {label} names index key {key_id!r}, which is not in "
                    f"FIELD_ENCRYPTION_BLIND_INDEX_KEY (ids there: {sorted(self.conf.blind_index_keys)})"
                )
            # One derived key per index field: equal values in two different indexes do not match.
            key = hmac.new(master, b"soc2kit-blind-index:" + label.encode(), hashlib.sha256).digest()
            self._blind_keys[(label, key_id)] = key
        return hmac.new(key, normalized.encode(), hashlib.sha256).hexdigest()

    # -- KEK maintenance -----------------------------------------------------------------------------
    def active_kek_id(self) -> str:
        kek = self.keks.active
        if isinstance(kek, KmsKEK):
            # Wrapped keys record the key ARN; the setting may be an alias or bare id.
            return kek.client.describe_key(KeyId=kek.active_id)["KeyMetadata"]["Arn"]
        return kek.active_id

    def rewrap(self, row) -> bool:
        """Re-wrap one DataKey row under the active KEK (same data key, so no ciphertext changes).

        Returns False when the row already is under the active KEK.
        """
        from .models import DataKey

        kek = self.keks.active
        if row.kek_backend == kek.backend and row.kek_id == self.active_kek_id():
            return False
        with transaction.atomic():
            row = DataKey.objects.select_for_update().get(pk=row.pk)
            plaintext = self.keks.unwrap(
                WrappedKey(row.kek_backend, row.kek_id, bytes(row.wrapped_key)), row.key_id
            )
            wrapped = kek.wrap(plaintext, row.key_id)
            if self.keks.unwrap(wrapped, row.key_id) != plaintext:  # never store a wrap we cannot undo
                raise DecryptionError(
                    f"re-wrapped {row} does not unwrap to the same key; nothing was changed"
                )
            row.kek_backend, row.kek_id, row.wrapped_key = wrapped.backend, wrapped.kek_id, wrapped.blob
            row.rewrapped_at = timezone.now()
            row.save(update_fields=["kek_backend", "kek_id", "wrapped_key", "rewrapped_at"])
        return True

    def kek_roundtrip(self) -> None:
        """Prove the active KEK works without storing anything (readiness before the first data key)."""
        probe = "readiness-probe"
        plaintext, wrapped = self.keks.active.generate(probe)
        if self.keks.unwrap(wrapped, probe) != plaintext:
            raise DecryptionError("the active KEK did not unwrap what it wrapped")


_keyring: Keyring | None = None
_keyring_lock = threading.Lock()


def get_keyring() -> Keyring:
    global _keyring
    ring = _keyring
    if ring is None:
        with _keyring_lock:
            if _keyring is None:
                _keyring = Keyring(load_settings())
            ring = _keyring
    return ring


def reset_keyring() -> None:
    """Forget cached keys and settings (after a settings change, and between tests)."""
    global _keyring
    with _keyring_lock:
        _keyring = None


def check_keys_loadable() -> None:
    """Raise a clear EncryptionError unless the settings parse and the active data key can be unwrapped.

    Used by /readyz. Before the first data key exists it proves the KEK with a wrap/unwrap round trip.
    """
    from .models import DataKey

    ring = get_keyring()
    row = DataKey.objects.order_by("-version").first()
    if row is None:
        ring.kek_roundtrip()
    else:
        ring.get(row.key_id, str(row.version))
