from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    name = "soc2kit.observability"
    label = "observability"
