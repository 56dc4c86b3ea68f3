"""Paths several roles must agree on are set once in ansible/group_vars/app_hosts.yml: gunicorn's socket,
the static root and the ACME webroot. Rendered by Ansible itself for the local inventory's first app host."""

from __future__ import annotations

import os
from pathlib import Path

from ansible_render import render

from .conftest import ROOT

WIRED = (
    "{{ {'socket': [django_app_socket_path, nginx_upstream_socket, apache_upstream_socket],"
    " 'static': [django_app_root ~ '/current/static', nginx_static_root, apache_static_root],"
    " 'webroot': [certbot_webroot, nginx_acme_webroot, apache_acme_webroot]} | to_json }}"
)


def rendered(*extra: str) -> dict[str, list[str]]:
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible" / "ansible.cfg")}
    inventory = ROOT / "ansible" / "inventories" / "local" / "hosts.yml"
    return dict(render(inventory, WIRED, env, "--playbook-dir", str(ROOT / "ansible"), *extra))


def test_roles_share_one_socket_static_root_and_acme_webroot() -> None:
    assert rendered() == {
        "socket": ["/run/django-app/gunicorn.sock"] * 3,
        "static": ["/srv/django-app/current/static"] * 3,
        "webroot": ["/var/www/acme-challenge"] * 3,
    }


def test_one_site_value_moves_every_role() -> None:
    moved = rendered(
        "-e",
        "site_app_root=/opt/shop",
        "-e",
        "site_app_socket_dir=/run/shop",
        "-e",
        "site_acme_webroot=/srv/acme",
    )
    assert moved == {
        "socket": ["/run/shop/gunicorn.sock"] * 3,
        "static": ["/opt/shop/current/static"] * 3,
        "webroot": ["/srv/acme"] * 3,
    }


def test_web_server_roles_reach_the_top_level_templates_through_one_variable() -> None:
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible" / "ansible.cfg")}
    inventory = ROOT / "ansible" / "inventories" / "local" / "hosts.yml"
    wanted = "{{ [site_templates_dir, nginx_templates_dir, apache_templates_dir] | to_json }}"
    site, nginx, apache = render(inventory, wanted, env, "--playbook-dir", str(ROOT / "ansible"))
    assert Path(site).resolve() == ROOT / "templates"
    assert (Path(nginx), Path(apache)) == (Path(site) / "nginx", Path(site) / "apache")
    assert (Path(nginx) / "nginx.conf.j2").is_file()
    assert (Path(apache) / "ssl.conf.j2").is_file()
