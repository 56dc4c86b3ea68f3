"""The row-binding A/B's own checks (its measurements need the bench settings and run by hand)."""

import pytest

from bench.row_binding import main


def test_row_binding_refuses_zero_rounds(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--rounds", "0"])
    assert exit_info.value.code == 2
    assert "--rounds and --runs must be at least 1" in capsys.readouterr().err


def test_row_binding_needs_the_test_database(monkeypatch, capsys):
    monkeypatch.delenv("TEST_DATABASE_URL")
    assert main([]) == 2
    assert "TEST_DATABASE_URL is not set" in capsys.readouterr().err
