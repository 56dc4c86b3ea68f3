from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "soc2kit.customers"
    label = "customers"
