from typing import Any

from django.core.management.base import BaseCommand

from demo.accounts.roles import ROLES, ensure_roles


class Command(BaseCommand):
    help = "Create or update the role groups (" + ", ".join(ROLES) + ") with exactly their permissions."

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ensure_roles():
            self.stdout.write(f"role {name}: {', '.join(ROLES[name])}")
