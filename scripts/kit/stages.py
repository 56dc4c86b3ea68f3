"""Runs a workflow as named stages: a progress line and elapsed time per stage; stops at the first failure."""

from __future__ import annotations

import datetime
import os
import re
import shlex
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from . import ROOT, KitError

# Lines of a failed command's output repeated under the failure message.
TAIL_LINES = 25
# Raw Ansible/molecule output of a run goes here, one file per command; the screen shows progress.
LOG_DIR = ROOT / ".cache" / "logs"
# scripts/kit.sh stamps the wall-clock start (epoch seconds) before any set-up it has to do itself,
# so the total covers what really happened, not only what ran after Python started.
STARTED_AT_ENV = "SOC2KIT_STARTED_AT"
# Lines of the failing Ansible task (its TASK header onwards) shown on screen at most.
FAILED_TASK_LINES = 60


@dataclass
class Stage:
    name: str
    action: Callable[[], object]


@dataclass
class Pipeline:
    title: str
    stages: list[Stage] = field(default_factory=list)
    out: TextIO = field(default_factory=lambda: sys.stderr)

    def add(self, name: str, action: Callable[[], object]) -> None:
        self.stages.append(Stage(name, action))

    def run(self) -> int:
        """Runs every stage in order; returns the exit code (0, or 1 at the first failed stage)."""
        timings: list[tuple[str, float]] = []
        started = time.monotonic()
        total = len(self.stages)
        before_start = seconds_before_start()
        if before_start >= 1:
            timings.append(("set-up before the stages (scripts/kit.sh: .venv was missing)", before_start))
            started -= before_start
        self._say(f"==> {self.title}: {total} stages")
        for number, stage in enumerate(self.stages, start=1):
            self._say(f"==> [{number}/{total}] {stage.name} ...")
            stage_started = time.monotonic()
            try:
                stage.action()
            except KitError as error:
                elapsed = time.monotonic() - stage_started
                self._say(f"==> [{number}/{total}] {stage.name}: FAILED after {elapsed:.1f} s")
                self._say(f"ERROR: {error.what}")
                if error.fix:
                    self._say(f"How to fix: {error.fix}")
                self._say(f"{self.title}: stopped at stage '{stage.name}'; later stages did not run.")
                return 1
            elapsed = time.monotonic() - stage_started
            timings.append((stage.name, elapsed))
            self._say(f"==> [{number}/{total}] {stage.name}: done in {elapsed:.1f} s")
        self._say(f"==> {self.title}: all {total} stages done in {time.monotonic() - started:.1f} s")
        for name, elapsed in timings:
            self._say(f"    {elapsed:8.1f} s  {name}")
        return 0

    def _say(self, line: str) -> None:
        print(line, file=self.out, flush=True)


def seconds_before_start(environ: Mapping[str, str] = os.environ) -> float:
    """Seconds between scripts/kit.sh's start stamp and now (0 without a valid stamp)."""
    try:
        return max(0.0, time.time() - float(environ.get(STARTED_AT_ENV, "")))
    except ValueError:
        return 0.0


def log_path(name: str) -> Path:
    """A new log file under .cache/logs/ for one command's raw output, named by UTC time and purpose."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    return LOG_DIR / f"{stamp}-{re.sub(r'[^A-Za-z0-9.-]+', '-', name)}.log"


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_PLAY = re.compile(r"PLAY \[(?P<name>.*?)\]")
_TASK = re.compile(r"(?:TASK|RUNNING HANDLER) \[(?P<name>.*?)\]")
_HOST_RESULT = re.compile(r"^\s*(?:ok|changed|skipping|fatal|failed|included): \[(?P<host>[^\]]+)\]")
_PYTEST_SUMMARY = re.compile(r"^=+ .*\b(passed|failed|error|errors|deselected)\b.* =+$")


class Progress:
    """Turns raw ansible-playbook / molecule output into a few progress lines: each play, the task count
    every PROGRESS_EVERY tasks with the host that answered last, and pytest's summary line. It remembers
    the current task's lines so that a failure can be shown whole."""

    PROGRESS_EVERY = 25

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tasks = 0
        self.play = ""
        self.host = ""
        self.task_lines: list[str] = []
        self.failed_task: list[str] = []

    def feed(self, raw: str) -> None:
        line = _ANSI.sub("", raw).rstrip("\n")
        line = line.lstrip(" \u2502")  # molecule frames each line with a box-drawing bar
        if play := _PLAY.search(line):
            self.play = play["name"]
            self._say(f"    play: {self.play}")
        elif _TASK.search(line):
            self.tasks += 1
            self.task_lines = [line]
            if self.tasks % self.PROGRESS_EVERY == 0:
                self._say(f"    {self.tasks} tasks done (play: {self.play}; last host: {self.host or '-'})")
            return
        elif _PYTEST_SUMMARY.match(line):
            self._say(f"    {line.strip('= ')}")
        if result := _HOST_RESULT.match(line):
            self.host = result["host"]
        if self.task_lines:
            self.task_lines.append(line)
        if line.lstrip().startswith(("fatal:", "failed:")):
            self.failed_task = self.task_lines  # the last failure is the one that stopped the run

    def _say(self, text: str) -> None:
        print(text, file=self.out, flush=True)


def run(
    command: Sequence[str],
    *,
    what: str,
    fix: str,
    cwd: Path = ROOT,
    env: Mapping[str, str] | None = None,
    capture: bool = False,
    echo: bool = True,
    log: Path | None = None,
) -> str:
    """Runs a command with the user's terminal (so prompts work), or with its output echoed and kept.

    With `log`, the raw output goes to that file only and the screen shows Progress lines; on a failure
    the failing Ansible task's output is shown, and the log's path is named in every case.
    Raises KitError naming the command and its exit status; with capture, the last lines of its
    output are repeated in the error so the cause is next to the message.
    """
    full_env = {**os.environ, **(env or {})}
    shown = shlex.join(command)
    if log is not None:
        return _run_logged(command, what=what, fix=fix, cwd=cwd, env=full_env, log=log)
    try:
        if not capture:
            result = subprocess.run(command, cwd=cwd, env=full_env, check=False)  # noqa: S603
            if result.returncode != 0:
                raise KitError(f"{what} failed: `{shown}` exited with status {result.returncode}", fix)
            return ""
        lines: list[str] = []
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        with subprocess.Popen(  # noqa: S603
            command,
            cwd=cwd,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        ) as process:
            assert process.stdout is not None
            for line in process.stdout:
                if echo:
                    sys.stdout.write(line)
                lines.append(line)
                tail.append(line)
            status = process.wait()
    except FileNotFoundError as error:
        raise KitError(f"{what} failed: `{command[0]}` is not installed or not on PATH", fix) from error
    if status != 0:
        raise KitError(
            f"{what} failed: `{shown}` exited with status {status}; its last lines:\n" + "".join(tail), fix
        )
    return "".join(lines)


def _run_logged(
    command: Sequence[str], *, what: str, fix: str, cwd: Path, env: Mapping[str, str], log: Path
) -> str:
    progress = Progress(sys.stderr)
    lines: list[str] = []
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    print(f"    raw output: {log}", file=sys.stderr, flush=True)
    try:
        with (
            log.open("w", encoding="utf-8") as sink,
            subprocess.Popen(  # noqa: S603
                command,
                cwd=cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
            ) as process,
        ):
            assert process.stdout is not None
            for line in process.stdout:
                sink.write(line)
                lines.append(line)
                tail.append(line)
                progress.feed(line)
            status = process.wait()
    except FileNotFoundError as error:
        raise KitError(f"{what} failed: `{command[0]}` is not installed or not on PATH", fix) from error
    if status != 0:
        shown_lines = progress.failed_task[:FAILED_TASK_LINES] or [
            _ANSI.sub("", t).rstrip("\n") for t in tail
        ]
        raise KitError(
            f"{what} failed: `{shlex.join(command)}` exited with status {status}; "
            + ("the failing task:\n" if progress.failed_task else "its last lines:\n")
            + "\n".join(shown_lines)
            + f"\nThe whole output is in {log}",
            fix,
        )
    print(f"    {progress.tasks} tasks run; raw output in {log}", file=sys.stderr, flush=True)
    return "".join(lines)
