from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in


class SoC2KitAccountsConfig(AppConfig):
    """The client-address resolver and the django-axes wiring (no models)."""

    name = "soc2kit.accounts"
    label = "soc2kit_accounts"  # "accounts" is left to the project's own app of that name
    verbose_name = "Client address and login lockout"

    def ready(self) -> None:
        from .axes import reset_own_failures_on_login

        user_logged_in.connect(
            reset_own_failures_on_login, dispatch_uid="soc2kit_accounts_reset_own_failures"
        )
