"""What the workflows print: raw Ansible output goes to a log file, the screen shows progress, a failure shows
the failing task and the log's path, and the total time counts the set-up that ran before the stages."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from kit import KitError, stages

# Shaped like `molecule converge` prints it: colour codes and a box-drawing frame around Ansible's lines.
CONVERGE = """\
\x1b[2m\u2502\x1b[0m PLAY [Preflight] ***************************************************************
\x1b[2m\u2502\x1b[0m TASK [Gathering Facts] *********************************************************
\x1b[2m\u2502\x1b[0m \x1b[32mok: [app]\x1b[0m
\x1b[2m\u2502\x1b[0m PLAY [App hosts] ***************************************************************
{tasks}\
\x1b[2m\u2502\x1b[0m PLAY RECAP *********************************************************************
\x1b[2m\u2502\x1b[0m app                        : ok=30   changed=2    unreachable=0    failed=0
"""
TASK = "TASK [hardening : Packages | task {n}] ***\nchanged: [db]\n"
FAILING_TASK = (
    "TASK [django_app : Release | the app answers /readyz] ***\n"
    'fatal: [app]: FAILED! => {"msg": "readyz answered 503"}\n'
)


def command_printing(tmp_path: Path, text: str, status: int = 0) -> list[str]:
    source = tmp_path / "output.txt"
    source.write_text(text, encoding="utf-8")
    code = f"import sys; sys.stdout.write(open({str(source)!r}).read()); sys.exit({status})"
    return [sys.executable, "-c", code]


def test_raw_output_goes_to_the_log_and_the_screen_shows_progress(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks = "".join(TASK.format(n=n) for n in range(60))
    log = tmp_path / "converge.log"
    output = stages.run(
        command_printing(tmp_path, CONVERGE.format(tasks=tasks)), what="converge", fix="-", log=log
    )
    screen = capsys.readouterr()
    assert "changed=2" in output  # the caller still reads the recap
    assert log.read_text(encoding="utf-8") == CONVERGE.format(tasks=tasks)
    assert "changed: [db]" not in screen.out + screen.err, "raw Ansible lines reached the screen"
    progress = screen.err.splitlines()
    assert "    play: Preflight" in progress
    assert "    play: App hosts" in progress
    assert "    25 tasks done (play: App hosts; last host: db)" in progress
    assert "    50 tasks done (play: App hosts; last host: db)" in progress
    assert f"    61 tasks run; raw output in {log}" in progress
    assert len(progress) < 10


def test_a_failure_shows_the_failing_task_and_names_the_log(tmp_path: Path) -> None:
    tasks = "".join(TASK.format(n=n) for n in range(3)) + FAILING_TASK
    log = tmp_path / "converge.log"
    with pytest.raises(KitError) as raised:
        stages.run(
            command_printing(tmp_path, CONVERGE.format(tasks=tasks), status=2),
            what="molecule converge",
            fix="fix the task",
            log=log,
        )
    message = raised.value.what
    assert "the failing task:\nTASK [django_app : Release | the app answers /readyz]" in message
    assert "readyz answered 503" in message
    assert "task 2]" not in message, "an earlier, successful task was shown as the failure"
    assert message.endswith(f"The whole output is in {log}")


def test_log_files_are_new_per_command_under_the_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(stages, "LOG_DIR", tmp_path / "logs")
    path = stages.log_path("default converge")
    assert path.parent == tmp_path / "logs"
    assert path.name.endswith("-default-converge.log")


def test_total_time_counts_the_set_up_done_before_the_stages(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(stages.STARTED_AT_ENV, str(time.time() - 135))
    pipeline = stages.Pipeline("make deploy ENV=local WEB=nginx")
    pipeline.add("set-up (Debian packages, .venv)", lambda: None)
    assert pipeline.run() == 0
    lines = capsys.readouterr().err.splitlines()
    total = next(line for line in lines if "all 1 stages done in" in line)
    assert float(total.rsplit(" in ", 1)[1].removesuffix(" s")) >= 135
    assert any(
        line.endswith("set-up before the stages (scripts/kit.sh: .venv was missing)") for line in lines
    )


def test_no_start_stamp_means_no_extra_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(stages.STARTED_AT_ENV, raising=False)
    assert stages.seconds_before_start() == 0.0
    monkeypatch.setenv(stages.STARTED_AT_ENV, "not-a-number")
    assert stages.seconds_before_start() == 0.0
