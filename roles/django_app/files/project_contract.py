#!/usr/bin/env python3
"""Checks a Django project against the kit's deployment contract (docs/own-project.md) before any host
changes, and names each thing that is missing. Standard library only: it runs on the controller, reading
the project's files, never importing them (the project's dependencies are not installed there).

    project_contract.py PROJECT_DIR --settings config.settings.production --wsgi config.wsgi:application \
        --requirements requirements/base.txt --health-path /readyz

Exit 0 when the project meets the contract, 1 with one "missing: ..." line per problem otherwise.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

_REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(?P<pin>==\s*\S+)?")


def module_file(project: Path, module: str) -> Path | None:
    """The file of dotted `module` inside `project` (a module or a package), or None."""
    base = project.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def requirement_entries(text: str) -> list[str]:
    """The requirement entries of a requirements file, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    lines = (line.split(" #", 1)[0].strip() for line in joined.splitlines())
    return [line for line in lines if line and not line.startswith(("#", "-"))]


def check_requirements(project: Path, requirements: str) -> list[str]:
    path = project / requirements
    if not path.is_file():
        return [f"requirements file {requirements} (the hash-pinned lock the release installs)"]
    problems = []
    names = set()
    for entry in requirement_entries(path.read_text(encoding="utf-8")):
        match = _REQUIREMENT.match(entry)
        name = match["name"] if match else entry.split()[0]
        names.add(name.lower().replace("_", "-"))
        if not match or not match["pin"] or "--hash=sha256:" not in entry:
            problems.append(
                f"an exact pin with --hash=sha256 for '{name}' in {requirements} "
                "(generate the file with pip-compile --generate-hashes)"
            )
    if "soc2kit" not in names:
        problems.append(
            f"soc2kit pinned in {requirements} (it provides /readyz, verify_audit_chain and the fields)"
        )
    return problems


def check_settings(project: Path, settings: str) -> list[str]:
    path = module_file(project, settings)
    if path is None:
        return [f"settings module {settings} (a file {settings.replace('.', '/')}.py in the project)"]
    # The settings module and its siblings (base.py, ...) together must install the audit trail.
    texts = [candidate.read_text(encoding="utf-8") for candidate in sorted(path.parent.glob("*.py"))]
    if not any("soc2kit.audit" in text or "*KIT_APPS" in text for text in texts):
        return [
            f"soc2kit's apps in INSTALLED_APPS of {settings} (add *soc2kit.settings.KIT_APPS): "
            "`make verify` runs its verify_audit_chain command"
        ]
    return []


def check_wsgi(project: Path, wsgi: str) -> list[str]:
    module, _, attribute = wsgi.partition(":")
    attribute = attribute or "application"
    path = module_file(project, module)
    if path is None:
        return [f"WSGI module {module} (a file {module.replace('.', '/')}.py in the project)"]
    if not re.search(
        rf"^(?:{re.escape(attribute)}\s*=|def {re.escape(attribute)}\b)", path.read_text("utf-8"), re.M
    ):
        return [f"'{attribute}' defined in WSGI module {module} (gunicorn serves {module}:{attribute})"]
    return []


def check_health_path(project: Path, health_path: str) -> list[str]:
    route = health_path.strip("/")
    for urls in project.rglob("urls.py"):
        text = urls.read_text(encoding="utf-8")
        if (
            f'"{route}"' in text
            or f"'{route}'" in text
            or (route == "readyz" and "soc2kit.health.urls" in text)
        ):
            return []
    return [
        f"a URL route for {health_path} in the project's urls.py "
        '(path("", include("soc2kit.health.urls")) adds /healthz and /readyz)'
    ]


def problems(project: Path, settings: str, wsgi: str, requirements: str, health_path: str) -> list[str]:
    if not project.is_dir():
        return [f"project directory {project}"]
    found = [] if (project / "manage.py").is_file() else ["manage.py at the top of the project"]
    return [
        *found,
        *check_settings(project, settings),
        *check_wsgi(project, wsgi),
        *check_requirements(project, requirements),
        *check_health_path(project, health_path),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check a Django project against the kit's contract.")
    parser.add_argument("project", type=Path)
    parser.add_argument("--settings", default="config.settings.production")
    parser.add_argument("--wsgi", default="config.wsgi:application")
    parser.add_argument("--requirements", default="requirements/base.txt")
    parser.add_argument("--health-path", default="/readyz")
    args = parser.parse_args(argv)
    missing = problems(args.project, args.settings, args.wsgi, args.requirements, args.health_path)
    for item in missing:
        print(f"missing: {item}")
    if missing:
        print(f"{args.project} does not meet the kit's contract; see docs/own-project.md")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
