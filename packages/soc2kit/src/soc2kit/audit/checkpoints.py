"""Signed checkpoints of the audit chain's head, kept outside the database.

The MAC chain proves that no entry was altered, inserted or removed *between* two entries, but not
that the newest entries are still there: deleting the tail, or a ``TRUNCATE`` by the table's owner,
leaves a shorter chain that verifies. A checkpoint records the head (id and MAC) and the number of
entries at one moment; every checkpoint goes to the log pipeline (the ``soc2kit.audit`` logger, which
leaves the host) and to a store: on AWS an S3 bucket with Object Lock in compliance mode (nobody, not
even the account's root user, can delete or overwrite a checkpoint before its retention ends), on a
local stack a JSON-lines file on the app host. Verification then compares the table against the
latest checkpoint: its head entry must still be there with the same MAC, and no entry up to it may
be missing.

Signature: HMAC-SHA256 with a key derived from SECRET_KEY by HKDF (info ``soc2kit audit checkpoint
v1``), distinct from the chain key, so a checkpoint signature never doubles as an entry MAC. Why this
key resists the table's owner: the owner holds a database login only; SECRET_KEY lives in the app's
secrets (Secrets Manager, readable by the hosts' role alone, or the host's root-owned env file), so
the owner can neither forge entries that would rebuild a truncated chain nor sign a smaller checkpoint,
and has no access to the bucket or the shipped log lines that hold the real one. A separate secret
would not move that boundary: whoever controls the app host holds every key the app signs with.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.utils import timezone

from .chain import derive_key
from .models import GENESIS_MAC, AuditEvent

logger = logging.getLogger("soc2kit.audit")

FORMAT_VERSION = 1
STORES = ("file", "s3")
# S3 lists keys in ascending order: a key that falls as time rises puts the newest checkpoint first.
_NEWEST_FIRST_BASE = 10**16  # microseconds since 1970 stay below this until the year 2286


def checkpoint_key() -> bytes:
    return derive_key(settings.SECRET_KEY, b"soc2kit audit checkpoint v1")


@dataclass(frozen=True)
class Checkpoint:
    created_at: str  # ISO 8601, UTC, microseconds
    entries: int  # rows in the trail when the checkpoint was taken
    head_id: int  # id of the newest entry (0: the trail was empty)
    head_mac: str  # its MAC (64 zeros: the trail was empty)
    version: int = FORMAT_VERSION
    signature: str = ""

    def _signed_content(self) -> bytes:
        content = asdict(self)
        del content["signature"]
        return json.dumps(content, sort_keys=True, separators=(",", ":")).encode()

    def signed(self) -> Checkpoint:
        signature = hmac.new(checkpoint_key(), self._signed_content(), hashlib.sha256).hexdigest()
        return replace(self, signature=signature)

    def signature_valid(self) -> bool:
        expected = hmac.new(checkpoint_key(), self._signed_content(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.signature, expected)

    @property
    def created(self) -> datetime:
        return datetime.fromisoformat(self.created_at)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str) -> Checkpoint:
        try:
            data = json.loads(text)
            return cls(
                created_at=str(data["created_at"]),
                entries=int(data["entries"]),
                head_id=int(data["head_id"]),
                head_mac=str(data["head_mac"]),
                version=int(data["version"]),
                signature=str(data["signature"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"unreadable audit checkpoint in {source}: {exc!r}") from exc

    def describe(self) -> str:
        return f"checkpoint of {self.created_at} ({self.entries} entries, head id={self.head_id})"


class CheckpointError(Exception):
    """A checkpoint cannot be written or read back; the message says where and why."""


class CheckpointStore(Protocol):
    """Where checkpoints are kept outside the database. ``latest`` is None before the first one."""

    def put(self, checkpoint: Checkpoint) -> str:
        """Store ``checkpoint``; return where it went (for the command's report)."""
        ...

    def latest(self) -> Checkpoint | None: ...


class FileCheckpointStore:
    """Local stacks: one JSON line per checkpoint, appended to a file on the app host."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def put(self, checkpoint: Checkpoint) -> str:
        try:
            with self.path.open("a", encoding="utf-8") as file:
                file.write(checkpoint.to_json() + "\n")
        except OSError as exc:
            raise CheckpointError(
                f"cannot append to the audit checkpoint file {self.path} ({exc.strerror}); "
                "set DJANGO_AUDIT_CHECKPOINT_FILE to a file the app user may write"
            ) from exc
        return str(self.path)

    def latest(self) -> Checkpoint | None:
        try:
            with self.path.open(encoding="utf-8") as file:
                last = ""
                for line in file:
                    last = line.strip() or last
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CheckpointError(
                f"cannot read the audit checkpoint file {self.path} ({exc.strerror})"
            ) from exc
        return Checkpoint.from_json(last, str(self.path)) if last else None


class S3CheckpointStore:
    """AWS: one object per checkpoint in a bucket with Object Lock, each put with a compliance-mode
    retention of its own (so it holds even if the bucket's default were changed)."""

    def __init__(self, bucket: str, prefix: str, retention_days: int, client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.retention_days = retention_days
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3  # only the s3 store needs AWS libraries

            self._client = boto3.client("s3")
        return self._client

    def key_for(self, checkpoint: Checkpoint) -> str:
        created = checkpoint.created
        micros = int(created.timestamp()) * 1_000_000 + created.microsecond
        return f"{self.prefix}{_NEWEST_FIRST_BASE - micros:016d}-{checkpoint.head_id}.json"

    def put(self, checkpoint: Checkpoint) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        key = self.key_for(checkpoint)
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=checkpoint.to_json().encode(),
                ContentType="application/json",
                ObjectLockMode="COMPLIANCE",
                ObjectLockRetainUntilDate=checkpoint.created + timedelta(days=self.retention_days),
                ChecksumAlgorithm="SHA256",  # S3 requires a checksum on puts with Object Lock
            )
        except (ClientError, BotoCoreError) as exc:
            raise CheckpointError(
                f"cannot write the audit checkpoint to s3://{self.bucket}/{key}: {exc}"
            ) from exc
        return f"s3://{self.bucket}/{key}"

    def latest(self) -> Checkpoint | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            listing = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1)
            contents = listing.get("Contents") or []
            if not contents:
                return None
            key = contents[0]["Key"]
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise CheckpointError(
                f"cannot read audit checkpoints from s3://{self.bucket}/{self.prefix}: {exc}"
            ) from exc
        return Checkpoint.from_json(body.decode(), f"s3://{self.bucket}/{key}")


def store_from_settings() -> CheckpointStore:
    """The store AUDIT_CHECKPOINTS selects, or ImproperlyConfigured naming the variable to fix."""
    config = settings.AUDIT_CHECKPOINTS
    store = config.get("STORE")
    if store == "file":
        if not config.get("FILE"):
            raise ImproperlyConfigured(
                "DJANGO_AUDIT_CHECKPOINT_STORE=file needs DJANGO_AUDIT_CHECKPOINT_FILE: the path of the "
                "checkpoint file on the app host (outside the database), e.g. "
                "/var/lib/django-app-audit/checkpoints.jsonl"
            )
        return FileCheckpointStore(Path(config["FILE"]))
    if store == "s3":
        if not config.get("S3_BUCKET"):
            raise ImproperlyConfigured(
                "DJANGO_AUDIT_CHECKPOINT_STORE=s3 needs DJANGO_AUDIT_CHECKPOINT_S3_BUCKET: the Pulumi "
                "output audit_checkpoint_bucket"
            )
        retention = config.get("RETENTION_DAYS")
        if not isinstance(retention, int) or retention < 1:
            raise ImproperlyConfigured(
                f"DJANGO_AUDIT_CHECKPOINT_RETENTION_DAYS={retention!r} is not allowed: use a whole number "
                "of days, the bucket's default retention (400 unless the stack sets another)"
            )
        return S3CheckpointStore(config["S3_BUCKET"], config.get("S3_PREFIX", "checkpoints/"), retention)
    raise ImproperlyConfigured(
        f"DJANGO_AUDIT_CHECKPOINT_STORE={store!r} is not supported; use one of {', '.join(STORES)} "
        "(s3 on AWS, file on a local stack)"
    )


def current_head() -> Checkpoint:
    """The trail's head and size now, unsigned (one statement: one consistent snapshot)."""
    table = AuditEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT count(*) FROM {table}), head.id, head.mac FROM (SELECT 1) AS one "  # noqa: S608 - constant table name
            f"LEFT JOIN (SELECT id, mac FROM {table} ORDER BY id DESC LIMIT 1) AS head ON true"
        )
        entries, head_id, head_mac = cursor.fetchone()
    return Checkpoint(
        created_at=timezone.now().astimezone(UTC).isoformat(timespec="microseconds"),
        entries=entries,
        head_id=head_id or 0,
        head_mac=head_mac or GENESIS_MAC,
    )


def compare_with(checkpoint: Checkpoint) -> list[str]:
    """Every way the trail falls short of ``checkpoint`` (empty: it still holds all it recorded)."""
    if not checkpoint.signature_valid():
        return [
            f"{checkpoint.describe()} has an invalid signature: it was forged, altered, or signed "
            "under another DJANGO_SECRET_KEY"
        ]
    problems = []
    total = AuditEvent.objects.count()
    if total < checkpoint.entries:
        problems.append(
            f"the trail holds {total} entries, fewer than the {checkpoint.entries} of the "
            f"{checkpoint.describe()}: entries were deleted or the table was truncated"
        )
    if checkpoint.head_id:
        head = AuditEvent.objects.filter(pk=checkpoint.head_id).values_list("mac", flat=True).first()
        if head is None:
            problems.append(
                f"entry id={checkpoint.head_id}, the head of the {checkpoint.describe()}, is missing: "
                "the newest entries were deleted"
            )
        elif not hmac.compare_digest(head, checkpoint.head_mac):
            problems.append(
                f"entry id={checkpoint.head_id} no longer has the MAC the {checkpoint.describe()} recorded: "
                "the chain was rewritten"
            )
        up_to_head = AuditEvent.objects.filter(pk__lte=checkpoint.head_id).count()
        if head is not None and up_to_head != checkpoint.entries:
            problems.append(
                f"{up_to_head} entries up to id={checkpoint.head_id}, but the {checkpoint.describe()} "
                f"counted {checkpoint.entries}: entries before the head were deleted or inserted"
            )
    return problems


def write_checkpoint(store: CheckpointStore) -> tuple[Checkpoint, str]:
    """Sign the current head, send it to the log pipeline and to ``store``; return it and where it went."""
    checkpoint = current_head().signed()
    # The log line first: it leaves the host even when the store is unreachable.
    logger.info("audit checkpoint", extra={"audit_checkpoint": json.loads(checkpoint.to_json())})
    return checkpoint, store.put(checkpoint)
