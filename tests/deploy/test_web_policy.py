"""The web tier's policy has one source, templates/web-policy.yml: both web servers' TLS settings and security
headers are built from it (rendered by Ansible with each role's defaults and vars), and every other copy of a
value equals it: the HSTS settings, Django's header settings and CSP (the app's and the project template's),
and the molecule tests' expected headers."""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from .conftest import ROOT, VENV_BIN

POLICY = yaml.safe_load((ROOT / "templates" / "web-policy.yml").read_text(encoding="utf-8"))


def role_value(role: str, variable: str, extra: dict[str, object]) -> Any:
    """A variable of the role as Ansible renders it from the role's defaults and vars (plus `extra`)."""
    result = subprocess.run(
        [
            str(VENV_BIN / "ansible"), "localhost", "-o", "-m", "ansible.builtin.debug",
            "-a", f"msg={{{{ {variable} | to_json }}}}",
            "-e", f"@{ROOT / 'roles' / role / 'defaults' / 'main.yml'}",
            "-e", f"@{ROOT / 'roles' / role / 'vars' / 'main.yml'}",
            "-e", json.dumps({"role_path": str(ROOT / "roles" / role), **extra}),
        ],
        capture_output=True, text=True, cwd=ROOT, check=False,
        env={**os.environ, "ANSIBLE_LOCALHOST_WARNING": "false", "ANSIBLE_DEPRECATION_WARNINGS": "false"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(json.loads(result.stdout.split(" => ", 1)[1])["msg"])


def role_tls(role: str, profile: str) -> dict[str, object]:
    return dict(role_value(role, f"__{role}_tls", {f"{role}_tls_profile": profile}))


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


def policy_hsts() -> str:
    return f"max-age={POLICY['hsts_max_age']}" + (
        "; includeSubDomains" if POLICY["hsts_include_subdomains"] else ""
    )


@pytest.mark.parametrize("csp", ["", "default-src 'none'"])
def test_nginx_and_apache_send_the_policys_headers(csp: str) -> None:
    """Every header the web server owns (the templates write exactly these): HSTS, the policy's headers, and
    the CSP only when the role's *_csp is set."""
    wanted = {"Strict-Transport-Security": policy_hsts(), **POLICY["security_headers"]}
    if csp:
        wanted["Content-Security-Policy"] = csp
    for role in ("nginx", "apache"):
        owned = role_value(role, f"__{role}_owned_headers", {f"{role}_csp": csp})
        assert owned == wanted, role


def test_the_header_values_are_written_once() -> None:
    """No role default, role var or molecule test spells a header value out: they read the policy (the roles'
    HSTS defaults are held to it above; the molecule tests build HSTS from it too)."""
    values = [*POLICY["security_headers"].values(), *POLICY["content_security_policy"].values()]
    values = [
        value for value in values if value not in ("'self'", "'none'", "same-origin", "DENY")
    ]  # too short
    roles = [
        ROOT / "roles" / role / kind / "main.yml"
        for role in ("nginx", "apache")
        for kind in ("defaults", "vars")
    ]
    molecule = sorted((ROOT / "molecule" / "tests").glob("*.py"))
    for path in roles + molecule:
        text = path.read_text(encoding="utf-8")
        for value in [*values, "nosniff", "accelerometer"] + (
            [str(POLICY["hsts_max_age"])] if path in molecule else []
        ):
            assert value not in text, (
                f"{path.relative_to(ROOT)} spells out {value!r}; read templates/web-policy.yml"
            )


def settings_assignments(path: str, names: dict[str, object]) -> dict[str, Any]:
    """The top-level constant assignments of a Django settings file (`names`: the imported names they use)."""
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    found: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id.isupper() and node.value is not None:
                    # Values computed from the environment raise NameError: they are no header values.
                    with contextlib.suppress(NameError, TypeError, AttributeError):
                        found[target.id] = eval(  # noqa: S307 - constants of our own settings, names given
                            compile(ast.Expression(node.value), path, "eval"), {"__builtins__": {}}, names
                        )
    return found


# Each header the web server owns, the Django setting that sends it, how, and Django's default for it.
DJANGO_HEADER_SETTINGS: dict[str, tuple[str, Callable[[Any], object], object]] = {
    "X-Content-Type-Options": (
        "SECURE_CONTENT_TYPE_NOSNIFF",
        lambda value: "nosniff" if value else None,
        True,
    ),
    "X-Frame-Options": ("X_FRAME_OPTIONS", str, "DENY"),
    "Referrer-Policy": ("SECURE_REFERRER_POLICY", str, "same-origin"),
    "Cross-Origin-Opener-Policy": ("SECURE_CROSS_ORIGIN_OPENER_POLICY", str, "same-origin"),
    "Permissions-Policy": ("PERMISSIONS_POLICY", str, None),  # soc2kit.observability's middleware
}
SETTINGS_FILES = [
    "app/config/settings/base.py",
    "packages/soc2kit/src/soc2kit/project_template/config/settings/base.py-tpl",
]


@pytest.mark.parametrize("path", SETTINGS_FILES)
def test_django_sends_the_policys_headers(path: str) -> None:
    settings = settings_assignments(path, {"NONE": "'none'", "SELF": "'self'"})
    assert set(DJANGO_HEADER_SETTINGS) == set(POLICY["security_headers"])
    for header, (setting, as_header, django_default) in DJANGO_HEADER_SETTINGS.items():
        assert setting in settings or django_default is not None, f"{path}: {setting} is not set"
        sent = as_header(settings.get(setting, django_default))
        assert sent == POLICY["security_headers"][header], f"{path}: {setting} sends {header}: {sent!r}"


def test_djangos_csp_is_the_policys() -> None:
    """django-csp joins each directive's sources with spaces; the result is the policy's directive."""
    from csp.constants import NONE, SELF

    settings = settings_assignments("app/config/settings/base.py", {"NONE": NONE, "SELF": SELF})
    directives = settings["CONTENT_SECURITY_POLICY"]["DIRECTIVES"]
    assert {name: " ".join(sources) for name, sources in directives.items()} == POLICY[
        "content_security_policy"
    ]
