"""The roles (Django groups) and the permissions each grants. ``ensure_roles`` is idempotent."""

from django.contrib.auth.models import Group, Permission

# "app_label.codename"
ROLES: dict[str, tuple[str, ...]] = {
    # sees masked values only: a***@example.com, ****1234, no notes or date of birth
    "customer_reader_masked": ("customers.view_customer",),
    # sees every value in clear, and may search by exact e-mail or national id
    "customer_reader_full": (
        "customers.view_customer",
        "customers.view_customer_full",
        "customers.search_customer",
    ),
    # may create, update and delete; reads are masked unless also in customer_reader_full
    "customer_editor": (
        "customers.view_customer",
        "customers.add_customer",
        "customers.change_customer",
        "customers.delete_customer",
    ),
}


def ensure_roles() -> list[str]:
    """Create or update each group so it holds exactly its permissions; return the group names."""
    for name, permission_names in ROLES.items():
        permissions = []
        for dotted in permission_names:
            app_label, codename = dotted.split(".", 1)
            permissions.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(permissions)
    return list(ROLES)
