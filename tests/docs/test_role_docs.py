"""Role docs cannot drift: spec defaults equal defaults/main.yml, every default is declared, and each README's
variable table is the one generated from meta/argument_specs.yml."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

from kit import role_docs  # noqa: E402


@pytest.mark.parametrize("role", role_docs.role_dirs(), ids=lambda path: path.name)
def test_each_role_spec_agrees_with_its_defaults(role: Path) -> None:
    assert role_docs.problems(role) == []


@pytest.mark.parametrize("role", role_docs.role_dirs(), ids=lambda path: path.name)
def test_each_readme_table_is_generated_from_the_spec(role: Path) -> None:
    readme = (role / "README.md").read_text(encoding="utf-8")
    assert role_docs.rendered_readme(role) == readme, f"run `make role-docs` for roles/{role.name}"
    for variable in role_docs.main_options(role):
        assert f"`{variable}`" in readme


@pytest.fixture
def hardening_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "hardening"
    shutil.copytree(ROOT / "roles" / "hardening", copy)
    return copy


def test_a_spec_default_that_differs_from_defaults_is_named(hardening_copy: Path) -> None:
    spec = hardening_copy / "meta" / "argument_specs.yml"
    spec.write_text(
        spec.read_text(encoding="utf-8").replace(
            "hardening_login_pass_max_days:\n        type: int\n        default: 365",
            "hardening_login_pass_max_days:\n        type: int\n        default: 90",
        ),
        encoding="utf-8",
    )
    found = role_docs.problems(hardening_copy)
    assert len(found) >= 1
    assert all("hardening_login_pass_max_days" in problem for problem in found)
    assert "is 90 but defaults/main.yml has 365" in found[0]


def test_an_undeclared_default_is_named(hardening_copy: Path) -> None:
    defaults = hardening_copy / "defaults" / "main.yml"
    defaults.write_text(defaults.read_text(encoding="utf-8") + "hardening_forgotten: 1\n", encoding="utf-8")
    assert role_docs.problems(hardening_copy) == [
        "hardening: hardening_forgotten is in defaults/main.yml but not in meta/argument_specs.yml; "
        "declare it"
    ]


def test_a_changed_description_makes_the_readme_stale(hardening_copy: Path) -> None:
    spec = hardening_copy / "meta" / "argument_specs.yml"
    spec.write_text(
        spec.read_text(encoding="utf-8").replace(
            "AIDE file integrity database and daily check timer.", "AIDE, renamed."
        ),
        encoding="utf-8",
    )
    assert role_docs.rendered_readme(hardening_copy) != (hardening_copy / "README.md").read_text(
        encoding="utf-8"
    )
    assert "AIDE, renamed." in role_docs.rendered_readme(hardening_copy)
