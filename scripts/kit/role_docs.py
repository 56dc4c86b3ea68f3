"""Role documentation that cannot drift from the code: each role's `meta/argument_specs.yml` is the one
source of its variables. This checks that every spec default equals `defaults/main.yml`, that every
default is declared in the spec, and writes the variable table of each role's README from the spec.

    python -m kit.role_docs --check   # exit 1 and name each problem (lint runs this)
    python -m kit.role_docs --write   # regenerate the README tables (make role-docs)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from . import ROOT

ROLES_DIR = ROOT / "roles"
BEGIN = "<!-- BEGIN VARIABLES: generated from meta/argument_specs.yml by `make role-docs`; do not edit -->"
END = "<!-- END VARIABLES -->"
# Defaults longer than this are shown as "see defaults/main.yml" to keep the table readable.
MAX_DEFAULT_CHARS = 60


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None


def role_dirs(roles_dir: Path = ROLES_DIR) -> list[Path]:
    return sorted(path for path in roles_dir.iterdir() if (path / "tasks").is_dir())


def main_options(role: Path) -> dict[str, dict[str, Any]]:
    specs = (_load(role / "meta" / "argument_specs.yml") or {}).get("argument_specs", {})
    return dict((specs.get("main") or {}).get("options") or {})


def problems(role: Path) -> list[str]:
    """What disagrees between the role's spec and its defaults (empty when they agree)."""
    name = role.name
    spec_path = role / "meta" / "argument_specs.yml"
    if not spec_path.is_file():
        return [f"{name}: meta/argument_specs.yml is missing (every role validates its variables)"]
    defaults = _load(role / "defaults" / "main.yml") or {}
    found = []
    specs = (_load(spec_path) or {}).get("argument_specs", {})
    for entry_point, spec in specs.items():
        options = (spec or {}).get("options") or {}
        for variable, option in options.items():
            if "default" in option and variable in defaults and option["default"] != defaults[variable]:
                found.append(
                    f"{name}: {variable}: the spec's default ({entry_point}) is {option['default']!r} but "
                    f"defaults/main.yml has {defaults[variable]!r}; make them equal"
                )
            if variable not in defaults and "default" not in option and not option.get("required"):
                found.append(
                    f"{name}: {variable} ({entry_point}) has no default anywhere and is not required; "
                    "add it to defaults/main.yml or mark it required"
                )
    declared = main_options(role)
    for variable in defaults:
        if not variable.startswith("__") and variable not in declared:
            found.append(
                f"{name}: {variable} is in defaults/main.yml but not in meta/argument_specs.yml; declare it"
            )
    return found


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _shown_default(variable: str, option: dict[str, Any], defaults: dict[str, Any]) -> str:
    if variable in defaults:
        value = defaults[variable]
    elif "default" in option:
        value = option["default"]
    else:
        return "required" if option.get("required") else "—"
    if isinstance(value, str) and "{{" in value:
        return "derived (see defaults/main.yml)"
    shown = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    shown = shown.removesuffix("...").strip()
    if len(shown) > MAX_DEFAULT_CHARS:
        return "see defaults/main.yml"
    return f"`{shown}`"


def variables_table(role: Path) -> str:
    defaults = _load(role / "defaults" / "main.yml") or {}
    rows = ["| variable | type | default | description |", "|---|---|---|---|"]
    for variable, option in main_options(role).items():
        kind = option.get("type", "str")
        if option.get("elements"):
            kind = f"{kind} of {option['elements']}"
        if option.get("choices"):
            kind += " (" + ", ".join(str(choice) for choice in option["choices"]) + ")"
        description = option.get("description", "")
        if isinstance(description, list):
            description = " ".join(description)
        rows.append(
            f"| `{variable}` | {_cell(kind)} | {_cell(_shown_default(variable, option, defaults))} "
            f"| {_cell(description)} |"
        )
    return "\n".join(rows)


def rendered_readme(role: Path) -> str:
    """The role's README with its generated section replaced (or appended under ## Variables)."""
    readme = role / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.is_file() else f"# Role `{role.name}`\n"
    section = f"{BEGIN}\n{variables_table(role)}\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        return head + section + tail
    return text.rstrip("\n") + f"\n\n## Variables\n\n{section}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kit.role_docs", description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="report drift, change nothing")
    mode.add_argument("--write", action="store_true", help="regenerate the README variable tables")
    args = parser.parse_args(argv)
    found: list[str] = []
    for role in role_dirs():
        found += problems(role)
        readme = role / "README.md"
        wanted = rendered_readme(role)
        current = readme.read_text(encoding="utf-8") if readme.is_file() else ""
        if args.write and wanted != current:
            readme.write_text(wanted, encoding="utf-8")
            print(f"role-docs: wrote roles/{role.name}/README.md")
        elif args.check and wanted != current:
            found.append(
                f"{role.name}: README.md's variable table is out of date with meta/argument_specs.yml; "
                "run `make role-docs`"
            )
    for problem in found:
        print(f"role-docs: ERROR: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
