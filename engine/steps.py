"""Step executors: http (httpx), command (argv subprocess, never a shell), wait and log.

`prepare` fills a step's templates from the incident (so a bad value fails before anything runs);
the prepared action then runs once per attempt and reports a StepOutcome. Every attempt is bounded
twice: by its timeout, and by a `Stop` (the bot shutting down, the kill switch) that it looks at
while it runs. Nothing an attempt raises escapes it: an unexpected exception is its failure.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Any, ClassVar, Protocol, TypeVar

import httpx

from engine.placeholders import render, render_argv_element, render_data, render_url
from engine.runbooks import Action, HttpAction

MAX_OUTPUT_CHARS = 4000
# Commands get a clean environment: the bot's own secrets (tokens, database URL) never leak into them.
PASSED_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "TZ", "HOME")


# How often a running attempt looks at its Stop (and how soon a finished program is noticed).
POLL_SECONDS = 0.1
T = TypeVar("T")


class Stop(Protocol):
    """What may end an attempt before its timeout; a threading.Event is one."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


@dataclass(frozen=True)
class StepOutcome:
    ok: bool
    output: str = ""
    error: str | None = None
    stopped: bool = False  # ended early because its Stop was set, not by its own doing


def stopped(output: str = "") -> StepOutcome:
    return StepOutcome(ok=False, output=output, error="stopped before it finished", stopped=True)


def unexpected(exc: BaseException) -> StepOutcome:
    """An exception no step kind expected (a bug, a library's odd error): the attempt's failure,
    named by its class, never a trace."""
    return StepOutcome(ok=False, error=f"unexpected error: {type(exc).__name__}: {str(exc)[:500]}")


class PreparedAction(Protocol):
    # Whether running it can change something outside the bot (a request, a program): the runner
    # makes the step's start durable first, so that a crash leaves it visible as started.
    reaches_outside: ClassVar[bool]

    @property
    def kind(self) -> str: ...

    def describe(self) -> str: ...

    def run(self, timeout: float, stop: Stop) -> StepOutcome: ...


def run_attempt(prepared: PreparedAction, timeout: float, stop: Stop) -> StepOutcome:
    """One attempt of a prepared action; whatever it raises is its failure."""
    try:
        return prepared.run(timeout, stop)
    except Exception as exc:
        return unexpected(exc)


def _bounded(call: Callable[[], T], timeout: float, stop: Stop) -> T | StepOutcome:
    """`call()` in a thread of its own, given up on after `timeout` or when `stop` is set (the
    thread is left to end by itself, bounded by the call's own timeouts)."""
    result: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(call())
        except BaseException as exc:  # handed to the caller's thread below
            failure.append(exc)

    worker = threading.Thread(target=target, name="step-call", daemon=True)
    worker.start()
    deadline = time.monotonic() + timeout
    while worker.is_alive():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return StepOutcome(ok=False, error=f"timed out after {timeout:g}s")
        if stop.is_set():
            return stopped()
        worker.join(min(POLL_SECONDS, remaining))
    if failure:
        raise failure[0]
    return result[0]


def truncate(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    """Keep the head and the tail, where errors usually are."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n... [{len(text) - limit} characters cut] ...\n{text[-half:]}"


@dataclass(frozen=True)
class PreparedHttp:
    method: str
    url: str
    headers: dict[str, str]
    json_body: Any
    body: str | None
    expect_status: tuple[int, ...]
    kind: str = "http"
    reaches_outside: ClassVar[bool] = True

    def describe(self) -> str:
        return f"{self.method} {self.url}"

    def _request(self, timeout: float) -> httpx.Response:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            return client.request(
                self.method, self.url, headers=self.headers, json=self.json_body, content=self.body
            )

    def run(self, timeout: float, stop: Stop) -> StepOutcome:
        # httpx's timeout is per operation (a server that sends a byte a second never trips it):
        # the whole request is bounded by the step's timeout and its Stop instead.
        try:
            response = _bounded(lambda: self._request(timeout), timeout, stop)
        except httpx.TimeoutException:
            return StepOutcome(ok=False, error=f"timed out after {timeout:g}s")
        except httpx.HTTPError as exc:
            return StepOutcome(ok=False, error=f"request failed: {type(exc).__name__}: {exc}")
        if isinstance(response, StepOutcome):
            return response
        output = truncate(f"HTTP {response.status_code}\n{response.text}")
        expected = self.expect_status or tuple(range(200, 300))
        if response.status_code not in expected:
            wanted = ", ".join(map(str, self.expect_status)) if self.expect_status else "2xx"
            return StepOutcome(
                ok=False, output=output, error=f"HTTP {response.status_code}, expected {wanted}"
            )
        return StepOutcome(ok=True, output=output)


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
            output = truncate(_read_output(output_file))
        if ended == "stopped":
            return stopped(output)
        if ended == "timeout":
            return StepOutcome(ok=False, output=output, error=f"timed out after {timeout:g}s")
        if process.returncode != 0:
            return StepOutcome(ok=False, output=output, error=f"exit status {process.returncode}")
        return StepOutcome(ok=True, output=output)


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


@dataclass(frozen=True)
class PreparedWait:
    seconds: float
    kind: str = "wait"
    reaches_outside: ClassVar[bool] = False

    def describe(self) -> str:
        return f"wait {self.seconds:g}s"

    def run(self, timeout: float, stop: Stop) -> StepOutcome:
        started = time.monotonic()
        if stop.wait(self.seconds):
            return stopped()
        return StepOutcome(ok=True, output=f"waited {time.monotonic() - started:.1f}s")


@dataclass(frozen=True)
class PreparedLog:
    message: str
    kind: str = "log"
    reaches_outside: ClassVar[bool] = False

    def describe(self) -> str:
        return f"log: {self.message}"

    def run(self, timeout: float, stop: Stop) -> StepOutcome:
        return StepOutcome(ok=True, output=self.message)


def _prepare_http(action: HttpAction, values: Mapping[str, Any]) -> PreparedHttp:
    return PreparedHttp(
        method=action.method,
        url=render_url(action.url, values),
        headers={name: render(value, values) for name, value in action.headers.items()},
        json_body=render_data(action.json_body, values),
        body=None if action.body is None else render(action.body, values),
        expect_status=tuple(action.expect_status),
    )


def prepare(action: Action, values: Mapping[str, Any], *, workdir: str | None = None) -> PreparedAction:
    """Fill the action's templates from incident values; raises PlaceholderError on a bad value.
    `workdir`: where commands run (COMMAND_WORKDIR); None, an empty directory per attempt."""
    if action.http is not None:
        return _prepare_http(action.http, values)
    if action.command is not None:
        return PreparedCommand(tuple(render_argv_element(part, values) for part in action.command), workdir)
    if action.wait is not None:
        return PreparedWait(action.wait)
    if action.log is not None:
        return PreparedLog(render(action.log, values))
    raise AssertionError("runbook validation guarantees one kind per action")
