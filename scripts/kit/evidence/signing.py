"""The bundle's signature over its manifest: Ed25519 with a local key for ENV=local (kept under .cache/,
its public key shipped in the bundle), a KMS asymmetric key (ECDSA_SHA_256 on an ECC_NIST_P256 key,
the Pulumi output `evidence_signing_key_arn`) on AWS."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .. import ROOT, KitError

LOCAL_KEY_FILE = ROOT / ".cache" / "evidence" / "signing-key.pem"
KMS_ALGORITHM = "ECDSA_SHA_256"
ED25519 = "ed25519"
STACK_OUTPUT = "evidence_signing_key_arn"
# The one place a bundle keeps its Ed25519 public key (a name in the signature file is never followed).
PUBLIC_KEY_FILE = "signing-public-key.pem"


class Signer(Protocol):
    def sign(self, message: bytes) -> dict[str, Any]: ...


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


class LocalSigner:
    """Ed25519 with the machine's own key, made on first use (0600; never in the bundle)."""

    def __init__(self, key_file: Path = LOCAL_KEY_FILE) -> None:
        self.key_file = key_file
        if key_file.exists():
            loaded = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
            if not isinstance(loaded, Ed25519PrivateKey):
                raise KitError(f"{key_file} is not an Ed25519 private key", "move it away; a new one is made")
            self.key = loaded
        else:
            self.key = Ed25519PrivateKey.generate()
            key_file.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(
                    self.key.private_bytes(
                        serialization.Encoding.PEM,
                        serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption(),
                    )
                )

    def public_key_pem(self) -> str:
        return public_pem(self.key.public_key())

    def sign(self, message: bytes) -> dict[str, Any]:
        return {
            "algorithm": ED25519,
            "public_key_file": PUBLIC_KEY_FILE,
            "public_key_sha256": hashlib.sha256(self.public_key_pem().encode()).hexdigest(),
            "signature": _b64(self.key.sign(message)),
        }


class KmsSigner:
    """kms:Sign over the SHA-256 digest of the manifest with the stack's evidence signing key."""

    def __init__(self, client: Any, key_arn: str) -> None:
        if not key_arn:
            raise KitError(
                f"the stack has no output {STACK_OUTPUT}",
                "deploy the stack with the evidence signing key (pulumi/components/keys.py), then record "
                "its outputs again (make verify ENV=... does)",
            )
        self.client, self.key_arn = client, key_arn

    def sign(self, message: bytes) -> dict[str, Any]:
        answer = self.client.sign(
            KeyId=self.key_arn,
            Message=hashlib.sha256(message).digest(),
            MessageType="DIGEST",
            SigningAlgorithm=KMS_ALGORITHM,
        )
        return {"algorithm": KMS_ALGORITHM, "key_arn": self.key_arn, "signature": _b64(answer["Signature"])}


def verify(message: bytes, signature: dict[str, Any], folder: Path, kms_client: Any = None) -> str:
    """Checks the signature; returns who signed (a key fingerprint or ARN); raises KitError when it fails."""
    try:
        raw = base64.b64decode(signature["signature"], validate=True)
        algorithm = signature["algorithm"]
    except (KeyError, TypeError, ValueError) as error:
        raise KitError(
            f"the signature file is malformed ({error})", "the bundle cannot be trusted"
        ) from error
    if algorithm == ED25519:
        pem = (folder / PUBLIC_KEY_FILE).read_bytes()
        key = serialization.load_pem_public_key(pem)
        if not isinstance(key, Ed25519PublicKey):
            raise KitError("the bundle's public key is not Ed25519", "the bundle cannot be trusted")
        try:
            key.verify(raw, message)
        except InvalidSignature:
            raise KitError(
                "the manifest's signature does not verify", "the bundle was changed after signing"
            ) from None
        return f"Ed25519 key sha256:{hashlib.sha256(pem).hexdigest()}"
    if algorithm == KMS_ALGORITHM:
        if kms_client is None:
            import boto3

            kms_client = boto3.client("kms", region_name=signature["key_arn"].split(":")[3])
        answer = kms_client.verify(
            KeyId=signature["key_arn"],
            Message=hashlib.sha256(message).digest(),
            MessageType="DIGEST",
            Signature=raw,
            SigningAlgorithm=KMS_ALGORITHM,
        )
        if not answer.get("SignatureValid"):
            raise KitError(
                "the manifest's KMS signature does not verify", "the bundle was changed after signing"
            )
        return f"KMS key {signature['key_arn']}"
    raise KitError(f"unknown signature algorithm {algorithm!r}", f"expected {ED25519} or {KMS_ALGORITHM}")
