"""Appending to and verifying the MAC chain.

mac_n = HMAC-SHA256(K, prev_mac || canonical JSON of row n's content), prev_mac of the first row is
64 zeros. K is derived from SECRET_KEY with HKDF-SHA256 (info "soc2kit audit chain v1"), so the
chain key is no separate secret to manage, is distinct from every other use of SECRET_KEY, and an
attacker with database access alone cannot forge entries. Rotating SECRET_KEY therefore starts a
new key epoch: run ``verify_audit_chain`` (and archive its report) before rotating; see README.

Appends are serialised with a transaction-scoped PostgreSQL advisory lock: the writer that holds it
reads the latest MAC, inserts its row and commits before the next writer reads, so concurrent
writers cannot fork the chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .models import GENESIS_MAC, AuditEvent

ADVISORY_LOCK_ID = 0x50C2A0D17  # arbitrary, constant: "the audit chain head"
CONTENT_FIELDS = (
    "id",
    "timestamp",
    "actor_id",
    "actor_username",
    "action",
    "outcome",
    "object_type",
    "object_id",
    "changed_fields",
    "details",
    "client_ip",
    "user_agent",
    "request_path",
)


@lru_cache(maxsize=8)
def derive_key(secret_key: str, info: bytes) -> bytes:
    """A 32-byte key of its own for one use of SECRET_KEY (HKDF-SHA256, `info` names the use)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret_key.encode())


def chain_key() -> bytes:
    return derive_key(settings.SECRET_KEY, b"soc2kit audit chain v1")


def canonical_content(event: AuditEvent) -> bytes:
    content = {}
    for name in CONTENT_FIELDS:
        value = getattr(event, name)
        if name == "timestamp":
            value = value.astimezone(UTC).isoformat(timespec="microseconds")
        content[name] = value
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str).encode()


def compute_mac(prev_mac: str, event: AuditEvent) -> str:
    return hmac.new(
        chain_key(), prev_mac.encode() + b"\n" + canonical_content(event), hashlib.sha256
    ).hexdigest()


def append(event: AuditEvent) -> AuditEvent:
    """Give ``event`` its id, timestamp and MACs and insert it as the new head of the chain."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_ID])
            cursor.execute(f"SELECT mac FROM {AuditEvent._meta.db_table} ORDER BY id DESC LIMIT 1")  # noqa: S608 - table name is a constant
            row = cursor.fetchone()
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [AuditEvent._meta.db_table])
            event.id = cursor.fetchone()[0]
        event.timestamp = timezone.now()
        event.prev_mac = row[0] if row else GENESIS_MAC
        event.mac = compute_mac(event.prev_mac, event)
        event.save(force_insert=True)
    return event


@dataclass
class ChainBreak:
    event_id: int
    reason: str


def verify(batch_size: int = 2000) -> tuple[int, list[ChainBreak]]:
    """Walk the whole chain in id order; return (entries checked, every break found).

    After a break the walk goes on from the entry's stored MAC, so one altered or removed entry is
    reported once and tampering further on is still found.
    """
    expected_prev = GENESIS_MAC
    checked = 0
    breaks: list[ChainBreak] = []
    events: Iterator[AuditEvent] = AuditEvent.objects.order_by("id").iterator(chunk_size=batch_size)
    for event in events:
        checked += 1
        if event.prev_mac != expected_prev:
            breaks.append(
                ChainBreak(
                    event.id,
                    "prev_mac does not match the previous entry's MAC (an entry was removed or reordered)",
                )
            )
        if not hmac.compare_digest(event.mac, compute_mac(event.prev_mac, event)):
            breaks.append(ChainBreak(event.id, "MAC mismatch (the entry's content was altered)"))
        expected_prev = event.mac
    return checked, breaks
