from typing import Any

from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_migrate


def _roles_after_migrate(sender: AppConfig, **kwargs: Any) -> None:
    # Runs after auth has created the customers app's permissions for this same signal.
    if sender.label == "customers":
        from .roles import ensure_roles

        ensure_roles()


def _reset_own_failures_on_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """Instead of AXES_RESET_ON_SUCCESS, which clears every failure of the client address (lockout is
    keyed on the address alone), so that an attacker could log into their own account between guesses
    at someone else's: clear only the failures typed for this account from this address."""
    if request is None:
        return
    from axes.utils import reset

    from .client_ip import get_lockout_key

    reset(ip=get_lockout_key(request), username=user.get_username())


class AccountsConfig(AppConfig):
    name = "soc2kit.accounts"
    label = "accounts"

    def ready(self) -> None:
        post_migrate.connect(_roles_after_migrate, dispatch_uid="soc2kit_accounts_roles")
        user_logged_in.connect(
            _reset_own_failures_on_login, dispatch_uid="soc2kit_accounts_reset_own_failures"
        )
