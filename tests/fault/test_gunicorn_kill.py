"""gunicorn killed (SIGKILL) under load: systemd restarts it, and requests fail only in the restart window.

The window opens at the kill and closes when systemd reports the service active again with a new
main process. Only requests in flight in that window may fail (the workers die with their master);
every request that starts after it must succeed. The number of failed requests is the figure reported.
"""

from __future__ import annotations

import time

import pytest

from .ops import unit_state, wait_for
from .traffic import SteadyTraffic, summarize

SERVICE = "django-app.service"
STEADY_SECONDS = 5
AFTER_SECONDS = 5


def _restarted(stack, old_pid: str):
    state = unit_state(stack, stack.app, SERVICE)
    if state.get("ActiveState") == "active" and state.get("MainPID") not in ("0", old_pid, None):
        return time.time(), state
    return None


@pytest.mark.quick
def test_gunicorn_sigkill_under_load_restarts_and_fails_only_in_restart_window(stack, figures):
    before = unit_state(stack, stack.app, SERVICE)
    assert before.get("ActiveState") == "active", f"{SERVICE} is not active before the test: {before}"
    restarted_at = None
    with SteadyTraffic(stack, "/readyz", threads=6) as traffic:
        try:
            time.sleep(STEADY_SECONDS)
            baseline = traffic.failures()
            assert baseline == [], f"requests failed before the kill: {summarize(baseline)}"
            killed_at = time.time()
            stack.exec(stack.app, ["systemctl", "kill", "--kill-whom=main", "--signal=SIGKILL", SERVICE])
            restarted_at, after = wait_for(
                lambda: _restarted(stack, before["MainPID"]),
                60,
                f"systemd to restart {SERVICE}",
                interval=0.2,
            )
            time.sleep(AFTER_SECONDS)
        finally:
            if restarted_at is None:  # leave the app running even if the assertion above failed
                stack.exec(stack.app, ["systemctl", "restart", SERVICE], check=False)
    outcomes = traffic.snapshot()
    failed = [o for o in outcomes if not o.ok]
    outside = [o for o in failed if o.ended < killed_at or o.started > restarted_at]
    after_window = [o for o in outcomes if o.started > restarted_at]
    figures.update(
        web=stack.web,
        restart_window_s=round(restarted_at - killed_at, 2),
        failed_in_window=len(failed) - len(outside),
        failed_outside_window=len(outside),
        **summarize(outcomes),
        requests_after_window=len(after_window),
        restarts_counted_by_systemd=int(after["NRestarts"]) - int(before.get("NRestarts", "0")),
    )
    assert int(after["NRestarts"]) == int(before.get("NRestarts", "0")) + 1, (
        "systemd did not count one restart"
    )
    assert outside == [], f"requests failed outside the restart window: {summarize(outside)}"
    assert after_window, "no request completed after the restart"
    assert all(o.ok for o in after_window)
