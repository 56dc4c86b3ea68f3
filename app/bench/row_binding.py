"""What binding every value to its row costs the list (issue #14), as an A/B in one process.

    cd app && DJANGO_SETTINGS_MODULE=bench.settings python -m bench.row_binding [--rounds 40] [--runs 3]

Needs TEST_DATABASE_URL (scripts/test-postgres.sh start, then source .cache/test-postgres-$PORT.env).
Fills the same 1,000 rows into plain columns, the row-bound model (ef2, as `make bench` lists it) and a
field-bound copy without a RowIdentityField (ef1), lists each through the same view in interleaved
rounds and prints the Django process's median CPU time per list and the ratios to plain. The garbage
collector is off while measuring, so a collection does not land on one side only. Not part of
`make bench` and no target: it explains the bench's list ratio on a machine too busy for latencies.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import statistics
import sys
import time

import django

KINDS = ("plain", "field_bound", "encrypted")


def measure(rounds: int, runs: int) -> list[dict[str, float]]:
    from django.contrib.auth.models import Permission, User
    from django.db import transaction
    from django.test import Client

    from .models import LISTED
    from .run import make_rows

    rows = make_rows(1000)
    for kind in KINDS:
        with transaction.atomic():
            LISTED[kind]._default_manager.bulk_create([LISTED[kind](**row) for row in rows])
    client = Client()
    reader = User.objects.create_user("bench-reader")
    reader.user_permissions.set(
        Permission.objects.filter(content_type__app_label="bench", codename__startswith="view_")
    )
    client.force_login(reader)
    bodies = {}
    for _ in range(3):  # warm caches, keys and connections
        for kind in KINDS:
            response = client.get(f"/bench/{kind}/")
            if response.status_code != 200:
                raise RuntimeError(f"/bench/{kind}/ answered {response.status_code}")
            bodies[kind] = [
                {k: v for k, v in r.items() if k not in ("id", "created_at", "updated_at")}
                for r in response.json()["results"]
            ]
    if not bodies["plain"] == bodies["field_bound"] == bodies["encrypted"]:
        raise RuntimeError("the three lists returned different values")
    medians = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(runs):
            cpu: dict[str, list[float]] = {kind: [] for kind in KINDS}
            for _ in range(rounds):
                for kind in KINDS:  # interleaved, so drift hits all three alike
                    start = time.thread_time()
                    client.get(f"/bench/{kind}/")
                    cpu[kind].append(time.thread_time() - start)
            medians.append({kind: statistics.median(values) * 1e3 for kind, values in cpu.items()})
            gc.collect()
    finally:
        gc.enable()
    return medians


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.runs < 1:
        parser.error("--rounds and --runs must be at least 1")
    if not os.environ.get("TEST_DATABASE_URL"):
        print("row_binding: ERROR: TEST_DATABASE_URL is not set; see the module docstring", file=sys.stderr)
        return 2
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    django.setup()
    logging.disable(logging.INFO)
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        medians = measure(args.rounds, args.runs)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()
    print(
        f"list of 1,000 rows, Django-process CPU time, median of {args.rounds} rounds "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpu)"
    )
    for run in medians:
        cells = "  ".join(f"{kind} {run[kind]:.1f} ms" for kind in KINDS)
        print(
            f"{cells}  field-bound/plain {run['field_bound'] / run['plain']:.3f}  "
            f"row-bound/plain {run['encrypted'] / run['plain']:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
