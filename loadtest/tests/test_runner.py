"""`make loadtest`'s runner (scripts/kit/loadtest.py): settings, locust's figures and the verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

from kit import KitError  # noqa: E402
from kit.loadtest import RunFigures, main, read_errors, read_figures, settings_from, verdict  # noqa: E402

STATS_HEADER = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
    "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,"
    "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%\n"
)


def figures(path: str, rps: float, failures: int = 0) -> RunFigures:
    return RunFigures(path, 1000, failures, rps, 20, 60, 90)


def test_defaults():
    settings = settings_from({})
    assert (settings.users, settings.duration, settings.min_ratio, settings.paths) == (
        20,
        "60s",
        0.8,
        ("proxy", "direct"),
    )
    # Two back-to-back runs may share one minute of the app's limit (10 searches per user a minute).
    assert settings.searches_per_minute == 4


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LOADTEST_USERS", "0"),
        ("LOADTEST_USERS", "many"),
        ("LOADTEST_DURATION", "60"),
        ("LOADTEST_MIN_RATIO", "1.5"),
        ("LOADTEST_PATHS", "proxy,elsewhere"),
        ("LOADTEST_SEARCHES_PER_MINUTE", "61"),
        ("LOADTEST_SEARCHES_PER_MINUTE", "often"),
    ],
)
def test_bad_setting_is_named(name, value):
    with pytest.raises(KitError, match=name):
        settings_from({name: value})


def test_read_figures_takes_the_aggregated_row(tmp_path):
    stats = tmp_path / "proxy_stats.csv"
    stats.write_text(
        STATS_HEADER
        + "POST,/api/customers/,10,0,30,31,5,90,200,5.0,0.0,30,32,35,40,50,60,70,80,90,90,90\n"
        + ",Aggregated,40,2,25,27,3,120,300,20.5,0.1,25,28,30,33,40,55,70,85,110,120,120\n"
    )
    assert read_figures("proxy", stats) == RunFigures("proxy", 40, 2, 20.5, 25.0, 55.0, 85.0)


def test_read_figures_without_aggregated_row_fails(tmp_path):
    stats = tmp_path / "direct_stats.csv"
    stats.write_text(STATS_HEADER)
    with pytest.raises(KitError, match="Aggregated"):
        read_figures("direct", stats)


def test_verdict_passes_at_target_with_zero_errors():
    ratio, problems = verdict({"proxy": figures("proxy", 80), "direct": figures("direct", 100)}, 0.8)
    assert ratio == pytest.approx(0.8)
    assert problems == []


def test_verdict_fails_below_ratio_or_with_errors():
    ratio, problems = verdict({"proxy": figures("proxy", 70, 3), "direct": figures("direct", 100)}, 0.8)
    assert ratio == pytest.approx(0.7)
    assert "proxy: 3 failed request(s)" in problems
    assert any("below the target 80%" in p for p in problems)


def test_verdict_names_what_failed_most_frequent_first(tmp_path):
    failures = tmp_path / "proxy_failures.csv"
    failures.write_text(
        "Method,Name,Error,Occurrences,First Seen,Last Seen\n"  # locust 2's columns (stats.py)
        "GET,GET /api/customers/[id]/,CatchResponseError('read answered 502'),1,1764459000,1764459000\n"
        "POST,login: POST /api/auth/login/,CatchResponseError('login of the customer_writer user "
        "answered 429 (the web server's login rate limit ...)'),30,1764459000,1764459001\n"
    )
    errors = read_errors(failures)
    assert errors[0].startswith(
        "login: POST /api/auth/login/: CatchResponseError('login of the customer_writer"
    )
    assert errors[0].endswith("(x30)")
    assert errors[1] == "GET /api/customers/[id]/: CatchResponseError('read answered 502') (x1)"
    proxy = RunFigures("proxy", 1000, 31, 80, 20, 60, 90, errors=errors)
    _, problems = verdict({"proxy": proxy, "direct": figures("direct", 100)}, 0.8)
    assert problems == [f"proxy: 31 failed request(s)\n    {errors[0]}\n    {errors[1]}"]
    assert read_errors(tmp_path / "direct_failures.csv") == ()  # no file: no failure recorded


def test_verdict_with_one_path_has_no_ratio():
    assert verdict({"proxy": figures("proxy", 70)}, 0.8) == (None, [])


def test_aws_environments_are_refused_before_any_traffic(capsys):
    assert main(["prod"]) == 2
    assert "ENV=local only" in capsys.readouterr().err
