from django.apps import AppConfig


class HealthConfig(AppConfig):
    name = "soc2kit.health"
    label = "health"
