"""The timeline picture (HTML with inline SVG, no script, no external asset) and the CLI's early errors."""

from __future__ import annotations

import re
from datetime import date

import pytest
from kit import KitError
from kit.evidence import __main__ as cli
from kit.evidence import daily, timeline
from kit.evidence.period import control_stats

from .conftest import PERIOD, collector_lines


@pytest.fixture
def html():
    results = daily.parse_lines(collector_lines())
    stats = control_stats(results, PERIOD)
    return timeline.render("t", "NOT PRODUCTION: ENV=local", PERIOD, stats, results, {"sshd": ["CC6.1"]})


def test_one_strip_per_control_and_host_with_a_cell_per_day(html):
    assert html.count("<svg") == 2
    cells = re.findall(r'<rect [^>]*fill="(#[0-9a-f]+)"><title>app-1 (\S+): (\w[\w ]*)</title>', html)
    file_modes = cells[:4]  # controls in name order, one cell per day of the 4-day period
    assert [state for _, _, state in file_modes] == ["pass", "fail", "pass", "no result"]
    assert file_modes[1][:2] == (timeline.FAIL_COLOUR, "2026-11-02")
    assert file_modes[3][0] == timeline.NONE_COLOUR


def test_drift_and_time_to_fix_are_spelt_out(html):
    assert "drifted 2026-11-02 04:40 UTC, passed again 2026-11-03 02:05 UTC (<b>21.4 h</b> to fix)" in html
    assert "failing since 2026-11-04 05:01 UTC, not fixed by the end" in html
    assert 'sshd — <span class="fail">FAILING at the end of the period</span>' in html
    assert "Criteria: CC6.1;" in html
    assert "Criteria: not mapped;" in html  # file_modes was given no criteria here


def test_no_script_and_no_external_asset(html):
    assert "<script" not in html.lower()
    assert re.findall(r"(?:src|href)=", html) == []
    assert re.findall(r"https?://\S+", html) == ['http://www.w3.org/2000/svg"'] * 2  # the SVG namespace only
    assert "NOT PRODUCTION: ENV=local" in html


@pytest.mark.parametrize(
    ("since", "until", "named"),
    [
        ("", "", "SINCE is missing"),
        ("2026-13-01", "", "SINCE='2026-13-01' is not a date"),
        ("2026-11-05", "2026-11-01", "UNTIL=2026-11-01 is before SINCE=2026-11-05"),
        ("2026-11-01", "2026-12-31", "UNTIL=2026-12-31 is in the future"),
    ],
)
def test_a_bad_period_is_refused_naming_the_value(since, until, named):
    with pytest.raises(KitError, match=re.escape(named)):
        cli.period_of(since, until, date(2026, 12, 3))


def test_the_period_ends_today_without_until():
    period = cli.period_of("2026-12-01", "", date(2026, 12, 3))
    assert (period.since, period.until, period.days) == (date(2026, 12, 1), date(2026, 12, 3), 3)


def test_cli_early_errors_exit_2(capsys, tmp_path):
    assert cli.main(["build", "qa", "2026-11-01"]) == 2
    assert "unknown ENV='qa'" in capsys.readouterr().err
    assert cli.main(["build", "local", "yesterday"]) == 2
    assert "SINCE='yesterday' is not a date" in capsys.readouterr().err
    assert cli.main(["verify"]) == 2
    assert "BUNDLE is missing" in capsys.readouterr().err
    assert cli.main(["verify", str(tmp_path)]) == 1
    assert "has no manifest.json" in capsys.readouterr().err


def test_the_overview_puts_controls_failing_at_the_end_first(html):
    table = html.split('<table class="overview">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td>(\w+)</td><td>[^<]*</td><td class=\"(\w+)\">", table)
    assert rows == [("sshd", "fail"), ("file_modes", "ok")]
    assert "<td>1</td><td>21.4</td><td>1/3</td><td>1</td>" in table  # file_modes: drifts, fix, failed, missed
