"""The Customer model: rows that existed before row binding get distinct identities from the
migration, stay readable, and rotate_field_keys binds their values to their rows."""

import io

import pytest
from demo.customers.models import Customer
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from soc2kit.encryption.errors import DecryptionError
from soc2kit.encryption.keyring import reset_keyring

from .conftest import raw_column, write_raw

BEFORE = [("customers", "0002_customer_search_permission")]
AFTER = [("customers", "0003_customer_row_uuid")]


@pytest.mark.django_db(transaction=True)
def test_existing_customers_get_distinct_identities_and_rotation_binds_their_values(settings):
    settings.FIELD_ENCRYPTION = {**settings.FIELD_ENCRYPTION, "ACTIVE_KEY_TTL": 0}
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old_model = executor.loader.project_state(BEFORE).apps.get_model("customers", "Customer")
    olds = [
        old_model.objects.create(full_name=f"Old {i}", email=f"old{i}@example.com", national_id=f"ID-{i}")
        for i in range(3)
    ]
    executor.loader.build_graph()
    executor.migrate(AFTER)
    identities = [c.row_uuid for c in Customer.objects.order_by("id")]
    assert None not in identities
    assert len(set(identities)) == 3  # one random identity per row, not one default for all
    assert raw_column(Customer, "email", olds[0].pk).startswith("ef1:")  # old format, still readable
    reset_keyring()
    assert [c.email for c in Customer.objects.order_by("id")] == [f"old{i}@example.com" for i in range(3)]

    out = io.StringIO()
    call_command("rotate_field_keys", stdout=out)
    assert "customers.Customer: 3/3 rows re-encrypted" in out.getvalue()
    assert {raw_column(Customer, "email", c.pk)[:4] for c in olds} == {"ef2:"}
    # Now bound: a national id copied from one customer to another is refused, naming the row.
    write_raw(Customer, "national_id", olds[1].pk, raw_column(Customer, "national_id", olds[0].pk))
    with pytest.raises(
        DecryptionError,
        match=rf"customers\.Customer\.national_id \(table customers_customer, row id {olds[1].pk}\)",
    ):
        list(Customer.objects.all())
