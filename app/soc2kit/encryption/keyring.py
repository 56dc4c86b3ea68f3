"""The keyring: data keys (DEKs) unwrapped on first use and cached in process memory, and the AEAD itself.

Ciphertext format (a text column):  ef1:<dek version>:<dek key id>:<base64(nonce || ciphertext || tag)>
- ef1: format version 1 = AES-256-GCM, 12-byte random nonce, 16-byte tag (cryptography's AESGCM).
- associated data = "<app_label.Model.field>|ef1:<version>:<key id>:", so the header cannot be
  altered and a ciphertext copied into another field fails authentication (FieldMismatchError).
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import repeat
from operator import contains, itemgetter

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
from .kek import NONCE_BYTES, KekSet, WrappedKey

FORMAT = "ef1"

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

    def aad(self, label: str) -> bytes:
        aad = self.aads.get(label)
        if aad is None:
            aad = self.aads[label] = f"{label}|{self.header}".encode()
        return aad

    def __repr__(self) -> str:
        return f"DataKeyHandle(v{self.version}, {self.key_id})"


class Keyring:
    def __init__(self, conf: EncryptionSettings, kms_client=None):
        self.conf = conf
        self.keks = KekSet(conf, kms_client)
        self._deks: dict[str, DataKeyHandle] = {}  # key id -> handle; bounded by conf.dek_cache_size
        self._active: DataKeyHandle | None = None
        self._active_expires = 0.0
        self._blind_keys: dict[str, bytes] = {}
        self._converters: dict[tuple, Callable] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Keyring(backend={self.conf.kek_backend!r}, cached_data_keys={len(self._deks)})"

    # -- data keys ---------------------------------------------------------------------------------
    def _cache(self, version: int, key_id: str, plaintext: bytes) -> DataKeyHandle:
        handle = DataKeyHandle(
            version, key_id, AESGCM(plaintext), f"{FORMAT}:{version}:{key_id}:", str(version), {}
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
        return self._cache(row.version, row.key_id, self.keks.unwrap(wrapped, row.key_id))

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
                            "(version, key_id, kek_backend, kek_id, wrapped_key, created_at) "
                            "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
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

    def get(self, key_id: str, version: str, label: str = "") -> DataKeyHandle:
        handle = self._deks.get(key_id)
        if handle is None:
            from .models import DataKey

            row = DataKey.objects.filter(key_id=key_id).first()
            if row is None:
                where = f" in {label}" if label else ""
                raise UnknownKeyError(
                    f"ciphertext{where} names data key v{version} ({key_id}), which is not in the keyring "
                    "(encryption_datakey table): it comes from another database or environment, "
                    "or its key was "
                    "deleted"
                )
            handle = self._handle_for_row(row)
        if handle.version_text != version:
            raise UnknownKeyError(
                f"ciphertext{' in ' + label if label else ''} names data key {key_id} as version {version}, "
                f"but the keyring holds that id as version {handle.version}"
            )
        return handle

    # -- values --------------------------------------------------------------------------------------
    def encrypt(self, plaintext: str, label: str) -> str:
        dek = self.active()
        nonce = os.urandom(NONCE_BYTES)
        sealed = dek.aead.encrypt(nonce, plaintext.encode(), dek.aad(label))
        return dek.header + binascii.b2a_base64(nonce + sealed, newline=False).decode("ascii")

    def decrypt(self, token: str, label: str) -> str:
        return self.converter(label)(token)

    def converter(self, label: str, from_text: Callable[[str], object] | None = None) -> Callable:
        """The database converter of one field: ciphertext (or None) -> value. The hot path of every list.

        Each distinct ciphertext header ("ef1:<version>:<key id>") is validated and resolved to its data
        key once; after that a value costs one partition, one dict lookup and one AEAD call.

        The converter carries `batch`, which converts a column of values (one chunk of rows, see
        query.py) with the same result; it is what the list views use.
        """
        cached = self._converters.get((label, from_text))
        if cached is not None:
            return cached
        resolved: dict[str, tuple[Callable, bytes, DataKeyHandle]] = {}
        a2b = binascii.a2b_base64
        limit = self.conf.dek_cache_size

        def convert(token, expression=None, connection=None):
            if token is None:
                return None
            header, _, body = token.rpartition(":")
            entry = resolved.get(header)
            if entry is None:
                dek = self._resolve_header(header, token, label)
                if len(resolved) >= limit:
                    resolved.clear()
                entry = resolved[header] = (dek.aead.decrypt, dek.aad(label), dek)
            try:
                raw = a2b(body)
                text = entry[0](raw[:12], raw[12:], entry[1]).decode()  # 12 = NONCE_BYTES
            except (InvalidTag, ValueError):  # binascii.Error and UnicodeDecodeError are ValueErrors
                raise self._failure(entry[2], body, label) from None
            return text if from_text is None else from_text(text)

        convert.batch = self._batch_converter(label, from_text, convert)
        self._converters[(label, from_text)] = convert
        return convert

    def _batch_converter(self, label: str, from_text, convert: Callable) -> Callable:
        """convert() over a column of values: the same values, or the same error, as one call per value.

        Every value is still decrypted and authenticated on its own (own nonce, the field's associated
        data, the header checked in full); what is shared is the work around it. When every value of the
        column starts with the same header, the values go through base64 decoding, the AEAD and text
        decoding as C-level map() pipelines instead of one Python call per value. Anything else (another
        key in the same chunk during rotation, a malformed or tampered value) goes value by value
        through convert(), which raises the precise error.
        """
        a2b = binascii.a2b_base64
        nonce_of = itemgetter(slice(None, NONCE_BYTES))
        sealed_of = itemgetter(slice(NONCE_BYTES, None))
        decode = bytes.decode
        startswith = str.startswith
        fast: tuple | None = None  # (header with its colon, body getter, aead decrypt, associated data)

        def header_state(token: str) -> tuple | None:
            header, sep, _ = token.rpartition(":")
            if not sep:
                return None
            try:
                dek = self._resolve_header(header, token, label)
            except EncryptionError:
                return None  # convert() raises it, naming the value's field
            return (f"{header}:", itemgetter(slice(len(header) + 1, None)), dek.aead.decrypt, dek.aad(label))

        def batch(tokens) -> list:
            nonlocal fast
            present = tokens if all(tokens) else [token for token in tokens if token is not None]
            if not present:
                return list(tokens)
            state = fast
            if state is None or not all(map(startswith, present, repeat(state[0]))):
                state = header_state(present[0])
                if state is None or not all(map(startswith, present, repeat(state[0]))):
                    return [convert(token) for token in tokens]
                fast = state  # one tuple, so a concurrent reader never mixes two keys' parts
            _prefix, body_of, decrypt, aad = state
            bodies = list(map(body_of, present))
            if any(map(contains, bodies, repeat(":"))):  # convert() splits at the last ":"; so must this
                return [convert(token) for token in tokens]
            try:
                raws = list(map(a2b, bodies))
                plaintexts = map(decrypt, map(nonce_of, raws), map(sealed_of, raws), repeat(aad))
                values = list(map(decode, plaintexts))
            except (InvalidTag, ValueError):  # binascii.Error and UnicodeDecodeError are ValueErrors
                return [convert(token) for token in tokens]
            if from_text is not None:
                values = list(map(from_text, values))
            if present is not tokens:
                found = iter(values)
                values = [None if token is None else next(found) for token in tokens]
            return values

        return batch

    def _resolve_header(self, header: str, token: str, label: str) -> DataKeyHandle:
        parts = header.split(":")
        if len(parts) != 3 or parts[0] != FORMAT:
            shown = token.split(":", 1)[0][:8] if ":" in token else "no header"
            raise DecryptionError(
                f"value in {label} is not a field-encryption ciphertext "
                f"(format {shown!r}, expected {FORMAT!r}); "
                "it was written without encryption or by another tool"
            )
        _fmt, version, key_id = parts
        dek = self._deks.get(key_id)
        if dek is None or dek.version_text != version:
            dek = self.get(key_id, version, label)
        return dek

    def _failure(self, dek: DataKeyHandle, body: str, label: str) -> DecryptionError:
        owner = self._owner_of(dek, body, label)
        if owner:
            return FieldMismatchError(
                f"ciphertext in {label} was encrypted for field {owner}; "
                "copying encrypted values between fields is refused"
            )
        return DecryptionError(
            f"ciphertext in {label} (data key v{dek.version}, {dek.key_id}) failed authentication: "
            "it was altered, or the data key under that id is not the one that encrypted it"
        )

    def _owner_of(self, dek: DataKeyHandle, body: str, label: str) -> str | None:
        """Name the field a ciphertext really belongs to (error path only)."""
        try:
            raw = binascii.a2b_base64(body)
        except (binascii.Error, ValueError):
            return None
        for other in sorted(FIELD_LABELS - {label}):
            try:
                dek.aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], f"{other}|{dek.header}".encode())
            except (InvalidTag, ValueError):
                continue
            return other
        return None

    # -- blind index ---------------------------------------------------------------------------------
    def blind_index(self, label: str, normalized: str) -> str:
        key = self._blind_keys.get(label)
        if key is None:
            # One derived key per index field: equal values in two different indexes do not match.
            key = hmac.new(
                self.conf.blind_index_key, b"soc2kit-blind-index:" + label.encode(), hashlib.sha256
            ).digest()
            self._blind_keys[label] = key
        return hmac.new(key, normalized.encode(), hashlib.sha256).hexdigest()

    # -- KEK maintenance -----------------------------------------------------------------------------
    def active_kek_id(self) -> str:
        kek = self.keks.active
        if kek.backend == "kms":
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
