"""The release an unnamed `make rollback` switches to
(roles/django_app/filter_plugins/django_app_releases.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "roles" / "django_app" / "filter_plugins" / "django_app_releases.py"
_spec = importlib.util.spec_from_file_location("django_app_releases", PLUGIN)
assert _spec is not None
assert _spec.loader is not None
releases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(releases)
target = releases.django_app_rollback_target

A, B, C = "20261201T000000Z-aaaa", "20261202T000000Z-bbbb", "20261203T000000Z-cccc"


def test_the_previous_release_that_served() -> None:
    assert target([A, B, C], C) == B
    assert target([C, A, B], C) == B  # the order find returns them in does not matter


def test_never_back_to_a_release_already_rolled_back_from() -> None:
    # deploy A, deploy B, rollback (B marked), deploy C: a rollback goes to A, not to B.
    assert target([A, B, C], C, [B]) == A
    # deploy A, B, C; rollback (to B, C marked); rollback again: A, never C (newer than current).
    assert target([A, B, C], B, [C]) == A


def test_no_target_is_an_empty_name() -> None:
    assert target([A], A) == ""
    assert target([A, B], B, [A]) == ""
    assert target([], "") == ""


def test_the_filter_is_registered_under_its_role_prefixed_name() -> None:
    assert releases.FilterModule().filters() == {"django_app_rollback_target": target}
