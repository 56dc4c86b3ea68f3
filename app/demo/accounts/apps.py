from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _roles_after_migrate(sender: AppConfig, **kwargs: Any) -> None:
    # Runs after auth has created the customers app's permissions for this same signal.
    if sender.label == "customers":
        from .roles import ensure_roles

        ensure_roles()


class AccountsConfig(AppConfig):
    name = "demo.accounts"
    label = "accounts"

    def ready(self) -> None:
        post_migrate.connect(_roles_after_migrate, dispatch_uid="soc2kit_accounts_roles")
