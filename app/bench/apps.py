from django.apps import AppConfig


class BenchConfig(AppConfig):
    """Models and a list view used only by `make bench` (bench.settings adds this app)."""

    name = "bench"
    default_auto_field = "django.db.models.BigAutoField"
