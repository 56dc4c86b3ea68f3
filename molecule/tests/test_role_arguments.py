"""Bad variables are rejected by the preflight play of ansible/site.yml before any host changes.

Runs ansible-playbook in check mode against this machine (localhost as the only app host and ACME
server), limited to the preflight play, and checks that the error names the bad variable. Fast; runs
once from scripts/molecule.sh before the scenarios (not inside molecule's verify).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD_VARS = {
    "site_domain": "app.example.com",
    "web_server": "nginx",
    "certbot_contact_email": "ops@example.com",
    "certbot_acme_directory_url": "https://acme.example.com/dir",
    "acme_server_dns_default_ipv4": "192.0.2.10",
    # File mode needs the database URL; without credentials here (they would come from Ansible Vault).
    "django_app_database_url": "postgres://db.example.com:5432/soc2kit?sslmode=verify-full",
}


@pytest.fixture(scope="module")
def inventory(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("inventory") / "hosts.yml"
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    path.write_text(
        json.dumps(
            {
                "all": {
                    "children": {
                        "app_hosts": {"hosts": {"localhost": local}},
                        "acme_servers": {"hosts": {"localhost": local}},
                    }
                }
            }
        )
    )
    return path


def preflight(inventory: Path, **overrides) -> subprocess.CompletedProcess:
    extra = {**GOOD_VARS, **overrides}
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible/ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "--check",
            "--tags=preflight",
            "-i",
            str(inventory),
            "-e",
            json.dumps(extra),
            str(ROOT / "ansible/site.yml"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_good_variables_pass_preflight(inventory):
    result = preflight(inventory)
    assert result.returncode == 0, result.stdout[-3000:]


def test_good_variables_pass_preflight_with_apache(inventory):
    result = preflight(inventory, web_server="apache")
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"nginx_server_name": "not a host!"}, "nginx_server_name"),
        ({"apache_server_name": "under_score.example.com", "web_server": "apache"}, "apache_server_name"),
        ({"certbot_domains": ["app.example.com", "-bad-.example.com"]}, "certbot_domains"),
        ({"certbot_contact_email": ""}, "certbot_contact_email"),
        ({"nginx_tls_profile": "old"}, "nginx_tls_profile"),
        ({"apache_tls_profile": "old", "web_server": "apache"}, "apache_tls_profile"),
        ({"nginx_https_port": 70000}, "nginx_https_port"),
        ({"apache_http_port": 0, "web_server": "apache"}, "apache_http_port"),
        ({"acme_server_port": 65536}, "acme_server_port"),
        (
            {"certbot_challenge": "dns-route53", "certbot_route53_propagation_seconds": 0},
            "certbot_route53_propagation_seconds",
        ),
        ({"certbot_acme_directory_url": "http://acme.example.com/dir"}, "certbot_acme_directory_url"),
        ({"web_server": "lighttpd"}, "web_server"),
        ({"django_app_keep_releases": 0}, "django_app_keep_releases"),
        ({"django_app_source_dir": str(ROOT / "roles")}, f"'{ROOT / 'roles'}' has no manage.py"),
        ({"django_app_requirements_file": "requirements/missing.txt"}, "missing.txt' is missing or"),
        ({"django_app_requirements_file": "manage.py"}, "manage.py' is missing or has no --hash pins"),
        ({"django_app_secrets_mode": "vault"}, "django_app_secrets_mode"),
        ({"django_app_database_url": ""}, "DATABASE_URL"),
        ({"django_app_gunicorn_timeout": "soon"}, "django_app_gunicorn_timeout"),
        ({"hardening_login_inactive_days": 90}, "hardening_login_inactive_days: 90 not in 1-45"),
        ({"hardening_login_sudo_timestamp_timeout": 60}, "hardening_login_sudo_timestamp_timeout: 60"),
        ({"hardening_daily_checks_enabled": "sometimes"}, "hardening_daily_checks_enabled"),
        (
            {"hardening_upgrades_security_source": "deb.debian.org/debian-security"},
            "hardening_upgrades_security_source: deb.debian.org/debian-security is not an http(s) URL",
        ),
        (
            {"hardening_aide_volatile_paths": ["/var/cache", "var/spool", "/var/lib/a b"]},
            "hardening_aide_volatile_paths: var/spool, /var/lib/a b: absolute paths",
        ),
        (
            {"hardening_aide_directories_without_times": ["/etc/letsencrypt", "/etc/le$"]},
            "hardening_aide_directories_without_times: /etc/le$: absolute paths",
        ),
    ],
)
def test_bad_variable_rejected_in_preflight_with_its_name(inventory, overrides, named):
    result = preflight(inventory, **overrides)
    assert result.returncode != 0, f"{overrides} was accepted"
    assert named in result.stdout, result.stdout[-3000:]
    # It failed in the preflight play, where nothing is changed.
    assert "changed=0" in result.stdout
    assert "PLAY [Preflight" in result.stdout


def render_certbot_cli_ini(**variables) -> str:
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible/ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    template = ROOT / "roles/certbot/templates/etc/letsencrypt/cli.ini.j2"
    base = {
        "certbot_acme_directory_url": "https://acme-v02.api.letsencrypt.org/directory",
        "certbot_contact_email": "ops@example.com",
        "certbot_elliptic_curve": "secp256r1",
        "certbot_webroot": "/var/www/acme-challenge",
        "certbot_route53_propagation_seconds": 30,
    }
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible"),
            "localhost",
            "-i",
            "localhost,",
            "-c",
            "local",
            "-m",
            "ansible.builtin.debug",
            "-a",
            f"msg={{{{ lookup('ansible.builtin.template', '{template}').splitlines() }}}}",
            "-e",
            json.dumps({**base, **variables}),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_route53_dns01_configuration_renders():
    rendered = render_certbot_cli_ini(certbot_challenge="dns-route53", certbot_route53_propagation_seconds=45)
    assert "authenticator = dns-route53" in rendered
    assert "dns-route53-propagation-seconds = 45" in rendered
    assert "authenticator = webroot" not in rendered
    assert "key-type = ecdsa" in rendered


def test_webroot_configuration_renders():
    rendered = render_certbot_cli_ini(certbot_challenge="webroot")
    assert "authenticator = webroot" in rendered
    assert "webroot-path = /var/www/acme-challenge" in rendered
