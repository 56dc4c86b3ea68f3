"""The web tier's policy has one source, templates/web-policy.yml: both web servers' TLS settings are built
from it (rendered by Ansible with each role's defaults and vars), and every HSTS setting equals it."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
import yaml

from .conftest import ROOT, VENV_BIN

POLICY = yaml.safe_load((ROOT / "templates" / "web-policy.yml").read_text(encoding="utf-8"))


def role_tls(role: str, profile: str) -> dict[str, object]:
    result = subprocess.run(
        [
            str(VENV_BIN / "ansible"), "localhost", "-o", "-m", "ansible.builtin.debug",
            "-a", f"msg={{{{ __{role}_tls | to_json }}}}",
            "-e", f"@{ROOT / 'roles' / role / 'defaults' / 'main.yml'}",
            "-e", f"@{ROOT / 'roles' / role / 'vars' / 'main.yml'}",
            "-e", json.dumps({"role_path": str(ROOT / "roles" / role), f"{role}_tls_profile": profile}),
        ],
        capture_output=True, text=True, cwd=ROOT, check=False,
        env={**os.environ, "ANSIBLE_LOCALHOST_WARNING": "false", "ANSIBLE_DEPRECATION_WARNINGS": "false"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return dict(json.loads(json.loads(result.stdout.split(" => ", 1)[1])["msg"]))


@pytest.mark.parametrize("profile", ["intermediate", "modern"])
def test_nginx_and_apache_serve_the_policys_tls_profile(profile: str) -> None:
    wanted = POLICY["tls_profiles"][profile]
    nginx, apache = role_tls("nginx", profile), role_tls("apache", profile)
    assert nginx["protocols"] == " ".join(wanted["protocols"])
    assert apache["protocols"] == "-all " + " ".join(f"+{p}" for p in wanted["protocols"])
    assert nginx["ciphers"] == apache["ciphers"] == wanted["ciphers"]
    assert nginx["curves"] == apache["curves"] == ":".join(wanted["curves"])


def test_the_tls_tables_are_written_once() -> None:
    for role in ("nginx", "apache"):
        assert "ECDHE-" not in (ROOT / "roles" / role / "vars" / "main.yml").read_text(encoding="utf-8")


def test_every_hsts_setting_equals_the_policy() -> None:
    for role in ("nginx", "apache"):
        defaults = yaml.safe_load(
            (ROOT / "roles" / role / "defaults" / "main.yml").read_text(encoding="utf-8")
        )
        assert defaults[f"{role}_hsts_max_age"] == POLICY["hsts_max_age"]
        assert defaults[f"{role}_hsts_include_subdomains"] == POLICY["hsts_include_subdomains"]
    # Django's HSTS comes from the soc2kit package's production settings helper.
    django = (ROOT / "packages" / "soc2kit" / "src" / "soc2kit" / "settings.py").read_text(encoding="utf-8")
    assert re.search(r'"SECURE_HSTS_SECONDS": (\d+)', django)[1] == str(POLICY["hsts_max_age"])
    assert re.search(r'"SECURE_HSTS_INCLUDE_SUBDOMAINS": (\w+)', django)[1] == str(
        POLICY["hsts_include_subdomains"]
    )
