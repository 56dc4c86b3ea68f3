"""Runs a workflow as named stages: a progress line and elapsed time per stage; stops at the first failure."""

from __future__ import annotations

import os
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


@dataclass
class Stage:
    name: str
    action: Callable[[], None]


@dataclass
class Pipeline:
    title: str
    stages: list[Stage] = field(default_factory=list)
    out: TextIO = field(default_factory=lambda: sys.stderr)

    def add(self, name: str, action: Callable[[], None]) -> None:
        self.stages.append(Stage(name, action))

    def run(self) -> int:
        """Runs every stage in order; returns the exit code (0, or 1 at the first failed stage)."""
        timings: list[tuple[str, float]] = []
        started = time.monotonic()
        total = len(self.stages)
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


def run(
    command: Sequence[str],
    *,
    what: str,
    fix: str,
    cwd: Path = ROOT,
    env: Mapping[str, str] | None = None,
    capture: bool = False,
    echo: bool = True,
) -> str:
    """Runs a command with the user's terminal (so prompts work), or with its output echoed and kept.

    Raises KitError naming the command and its exit status; with capture, the last lines of its
    output are repeated in the error so the cause is next to the message.
    """
    full_env = {**os.environ, **(env or {})}
    shown = shlex.join(command)
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
