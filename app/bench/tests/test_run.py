"""The benchmark's own logic (the measurements themselves run in `make bench`, not in the test suite)."""

import json
from typing import Any

from bench.run import RESULTS, make_rows, missed_targets, print_table, target_status


def _results(list_ratio: float, speedup: float, rows_per_s: float = 6000.0) -> dict:
    results: dict[str, Any] = dict.fromkeys(
        [
            "encrypt_us_per_value_ours",
            "encrypt_us_per_value_fernet",
            "encrypt_speedup_vs_fernet",
            "decrypt_us_per_value_ours",
            "decrypt_us_per_value_fernet",
            "list_ms_plain",
            "list_ms_encrypted",
            "list_ms_fernet",
            "list_fernet_over_plain",
            "list_cpu_encrypted_over_plain",
            "load_average_1min",
            "list_speedup_vs_fernet",
            "insert_encrypted_over_plain",
            "insert_fernet_over_plain",
        ],
        1.0,
    )
    results.update(
        list_encrypted_over_plain=list_ratio,
        decrypt_speedup_vs_fernet=speedup,
        reencrypt_rows=20000,
        reencrypt_rows_per_s=rows_per_s,
    )
    results["targets"] = target_status(results)
    return results


def test_rows_are_the_same_every_run():
    assert make_rows(50) == make_rows(50)
    assert len({row["email"] for row in make_rows(1000)}) == 1000


def test_targets_are_judged_in_the_right_direction():
    met = _results(1.39, 2.1, 5001)["targets"]
    assert met["list_encrypted_over_plain"]["met"]
    assert met["decrypt_speedup_vs_fernet"]["met"]
    assert met["reencrypt_rows_per_s"]["met"]
    missed = _results(1.41, 1.9, 4999)["targets"]
    assert not missed["list_encrypted_over_plain"]["met"]
    assert not missed["decrypt_speedup_vs_fernet"]["met"]
    assert not missed["reencrypt_rows_per_s"]["met"]


def test_a_missed_target_fails_the_run():
    assert missed_targets(_results(1.39, 2.1, 5001)) == []
    assert missed_targets(_results(1.39, 2.1, 4000)) == ["reencrypt_rows_per_s"]


def test_table_reports_missed_targets(capsys):
    print_table(_results(1.5, 3.0), 1000, 30)
    out = capsys.readouterr().out
    assert "<= 1.4: MISSED" in out
    assert ">= 2.0: met" in out
    assert ">= 5000: met" in out
    json.dumps(_results(1.5, 3.0))  # what results.json holds is plain JSON


def test_results_land_in_the_repository_bench_folder():
    assert RESULTS.parts[-2:] == ("bench", "results.json")
    assert RESULTS.parent.parent.joinpath("Makefile").exists()
