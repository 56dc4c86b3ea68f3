"""Reads and validates settings.FIELD_ENCRYPTION into a typed object.

Every error names the setting (and the key id where there is one) and says how to fix it; no error
message ever contains key material.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .errors import KeyConfigurationError

KEY_BYTES = 32  # AES-256 and HMAC-SHA256 keys
BLIND_INDEX_DEFAULT_ID = "1"  # the id of a blind-index key given as plain base64
MAX_ENCRYPTIONS_PER_KEY = 2**32  # NIST SP 800-38D 8.3, random 96-bit nonces
BACKENDS = ("local", "kms")
GENERATE_HINT = (
    "generate one with: python -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())'"
)


@dataclass(frozen=True)
class EncryptionSettings:
    kek_backend: str
    local_keks: dict[str, bytes] = field(repr=False)  # key id -> 32-byte KEK; may be empty for kms
    local_active_kek: str | None
    kms_key_id: str | None
    kms_encryption_context: dict[str, str]
    kms_region: str | None
    blind_index_keys: dict[str, bytes] = field(repr=False)  # key id -> 32-byte key
    blind_index_active: str = BLIND_INDEX_DEFAULT_ID  # the key id new index values are written with
    dek_cache_size: int = 64
    active_key_ttl: float = 60.0
    rotate_after_encryptions: int = 2**31  # half of NIST SP 800-38D's 2^32 random-nonce limit
    encryption_reservation: int = 2**16  # encryptions a process counts against a key per database update


def decode_key(value: Any, name: str) -> bytes:
    """Decode a base64 32-byte key; `name` says which setting it came from (for the message)."""
    if not isinstance(value, str) or not value.strip():
        raise KeyConfigurationError(
            f"{name} is empty or not a string; set it to base64 of 32 random bytes ({GENERATE_HINT})"
        )
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyConfigurationError(
            f"{name} is not valid base64; set it to base64 of 32 random bytes ({GENERATE_HINT})"
        ) from None
    if len(raw) != KEY_BYTES:
        raise KeyConfigurationError(
            f"{name} decodes to {len(raw)} bytes; AES-256/HMAC-SHA256 keys must be exactly {KEY_BYTES} bytes "
            f"({GENERATE_HINT})"
        )
    return raw


def _parse_local_keks(raw: Any) -> tuple[dict[str, bytes], str]:
    name = "FIELD_ENCRYPTION_LOCAL_KEKS"
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            # exc.msg and position only: the document itself holds key material.
            raise KeyConfigurationError(
                f'{name} is not valid JSON ({exc.msg} at position {exc.pos}); expected {{"active": "k1", '
                f'"keys": {{"k1": "<base64 32 bytes>"}}}}'
            ) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("keys"), dict) or not raw["keys"]:
        raise KeyConfigurationError(
            f'{name} must be a JSON object {{"active": "<key id>", '
            '"keys": {{"<key id>": "<base64 32 bytes>"}}}} '
            "with at least one key"
        )
    keys: dict[str, bytes] = {}
    for key_id, value in raw["keys"].items():
        if not isinstance(key_id, str) or not key_id or len(key_id) > 64 or ":" in key_id:
            raise KeyConfigurationError(
                f"{name} has an invalid key id {key_id!r}: use 1-64 characters without ':'"
            )
        keys[key_id] = decode_key(value, f"{name} key {key_id!r}")
    active = raw.get("active")
    if active not in keys:
        raise KeyConfigurationError(
            f"{name} 'active' is {active!r}, which is not one of its key ids {sorted(keys)}; "
            "name the key that wraps new data keys"
        )
    return keys, active


def _parse_blind_index_keys(raw: Any) -> tuple[dict[str, bytes], str]:
    """Plain base64 (one key, id "1"), or {"active": "2", "keys": {"1": "<b64>", "2": "<b64>"}} while
    rebuild_blind_indexes moves every index to the active key."""
    name = "FIELD_ENCRYPTION_BLIND_INDEX_KEY"
    if not (isinstance(raw, str) and raw.lstrip().startswith("{")):
        return {BLIND_INDEX_DEFAULT_ID: decode_key(raw, name)}, BLIND_INDEX_DEFAULT_ID
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise KeyConfigurationError(
            f"{name} is not valid JSON ({exc.msg} at position {exc.pos}); expected base64 of 32 bytes, or "
            f'{{"active": "2", "keys": {{"1": "<base64 32 bytes>", "2": "<base64 32 bytes>"}}}}'
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), dict) or not document["keys"]:
        raise KeyConfigurationError(
            f'{name} must be base64 of 32 bytes or a JSON object {{"active": "<key id>", '
            '"keys": {"<key id>": "<base64 32 bytes>"}} with at least one key'
        )
    keys: dict[str, bytes] = {}
    for key_id, value in document["keys"].items():
        if not key_id or len(key_id) > 8 or not key_id.isalnum():
            raise KeyConfigurationError(
                f"{name} has an invalid key id {key_id!r}: "
                "use 1-8 letters or digits (it prefixes every index value)"
            )
        keys[key_id] = decode_key(value, f"{name} key {key_id!r}")
    active = document.get("active")
    if active not in keys:
        raise KeyConfigurationError(
            f"{name} 'active' is {active!r}, which is not one of its key ids {sorted(keys)}; "
            "name the key new index values are written with"
        )
    return keys, active


def load_settings() -> EncryptionSettings:
    """Parse settings.FIELD_ENCRYPTION; raise KeyConfigurationError naming the first problem found."""
    conf = getattr(settings, "FIELD_ENCRYPTION", None)
    if not isinstance(conf, dict):
        raise KeyConfigurationError(
            "settings.FIELD_ENCRYPTION is missing; set FIELD_ENCRYPTION_KEK_BACKEND, "
            "FIELD_ENCRYPTION_LOCAL_KEKS "
            "or FIELD_ENCRYPTION_KMS_KEY_ID, and FIELD_ENCRYPTION_BLIND_INDEX_KEY"
        )
    backend = conf.get("KEK_BACKEND")
    if backend not in BACKENDS:
        raise KeyConfigurationError(
            f"FIELD_ENCRYPTION_KEK_BACKEND is {backend!r}; it must be one of {BACKENDS}"
        )

    local_keks: dict[str, bytes] = {}
    local_active = None
    # Local KEKs may also be present with the kms backend: they unwrap data keys during a move to KMS.
    if conf.get("LOCAL_KEKS") or backend == "local":
        if not conf.get("LOCAL_KEKS"):
            raise KeyConfigurationError(
                "FIELD_ENCRYPTION_LOCAL_KEKS is empty but FIELD_ENCRYPTION_KEK_BACKEND is 'local'; "
                f'set it to {{"active": "k1", "keys": {{"k1": "<base64 32 bytes>"}}}} ({GENERATE_HINT})'
            )
        local_keks, local_active = _parse_local_keks(conf["LOCAL_KEKS"])

    kms_key_id = conf.get("KMS_KEY_ID") or None
    if backend == "kms" and not kms_key_id:
        raise KeyConfigurationError(
            "FIELD_ENCRYPTION_KMS_KEY_ID is empty but FIELD_ENCRYPTION_KEK_BACKEND is 'kms'; "
            "set it to the KMS key ARN or alias/<name>"
        )
    if kms_key_id is not None and not isinstance(kms_key_id, str):
        raise KeyConfigurationError(
            "FIELD_ENCRYPTION_KMS_KEY_ID must be a string (key ARN, key id or alias/<name>)"
        )
    context = conf.get("KMS_ENCRYPTION_CONTEXT") or {}
    if not isinstance(context, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in context.items()
    ):
        raise KeyConfigurationError(
            "FIELD_ENCRYPTION KMS_ENCRYPTION_CONTEXT must be a dict of string keys to strings"
        )

    blind_index_keys, blind_index_active = _parse_blind_index_keys(conf.get("BLIND_INDEX_KEY"))
    if set(blind_index_keys.values()) & set(local_keks.values()):
        raise KeyConfigurationError(
            "FIELD_ENCRYPTION_BLIND_INDEX_KEY equals one of the local KEKs; the blind index needs its own key"
        )

    cache_size = conf.get("DEK_CACHE_SIZE", 64)
    ttl = conf.get("ACTIVE_KEY_TTL", 60)
    if not isinstance(cache_size, int) or cache_size < 1:
        raise KeyConfigurationError(
            f"FIELD_ENCRYPTION DEK_CACHE_SIZE is {cache_size!r}; it must be an integer >= 1"
        )
    if not isinstance(ttl, int | float) or ttl < 0:
        raise KeyConfigurationError(
            f"FIELD_ENCRYPTION ACTIVE_KEY_TTL is {ttl!r}; it must be a number of seconds >= 0"
        )
    rotate_after = conf.get("ROTATE_AFTER_ENCRYPTIONS", 2**31)
    if not isinstance(rotate_after, int) or not 1 <= rotate_after < MAX_ENCRYPTIONS_PER_KEY:
        raise KeyConfigurationError(
            f"FIELD_ENCRYPTION ROTATE_AFTER_ENCRYPTIONS is {rotate_after!r}; it must be an integer from 1 "
            f"to {MAX_ENCRYPTIONS_PER_KEY - 1} (random 96-bit nonces allow 2^32 encryptions per key)"
        )
    reservation = conf.get("ENCRYPTION_RESERVATION", 2**16)
    if not isinstance(reservation, int) or not 1 <= reservation <= rotate_after:
        raise KeyConfigurationError(
            f"FIELD_ENCRYPTION ENCRYPTION_RESERVATION is {reservation!r}; it must be an integer from 1 to "
            f"ROTATE_AFTER_ENCRYPTIONS ({rotate_after})"
        )

    return EncryptionSettings(
        kek_backend=backend,
        local_keks=local_keks,
        local_active_kek=local_active,
        kms_key_id=kms_key_id,
        kms_encryption_context=dict(context),
        kms_region=conf.get("KMS_REGION") or None,
        blind_index_keys=blind_index_keys,
        blind_index_active=blind_index_active,
        dek_cache_size=cache_size,
        active_key_ttl=float(ttl),
        rotate_after_encryptions=rotate_after,
        encryption_reservation=reservation,
    )


def require_valid_settings() -> EncryptionSettings:
    """load_settings() for process start-up (config/wsgi.py): bad key material stops the app from
    loading, so gunicorn refuses to boot instead of failing on the first encrypted read."""
    try:
        return load_settings()
    except KeyConfigurationError as exc:
        raise ImproperlyConfigured(f"Field encryption cannot start: {exc}") from None
