import base64
import json
import os
from typing import Any

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections

from soc2kit.encryption.keyring import reset_keyring


@pytest.fixture(autouse=True)
def fresh_keyring(request):
    """Each test starts without cached or stored data keys.

    Data keys are committed on their own connection (they must outlive a rolled-back transaction), so
    the test transaction does not remove them; this does, before each database test.
    """
    reset_keyring()
    if request.node.get_closest_marker("django_db"):
        request.getfixturevalue("db")
        own = connections.create_connection(DEFAULT_DB_ALIAS)
        try:
            with own.cursor() as cursor:
                cursor.execute("DELETE FROM encryption_datakey")
        finally:
            own.close()
    yield
    reset_keyring()


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def local_keks(active: str, **keys: str) -> str:
    return json.dumps({"active": active, "keys": keys})


@pytest.fixture
def encryption_settings(settings):
    """A mutable copy of FIELD_ENCRYPTION; assign settings.FIELD_ENCRYPTION = {...} to change it."""
    conf = dict(settings.FIELD_ENCRYPTION)
    settings.FIELD_ENCRYPTION = conf
    return conf


def raw_column(model, column: str, pk) -> Any:  # the column's text, or None for NULL
    """The stored value, read with plain SQL (no field conversion)."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {quote(column)} FROM {quote(model._meta.db_table)} WHERE id = %s",
            [pk],
        )
        return cursor.fetchone()[0]


def write_raw(model, column: str, pk, value) -> None:
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(model._meta.db_table)} SET {quote(column)} = %s WHERE id = %s",
            [value, pk],
        )
