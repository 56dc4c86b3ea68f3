"""The soc2kit wheel the releases install: built reproducibly, its sha256 pinned in the demo's requirements.

    python -m kit.wheel --write   # rebuild app/requirements/wheels/soc2kit-*.whl, pin its hash
    python -m kit.wheel --check   # exit 1 if the committed wheel or its pin differs from a fresh build

Same source + same setuptools (pinned in requirements-dev.txt) = same bytes: file times come from
SOURCE_DATE_EPOCH, file modes are normalised, and the build runs on a copy so no stale build/ or
*.egg-info of the source tree can slip in.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from . import ROOT, KitError

PACKAGE_DIR = ROOT / "packages" / "soc2kit"
REQUIREMENTS = ROOT / "app" / "requirements" / "base.txt"
WHEELS_DIR = REQUIREMENTS.parent / "wheels"
# 1980-01-01, the earliest time a zip file can hold: the wheel's bytes do not depend on when it was built.
SOURCE_DATE_EPOCH = "315532800"
_PIN = re.compile(r"^soc2kit==(?P<version>\S+) \\\n    --hash=sha256:(?P<sha256>[0-9a-f]{64})$", re.M)


def package_version() -> str:
    return tomllib.loads((PACKAGE_DIR / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def wheel_name(version: str | None = None) -> str:
    return f"soc2kit-{version or package_version()}-py3-none-any.whl"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_wheel(out_dir: Path) -> Path:
    """Build the wheel from packages/soc2kit into `out_dir`; return its path."""
    with tempfile.TemporaryDirectory(prefix="soc2kit-wheel-") as tmp:
        source = Path(tmp) / "soc2kit"
        shutil.copytree(
            PACKAGE_DIR,
            source,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist"),
        )
        for path in [source, *source.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        environment = os.environ | {
            "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        }
        result = subprocess.run(  # noqa: S603 - our own interpreter and paths
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--no-build-isolation",
                "--no-deps",
                "--no-index",
                "--wheel-dir",
                str(out_dir),
                str(source),
            ],
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise KitError(
                f"building the soc2kit wheel failed:\n{result.stdout}{result.stderr}",
                "run `make setup` (setuptools comes from requirements-dev.txt), then `make soc2kit-wheel`",
            )
    return out_dir / wheel_name()


def pinned() -> tuple[str, str]:
    """(version, sha256) of the soc2kit pin in app/requirements/base.txt."""
    match = _PIN.search(REQUIREMENTS.read_text(encoding="utf-8"))
    if not match:
        raise KitError(
            f"{REQUIREMENTS.relative_to(ROOT)} has no 'soc2kit==VERSION \\ --hash=sha256:...' pin",
            "run `make soc2kit-wheel`",
        )
    return match["version"], match["sha256"]


def write() -> Path:
    """Rebuild the committed wheel and pin its hash in base.txt (the only wheel of soc2kit kept there)."""
    with tempfile.TemporaryDirectory() as tmp:
        built = build_wheel(Path(tmp))
        WHEELS_DIR.mkdir(exist_ok=True)
        for old in WHEELS_DIR.glob("soc2kit-*.whl"):
            old.unlink()
        target = WHEELS_DIR / built.name
        shutil.copyfile(built, target)
    text = REQUIREMENTS.read_text(encoding="utf-8")
    pin = f"soc2kit=={package_version()} \\\n    --hash=sha256:{sha256(target)}"
    if not _PIN.search(text):
        raise KitError(
            f"{REQUIREMENTS.relative_to(ROOT)} has no soc2kit pin to update", "add one by hand once"
        )
    REQUIREMENTS.write_text(_PIN.sub(lambda _: pin, text), encoding="utf-8")
    return target


def check() -> list[str]:
    """What differs between the committed wheel, its pin and a fresh build (empty: all agree)."""
    problems = []
    version, pinned_hash = pinned()
    committed = WHEELS_DIR / wheel_name(version)
    if version != package_version():
        problems.append(f"base.txt pins soc2kit=={version}, packages/soc2kit is {package_version()}")
    if not committed.is_file():
        return [*problems, f"{committed.relative_to(ROOT)} is missing"]
    if sha256(committed) != pinned_hash:
        problems.append(f"{committed.name} does not match the sha256 pinned in base.txt")
    with tempfile.TemporaryDirectory() as tmp:
        if sha256(build_wheel(Path(tmp))) != sha256(committed):
            problems.append(f"{committed.name} differs from a fresh build of packages/soc2kit")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kit.wheel", description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="rebuild the wheel and pin its hash")
    action.add_argument("--check", action="store_true", help="compare the committed wheel with a fresh build")
    args = parser.parse_args(argv)
    try:
        if args.write:
            print(f"soc2kit wheel: {write().relative_to(ROOT)} pinned in {REQUIREMENTS.relative_to(ROOT)}")
            return 0
        problems = check()
    except KitError as error:
        return error.report()
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    if problems:
        print("How to fix: run `make soc2kit-wheel` and commit the wheel with base.txt", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
