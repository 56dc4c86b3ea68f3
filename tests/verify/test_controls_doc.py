"""CONTROLS.md is generated from the registry and cannot go stale."""

from __future__ import annotations

import dataclasses

from kit.verify import controls_doc, registry


def test_the_checked_in_controls_md_is_current():
    assert controls_doc.OUTPUT.read_text(encoding="utf-8") == controls_doc.render(), "run `make controls`"
    assert controls_doc.main(["--check"]) == 0


def test_a_registry_change_makes_the_file_stale(monkeypatch, capsys):
    changed = list(registry.CHECKS)
    changed[1] = dataclasses.replace(changed[1], mapping={"CC6.7": "a new reason for the mapping"})
    monkeypatch.setattr(controls_doc, "CHECKS", tuple(changed))
    assert controls_doc.main(["--check"]) == 1
    assert "CONTROLS.md is stale" in capsys.readouterr().err


def test_one_row_per_control_with_test_and_check():
    text = controls_doc.render()
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    rows = [line for line in rows if not line.startswith(("| control", "| criterion", "| CIS"))]
    checks = [c for c in registry.CHECKS if c.check_id != "testinfra"]
    from kit.verify.controls import SUITE_CONTROLS

    criteria_rows = [line for line in rows if line.startswith(("| CC", "| A1", "| C1"))]
    assert len(rows) - len(criteria_rows) == len(checks) + len(SUITE_CONTROLS)
    assert "| `molecule/tests/test_hardening.py` | `testinfra` (row `testinfra:hardening`) |" in text
    assert "`molecule/tests/test_log_shipping_outage.py` | molecule only (marked disruptive) |" in text
    assert "`tests/rehearsal/test_rolling.py` | `make test`'s rehearsal only" in text
    assert "| `tests/verify/test_tls.py` | `sslyze` | local, aws |" in text


def test_cis_ids_listed_as_implemented_tested_or_excepted():
    text = controls_doc.render()
    assert (
        "| CIS 5.3.3.4.1 | implemented and tested | login.yml: Login \\| pam_unix refuses empty passwords"
        in text
    )
    assert "`test_hardening.py::test_pam_unix_refuses_empty_password`" in text
    assert "| CIS 4.2.1 | excepted | - | - | ufw is not used: nftables is the one firewall" in text
