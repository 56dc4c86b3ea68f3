"""Errors raised by field encryption. Messages name the problem, never key material or plaintext."""


class EncryptionError(Exception):
    """Base class of every field-encryption error."""


class KeyConfigurationError(EncryptionError):
    """The FIELD_ENCRYPTION settings are missing, malformed, or a key has the wrong length."""


class UnknownKeyError(EncryptionError):
    """A ciphertext or data key names a key id/version that is not in the keyring."""


class DecryptionError(EncryptionError):
    """A ciphertext failed authentication: tampered, wrong key, or bound to another field."""


class FieldMismatchError(DecryptionError):
    """A ciphertext was encrypted for a different field than the one reading it."""


class BlindIndexMismatchError(DecryptionError):
    """A row's blind index is not the index of its own value (copied from another row)."""
