"""Which release `rollback.yml` switches back to, when no release is named.

Release names start with their UTC build time, so they sort by age. The target is the newest release
older than the current one that has served and has not been rolled back from: after deploy A, deploy B,
rollback (to A), deploy C, a rollback goes to A, never back to B, the release an operator already took
out of service. Nothing is deleted (a rolled-back release stays for forensics and for a named rollback).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def django_app_rollback_target(served: Iterable[str], current: str, rolled_back: Iterable[str] = ()) -> str:
    """The release to roll back to, or '' when there is none."""
    excluded = set(rolled_back) | {current}
    older = sorted(name for name in set(served) - excluded if name < current)
    return older[-1] if older else ""


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"django_app_rollback_target": django_app_rollback_target}
