"""The search_customer permission, and the table of the database cache that holds the search rate
limit's counters (settings.CACHES): created here so every deploy's `migrate` provides it, by the
schema owner, like any other table."""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0001_initial"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="customer",
            options={
                "ordering": ("id",),
                "permissions": (
                    ("view_customer_full", "Can view customer personal data unmasked"),
                    ("search_customer", "Can search customers by exact e-mail or national id"),
                ),
            },
        ),
        migrations.RunPython(create_cache_table, migrations.RunPython.noop),
    ]
