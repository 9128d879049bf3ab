"""The `command` step: a program run with an argv list (never a shell), in an empty directory of its
own (or COMMAND_WORKDIR), with a clean environment; its output kept, its process group killed at its end."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any, ClassVar

from engine.argv_rules import check_no_code_placeholders
from engine.placeholders import render_argv_element
from engine.step_kinds.base import (
    MAX_OUTPUT_CHARS,
    POLL_SECONDS,
    StepOutcome,
    Stop,
    checked_template,
    stopped,
    truncate,
)

# Commands get a clean environment: the bot's own secrets (tokens, database URL) never leak into them.
PASSED_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "TZ", "HOME")


def check_command(value: list[str]) -> list[str]:
    """A command as runbooks.yml may give it: a fixed program, placeholders only where no program
    reads them as code (engine/argv_rules.py)."""
    if "{" in value[0]:
        raise ValueError("the program (first element) cannot come from incident data")
    for element in value:
        checked_template(element)
    check_no_code_placeholders(value)
    return value


def prepare_command(argv: list[str], values: Mapping[str, Any], workdir: str | None) -> PreparedCommand:
    return PreparedCommand(tuple(render_argv_element(part, values) for part in argv), workdir)


@dataclass(frozen=True)
class PreparedCommand:
    argv: tuple[str, ...]
    workdir: str | None = None  # where it runs; None: an empty directory of its own, removed after
    kind: str = "command"
    reaches_outside: ClassVar[bool] = True

    def describe(self) -> str:
        return " ".join(self.argv)

    def run(self, timeout: float, stop: Stop) -> StepOutcome:
        if self.workdir is None:
            # Not the bot's own directory, where .env and the database live.
            with tempfile.TemporaryDirectory(prefix="autoresolve-step-") as scratch:
                return self._run_in(scratch, timeout, stop)
        return self._run_in(self.workdir, timeout, stop)

    def _run_in(self, workdir: str, timeout: float, stop: Stop) -> StepOutcome:
        env = {k: os.environ[k] for k in PASSED_ENVIRONMENT if k in os.environ}
        # Output goes to a file, not a pipe: a child left behind holding the pipe (a daemon, `cmd &`)
        # would keep the step waiting for end-of-file long after the program itself ended.
        with tempfile.TemporaryFile() as output_file:
            try:
                process = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=output_file,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=workdir,
                    start_new_session=True,  # its own process group, so what it leaves is killed too
                )
            except FileNotFoundError:
                return StepOutcome(ok=False, error=f"program not found: {self.argv[0]}")
            except PermissionError:
                return StepOutcome(ok=False, error=f"program not executable: {self.argv[0]}")
            try:
                ended = _wait_for(process, timeout, stop)
            finally:
                _kill_group(process)  # the program and anything it left in its group
            raw = _read_output(output_file)
        output = truncate(raw)
        if ended == "stopped":
            return stopped(output)
        if ended == "timeout":
            return StepOutcome(ok=False, output=output, error=f"timed out after {timeout:g}s")
        code = process.returncode
        if code != 0:
            return StepOutcome(ok=False, output=output, error=f"exit status {code}", raw=raw, exit_code=code)
        return StepOutcome(ok=True, output=output, raw=raw, exit_code=code)


def _wait_for(process: subprocess.Popen[bytes], timeout: float, stop: Stop) -> str:
    """ "exited", "timeout" or "stopped": whichever comes first."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        try:
            process.wait(timeout=max(0.0, min(POLL_SECONDS, remaining)))
            return "exited"
        except subprocess.TimeoutExpired:
            pass
        if remaining <= 0:
            return "timeout"
        if stop.is_set():
            return "stopped"


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone already
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _read_output(file: IO[bytes]) -> str:
    """What the program wrote, at most a few times the kept length (its head and tail)."""
    size = file.seek(0, os.SEEK_END)
    limit = MAX_OUTPUT_CHARS * 4
    file.seek(0)
    if size <= limit:
        return file.read().decode("utf-8", "replace")
    head = file.read(limit // 2)
    file.seek(size - limit // 2)
    tail = file.read()
    cut = f"\n... [{size - limit} bytes cut] ...\n"
    return head.decode("utf-8", "replace") + cut + tail.decode("utf-8", "replace")
