"""docs/cis-debian12.md lists every CIS id the kit uses (role tags, testinfra markers, exceptions, the
VM-only skip list) with the benchmark v1.1.0 title it was checked against: an id used but not listed
there, or listed but no longer used, is a numbering nobody checked (issue 16)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from kit.verify import controls

ROOT = Path(__file__).resolve().parents[2]
MAPPING = ROOT / "docs" / "cis-debian12.md"
HEADER = "| our id (before) | v1.1.0 id (now) |"


def _mapped_ids() -> dict[str, str]:
    """v1.1.0 id -> the reference title of its row (rows whose tag was removed have no v1.1.0 id)."""
    lines = MAPPING.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(HEADER)) + 2
    rows = {}
    for line in lines[start:]:
        if not line.startswith("| "):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if cells[1] != "-":
            assert cells[1] not in rows, f"{cells[1]} has two rows"
            rows[cells[1]] = cells[3]
    return rows


def _vm_only_ids() -> set[str]:
    variables = yaml.safe_load(
        (ROOT / "roles" / "hardening" / "vars" / "main.yml").read_text(encoding="utf-8")
    )
    return {key.removeprefix("cis_") for key in variables["__hardening_vm_only_cis"]}


def test_every_cis_id_in_use_is_in_the_checked_mapping():
    used = (
        set(controls.cis_implemented())
        | set(controls.cis_tested())
        | set(controls.cis_excepted())
        | _vm_only_ids()
    )
    mapped = set(_mapped_ids())
    assert not used - mapped, f"CIS ids used but not checked in docs/cis-debian12.md: {sorted(used - mapped)}"
    assert not mapped - used, f"CIS ids in docs/cis-debian12.md that nothing uses: {sorted(mapped - used)}"


def test_vm_only_ids_are_tags_of_the_mounts_tasks():
    tagged = {
        cis_id
        for cis_id, tasks in controls.cis_implemented().items()
        if any("mounts.yml" in t for t in tasks)
    }
    assert _vm_only_ids() == tagged


def test_mapping_titles_are_benchmark_titles():
    for cis_id, title in _mapped_ids().items():
        assert re.fullmatch(r"\d+(\.\d+)+", cis_id), cis_id
        assert title.startswith("Ensure "), f"{cis_id}: {title!r} is not a benchmark title"
