"""Row binding for field encryption (issue #14): every customer gets a random row identity that its
encrypted values are bound to, and blind indexes get room for their key-version prefix.

Existing rows get distinct identities here; their values stay in the old field-bound format (still
readable) until `manage.py rotate_field_keys` rewrites them bound to the row."""

from django.db import migrations, models

import soc2kit.encryption.fields


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0002_customer_search_permission"),
    ]

    operations = [
        migrations.AddField(
            model_name="customer",
            name="row_uuid",
            field=models.UUIDField(null=True, editable=False),
        ),
        # One random identity per existing row (a Python default would give them all the same one).
        migrations.RunSQL(
            "UPDATE customers_customer SET row_uuid = gen_random_uuid() WHERE row_uuid IS NULL",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AlterField(
            model_name="customer",
            name="row_uuid",
            field=soc2kit.encryption.fields.RowIdentityField(),
        ),
        migrations.AlterField(
            model_name="customer",
            name="email_index",
            field=soc2kit.encryption.fields.BlindIndexField(normalizer="email", source="email"),
        ),
        migrations.AlterField(
            model_name="customer",
            name="national_id_index",
            field=soc2kit.encryption.fields.BlindIndexField(normalizer="compact_upper", source="national_id"),
        ),
        migrations.AlterModelOptions(
            name="customer",
            options={
                "base_manager_name": "objects",
                "ordering": ("id",),
                "permissions": (
                    ("view_customer_full", "Can view customer personal data unmasked"),
                    ("search_customer", "Can search customers by exact e-mail or national id"),
                ),
            },
        ),
    ]
