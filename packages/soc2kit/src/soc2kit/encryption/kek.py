"""Key-encryption keys (KEKs): they wrap and unwrap the data keys stored in the DataKey table.

- LocalKEK: AES-256-GCM with a 32-byte key from the environment (development, tests).
- KmsKEK: AWS KMS (production). New data keys come from GenerateDataKey; unwrap is KMS Decrypt;
  every call carries an encryption context that names the data key, so a wrapped key copied onto
  another DataKey row does not unwrap.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .config import KEY_BYTES, EncryptionSettings
from .errors import DecryptionError, KeyConfigurationError, UnknownKeyError

NONCE_BYTES = 12


@dataclass(frozen=True)
class WrappedKey:
    backend: str  # "local" or "kms"
    kek_id: str  # local key id, or the KMS key ARN that wrapped it
    blob: bytes


def _local_aad(dek_key_id: str) -> bytes:
    return b"soc2kit-dek:" + dek_key_id.encode()


class LocalKEK:
    backend = "local"

    def __init__(self, keys: dict[str, bytes], active: str):
        self._keys = keys
        self.active_id = active

    def __repr__(self) -> str:  # never show key material
        return f"LocalKEK(active={self.active_id!r}, ids={sorted(self._keys)})"

    def generate(self, dek_key_id: str) -> tuple[bytes, WrappedKey]:
        plaintext = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        return plaintext, self.wrap(plaintext, dek_key_id)

    def wrap(self, plaintext: bytes, dek_key_id: str) -> WrappedKey:
        nonce = os.urandom(NONCE_BYTES)
        blob = nonce + AESGCM(self._keys[self.active_id]).encrypt(nonce, plaintext, _local_aad(dek_key_id))
        return WrappedKey(self.backend, self.active_id, blob)

    def unwrap(self, wrapped: WrappedKey, dek_key_id: str) -> bytes:
        kek = self._keys.get(wrapped.kek_id)
        if kek is None:
            raise UnknownKeyError(
                f"data key {dek_key_id} is wrapped by local KEK {wrapped.kek_id!r}, which is not in "
                f"FIELD_ENCRYPTION_LOCAL_KEKS (ids there: {sorted(self._keys)}); add it back, then run "
                "rewrap_field_keys"
            )
        try:
            return AESGCM(kek).decrypt(
                wrapped.blob[:NONCE_BYTES], wrapped.blob[NONCE_BYTES:], _local_aad(dek_key_id)
            )
        except InvalidTag:
            raise DecryptionError(
                f"local KEK {wrapped.kek_id!r} cannot unwrap data key {dek_key_id}: "
                "the key material under that id "
                "is not the one that wrapped it, or the wrapped key was altered"
            ) from None


class KmsKEK:
    backend = "kms"

    def __init__(self, key_id: str, context: dict[str, str], region: str | None = None, client=None):
        self.active_id = key_id
        self._context = context
        self._region = region
        self._client = client

    def __repr__(self) -> str:
        return f"KmsKEK(key_id={self.active_id!r})"

    @property
    def client(self):
        if self._client is None:
            import boto3  # imported lazily: the local backend must not need AWS configuration

            # boto3 honours AWS_ENDPOINT_URL (moto, VPC endpoints) and AWS_REGION/AWS_DEFAULT_REGION itself.
            self._client = boto3.client(
                "kms", region_name=self._region or os.environ.get("AWS_REGION") or None
            )
        return self._client

    def _context_for(self, dek_key_id: str) -> dict[str, str]:
        return {**self._context, "soc2kit:data-key": dek_key_id}

    def _call(self, operation: str, kms_key: str, dek_key_id: str, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, operation)(EncryptionContext=self._context_for(dek_key_id), **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("InvalidCiphertextException", "IncorrectKeyException"):
                raise DecryptionError(
                    f"KMS key {kms_key} refused to unwrap data key {dek_key_id} ({code}): wrong key, altered "
                    "wrapped key, or a different encryption context"
                ) from None
            if code == "NotFoundException":
                raise UnknownKeyError(
                    f"KMS key {kms_key} does not exist in this account/region ({code})"
                ) from None
            raise KeyConfigurationError(f"KMS {operation} with key {kms_key} failed: {code or exc}") from None
        except BotoCoreError as exc:
            raise KeyConfigurationError(
                f"KMS {operation} with key {kms_key} failed: {exc.__class__.__name__}: {exc}"
            ) from None

    def generate(self, dek_key_id: str) -> tuple[bytes, WrappedKey]:
        response = self._call(
            "generate_data_key", self.active_id, dek_key_id, KeyId=self.active_id, NumberOfBytes=KEY_BYTES
        )
        return response["Plaintext"], WrappedKey(self.backend, response["KeyId"], response["CiphertextBlob"])

    def wrap(self, plaintext: bytes, dek_key_id: str) -> WrappedKey:
        response = self._call(
            "encrypt", self.active_id, dek_key_id, KeyId=self.active_id, Plaintext=plaintext
        )
        return WrappedKey(self.backend, response["KeyId"], response["CiphertextBlob"])

    def unwrap(self, wrapped: WrappedKey, dek_key_id: str) -> bytes:
        response = self._call(
            "decrypt", wrapped.kek_id, dek_key_id, KeyId=wrapped.kek_id, CiphertextBlob=wrapped.blob
        )
        plaintext = response["Plaintext"]
        if len(plaintext) != KEY_BYTES:
            raise DecryptionError(
                f"KMS returned a {len(plaintext)}-byte data key for {dek_key_id}; expected 32"
            )
        return plaintext


class KekSet:
    """The active KEK (wraps new data keys) plus every configured KEK that can unwrap old ones."""

    def __init__(self, conf: EncryptionSettings, kms_client=None):
        self.local = (
            LocalKEK(conf.local_keks, conf.local_active_kek)
            if conf.local_keks and conf.local_active_kek
            else None
        )
        self.kms = (
            KmsKEK(conf.kms_key_id, conf.kms_encryption_context, conf.kms_region, kms_client)
            if conf.kms_key_id
            else None
        )
        active = self.kms if conf.kek_backend == "kms" else self.local
        if active is None:  # load_settings() already refuses this; the check names the type for mypy
            raise KeyConfigurationError(f"the active KEK backend {conf.kek_backend!r} has no keys configured")
        self.active: KmsKEK | LocalKEK = active

    def for_backend(self, backend: str):
        kek = {"local": self.local, "kms": self.kms}.get(backend)
        if kek is None:
            raise KeyConfigurationError(
                f"a data key is wrapped by the {backend!r} KEK backend, which is not configured; set "
                + ("FIELD_ENCRYPTION_LOCAL_KEKS" if backend == "local" else "FIELD_ENCRYPTION_KMS_KEY_ID")
                + " so it can be unwrapped"
            )
        return kek

    def unwrap(self, wrapped: WrappedKey, dek_key_id: str) -> bytes:
        return self.for_backend(wrapped.backend).unwrap(wrapped, dek_key_id)
