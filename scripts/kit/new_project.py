"""`make new-project NAME=myproject [DIR=..]`: a minimal Django project that already meets the kit's contract.

It is `django-admin startproject --template` with the template the soc2kit package ships
(soc2kit/project_template), plus the kit's hash-pinned requirements and the soc2kit wheel they pin.
The result passes the contract check (roles/django_app/files/project_contract.py) as it stands.
"""

from __future__ import annotations

import keyword
import shutil
import subprocess
import sys
from pathlib import Path

from . import ROOT, KitError

TEMPLATE = ROOT / "packages" / "soc2kit" / "src" / "soc2kit" / "project_template"
KIT_REQUIREMENTS = ROOT / "app" / "requirements"


def new_project(name: str, parent: Path) -> Path:
    """Create `parent/name`; return its path."""
    if not name.isidentifier() or keyword.iskeyword(name):
        raise KitError(
            f"NAME={name!r} is not a valid project name",
            "use a Python identifier: letters, digits and underscores, no leading digit (NAME=myproject)",
        )
    target = parent.resolve() / name
    if target.exists():
        raise KitError(f"{target} already exists", "choose another NAME, or DIR= for another parent folder")
    target.mkdir(parents=True)
    result = subprocess.run(  # noqa: S603 - our own interpreter and paths
        [sys.executable, "-m", "django", "startproject", "--template", str(TEMPLATE), name, str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        shutil.rmtree(target)
        raise KitError(f"django-admin startproject failed: {result.stderr.strip()}", "see the message above")
    requirements = target / "requirements"
    shutil.copyfile(KIT_REQUIREMENTS / "base.txt", requirements / "base.txt")
    shutil.copytree(KIT_REQUIREMENTS / "wheels", requirements / "wheels")
    return target


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    name, parent = [*args, "", ".."][:2]
    if not name:
        return KitError("NAME is missing", "make new-project NAME=myproject [DIR=..]").report()
    try:
        target = new_project(name, Path(parent or ".."))
    except KitError as error:
        return error.report()
    print(f"new-project: {target} created (config.settings.production, config.wsgi, /readyz, pinned lock)")
    print("Next: add your apps to config/settings/base.py; point the inventory at it (docs/own-project.md):")
    print(f"  django_app_source_dir: {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
