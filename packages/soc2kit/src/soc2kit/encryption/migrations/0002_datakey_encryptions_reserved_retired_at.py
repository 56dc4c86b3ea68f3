from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("encryption", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="datakey",
            name="encryptions_reserved",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="datakey",
            name="retired_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
