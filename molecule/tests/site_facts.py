"""What the suite checks against, read from the Ansible inventory it runs with (never hard-coded).

The same suite checks the molecule scenarios, ENV=local, the rehearsal and the AWS stacks; only the
inventory differs. The site's name, the ACME server and the issuer of its certificates, the web server,
the database mode and where the site is published all come from the inventory's variables, templated
by Ansible itself as a playbook run would see them on the first app host.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
# Roles whose defaults apply when the inventory leaves a value unset (a playbook run sees them too).
DEFAULTS_OF_ROLES = ("certbot", "postgresql", "log_shipping", "nginx", "apache")
# Inventory groups of the full topology; an inventory may hold only some (AWS: app_hosts only).
TOPOLOGY_GROUPS = ("app_hosts", "acme_servers", "db_hosts", "log_collectors")


class InventoryFactsError(Exception):
    """The inventory lacks a variable the suite needs; the message names it and where to set it."""


@dataclass(frozen=True)
class SiteFacts:
    domain: str
    web_server: str
    # postgresql_mode of the app hosts: `client` (a database host of the inventory) or `rds`.
    database_mode: str
    # The PostgreSQL roles migrations and the app log in as.
    database_owner_role: str
    database_app_role: str
    acme_directory_url: str
    # certbot's challenge: webroot (HTTP-01) or dns-route53 (DNS-01, several hosts behind a balancer).
    acme_challenge: str
    # Text the certificate's issuer must contain (the organisation or CN of the ACME CA's intermediate).
    acme_issuer: str
    # Where a client reaches the site: the public name (AWS) or a loopback address (containers).
    https_address: str
    https_port: int
    http_port: int
    groups: frozenset[str]
    # A private ACME server's issuing root (pebble's management API; it changes at every start), or None
    # when the ACME CA is a public one whose roots are in the system's trust store.
    acme_root_url: str | None
    # Where the app hosts ship their logs: `relp` (the inventory's log collector) or `cloudwatch`, and the
    # CloudWatch Logs region ("" with relp).
    log_transport: str = "relp"
    log_region: str = ""
    # Seconds after which a client's used-up login allowance is whole again (nginx: the burst drains at the
    # rate; Apache: its window).
    login_refill_seconds: int = 60

    @property
    def private_acme_server(self) -> bool:
        """certbot trusts the ACME server through its own CA bundle (REQUESTS_CA_BUNDLE), not the system's."""
        return self.acme_root_url is not None


def inventory_path(option: str | None) -> str | None:
    """The inventory of this run: pytest's --ansible-inventory, else molecule's MOLECULE_INVENTORY_FILE."""
    return option or os.environ.get("MOLECULE_INVENTORY_FILE") or None


def login_refill_seconds(value, defaults: dict[str, object]) -> int:
    """How long the web server's login limit takes to give a client its whole allowance back."""
    if value("web_server") == "apache":
        return int(value("apache_login_window_seconds", defaults["apache_login_window_seconds"])) + 1
    rate = int(value("nginx_login_rate_per_minute", defaults["nginx_login_rate_per_minute"]))
    burst = int(value("nginx_login_burst", defaults["nginx_login_burst"]))
    return -(-(burst + 1) * 60 // rate)


@functools.cache
def load(inventory: str) -> SiteFacts:
    # Imported here: loading Ansible is slow, and the role-argument tests need no inventory.
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import init_plugin_loader
    from ansible.template import Templar
    from ansible.vars.manager import VariableManager

    # As Ansible's own commands do first: lookups such as ansible.builtin.env resolve only after this.
    init_plugin_loader()
    loader = DataLoader()
    manager = InventoryManager(loader=loader, sources=[inventory])
    app_hosts = manager.get_hosts("app_hosts")
    if not app_hosts:
        raise InventoryFactsError(f"the inventory {inventory} has no host in group app_hosts")
    variables = VariableManager(loader=loader, inventory=manager).get_vars(host=app_hosts[0])
    defaults: dict[str, object] = {}
    for role in DEFAULTS_OF_ROLES:
        path = ROOT / "roles" / role / "defaults" / "main.yml"
        defaults.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    templar = Templar(loader=loader, variables=variables)

    def value(name: str, default: object = None) -> str:
        if name not in variables:
            if default is None:
                raise InventoryFactsError(
                    f"the inventory {inventory} does not set `{name}` for the app hosts; "
                    "set it in the ENV's group_vars (ansible/inventories/<ENV>/group_vars/)"
                )
            return str(default)
        return str(templar.template(variables[name]))

    domain = value("site_domain")
    return SiteFacts(
        domain=domain,
        web_server=value("web_server"),
        database_mode=value("postgresql_mode"),
        database_owner_role=value("postgresql_owner_role", defaults["postgresql_owner_role"]),
        database_app_role=value("postgresql_app_role", defaults["postgresql_app_role"]),
        acme_directory_url=value("certbot_acme_directory_url", defaults["certbot_acme_directory_url"]),
        acme_challenge=value("certbot_challenge", defaults["certbot_challenge"]),
        acme_issuer=value("site_acme_issuer"),
        https_address=value("site_published_address", domain),
        https_port=int(value("site_published_https_port", 443)),
        http_port=int(value("site_published_http_port", 80)),
        groups=frozenset(group for group in TOPOLOGY_GROUPS if manager.get_hosts(group)),
        acme_root_url=value("site_acme_root_url", "") or None,
        log_transport=value("log_shipping_transport", defaults["log_shipping_transport"]),
        log_region=value("log_shipping_cloudwatch_region", defaults["log_shipping_cloudwatch_region"]),
        login_refill_seconds=login_refill_seconds(value, defaults),
    )
