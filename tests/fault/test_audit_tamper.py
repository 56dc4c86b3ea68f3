"""Tampering with one audit-trail row in the database: `verify_audit_chain` on the app host reports it.

The tamper is what a database superuser could do: the append-only trigger is bypassed for one
transaction (session_replication_role = replica) and one column of one row is changed. The original
value is put back the same way in `finally`, and the chain must verify again afterwards.
"""

from __future__ import annotations

import pytest

from .ops import psql
from .traffic import SiteSession

TAMPER_MARK = " [tampered by the fault test]"


def _verify(stack):
    result = stack.manage("verify_audit_chain", check=False)
    return result.returncode, (result.stdout + result.stderr).strip()


def _set_user_agent(stack, database: str, table: str, row_id: int, value_sql: str) -> None:
    psql(
        stack,
        database,
        "BEGIN;\nSET LOCAL session_replication_role = replica;\n"
        f"UPDATE {table} SET user_agent = {value_sql} WHERE id = {row_id};\nCOMMIT;\n",
    )


@pytest.mark.quick
def test_tampered_audit_row_is_reported_by_verify_audit_chain(stack, app_database, api_users, figures):
    database, schema = app_database
    table = f'"{schema}".audit_auditevent'
    session = SiteSession(stack)  # a login and a list: rows of this run in the trail
    assert session.login(**api_users["editor"]).status_code == 200
    assert session.get("/api/customers/", params={"page_size": 1}).status_code == 200
    code, output = _verify(stack)
    assert code == 0, f"the audit chain does not verify before the test: {output[-500:]}"
    # Not the last row: a break in the middle must be found, not only at the end.
    rows = psql(stack, database, f"SELECT id FROM {table} ORDER BY id DESC LIMIT 3;\n").stdout.split()
    assert len(rows) >= 2, f"too few audit rows to tamper with in the middle: {rows}"
    row_id = int(rows[-1])
    original = psql(
        stack,
        database,
        f"SELECT encode(convert_to(user_agent, 'UTF8'), 'hex') FROM {table} WHERE id = {row_id};\n",
    ).stdout.strip()
    restore_sql = f"convert_from(decode('{original}', 'hex'), 'UTF8')"
    try:
        _set_user_agent(stack, database, table, row_id, f"user_agent || '{TAMPER_MARK}'")
        tampered_code, tampered_output = _verify(stack)
    finally:
        _set_user_agent(stack, database, table, row_id, restore_sql)
    restored_code, restored_output = _verify(stack)
    figures.update(
        tampered_row=row_id,
        verify_exit_after_tamper=tampered_code,
        verify_report=tampered_output.splitlines()[-1] if tampered_output else "",
        verify_exit_after_restore=restored_code,
    )
    assert tampered_code == 1, (
        f"verify_audit_chain exited {tampered_code} on a tampered chain: {tampered_output[-500:]}"
    )
    assert f"id={row_id}" in tampered_output, (
        f"the report does not name row {row_id}: {tampered_output[-500:]}"
    )
    assert restored_code == 0, (
        f"the chain does not verify after the row was restored: {restored_output[-500:]}"
    )
