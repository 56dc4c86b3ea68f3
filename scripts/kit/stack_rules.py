"""The stack's naming rules that more than one reader enforces, kept here once: pulumi/config.py checks the
stack file with them before `pulumi up`, the policy pack checks the resources, and the Ansible inventory
(kit/inventory.py) checks the stack outputs. Standard library only: Pulumi's program imports it."""

from __future__ import annotations

import re

# app_name and stack name: lower-case words joined by single hyphens, so every derived name is valid.
APP_NAME_RE = re.compile(r"^(?=.{2,31}$)[a-z][a-z0-9]*(-[a-z0-9]+)*$")
APP_NAME_ALLOWED = (
    "2-31 characters: lower-case letters and digits in words joined by single hyphens, "
    "starting with a letter (e.g. acme-shop)"
)
REGION_RE = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
PG_IDENT_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
ZONE_ID_RE = re.compile(r"^Z[A-Z0-9]{1,32}$")
# PostgreSQL role names that RDS reserves or that every scanner tries first.
RESERVED_DB_USERNAMES = frozenset(
    {"postgres", "admin", "administrator", "root", "rdsadmin", "master", "user"}
)
