"""The MAC covers every column of an audit entry except the MAC itself, so no column can silently fall
out of the chain: a new column fails here until someone decides how it is covered (and tampered with)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Field

from soc2kit.audit import chain
from soc2kit.audit.models import AuditEvent
from soc2kit.audit.recorder import record

# Written down on purpose, not derived from chain.CONTENT_FIELDS: each column and the SQL expression
# that changes it. prev_mac is not in the row's content but is MAC'd too (mac = HMAC(prev_mac || content)).
TAMPER_BY_COLUMN = {
    "id": "id + 1000000",
    "timestamp": "timestamp + interval '1 microsecond'",
    "actor_id": "424242",
    "actor_username": "'someone-else'",
    "action": "'delete'",
    "outcome": "'failure'",
    "object_type": "'customers.other'",
    "object_id": "'99'",
    "changed_fields": """'["national_id"]'::jsonb""",
    "details": """'{"reason": "rewritten"}'::jsonb""",
    "client_ip": "'203.0.113.99'",
    "user_agent": "'curl/8.0'",
    "request_path": "'/elsewhere/'",
    "prev_mac": "repeat('e', 64)",
}
MAC_COLUMNS = {"mac"}


def test_every_column_is_either_mac_covered_or_the_mac():
    columns = {field.column for field in AuditEvent._meta.concrete_fields}
    assert columns == set(TAMPER_BY_COLUMN) | MAC_COLUMNS
    content_fields = [AuditEvent._meta.get_field(name) for name in chain.CONTENT_FIELDS]
    content_columns = {field.column for field in content_fields if isinstance(field, Field)}
    assert len(content_columns) == len(chain.CONTENT_FIELDS)
    assert content_columns == set(TAMPER_BY_COLUMN) - {"prev_mac"}


@pytest.mark.django_db
@pytest.mark.parametrize("column", sorted(TAMPER_BY_COLUMN))
def test_tampering_with_a_column_is_detected(column):
    entries = [
        record(None, "read", "success", object_type="customers.customer", object_id=str(n), details={"n": n})
        for n in range(3)
    ]
    target = entries[1]
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute(
            f"UPDATE audit_auditevent SET {column} = {TAMPER_BY_COLUMN[column]} WHERE id = %s RETURNING id",
            [target.id],
        )
        (tampered_id,) = cursor.fetchone()
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")
    assert chain.verify()[1] != [], f"changing {column} went unnoticed"
    assert tampered_id in {b.event_id for b in chain.verify()[1]}, (
        f"the break is not reported at {column}'s entry"
    )
