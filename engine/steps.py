"""Step executors: http (httpx), command (argv subprocess, never a shell), wait and log.

`prepare` fills a step's templates from the incident (so a bad value fails before anything runs);
the prepared action then runs once per attempt with a timeout and reports a StepOutcome.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import httpx

from engine.placeholders import render, render_argv_element, render_data, render_url
from engine.runbooks import Action, HttpAction

MAX_OUTPUT_CHARS = 4000
# Commands get a clean environment: the bot's own secrets (tokens, database URL) never leak into them.
PASSED_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "TZ", "HOME")


@dataclass(frozen=True)
class StepOutcome:
    ok: bool
    output: str = ""
    error: str | None = None


class PreparedAction(Protocol):
    # Whether running it can change something outside the bot (a request, a program): the runner
    # makes the step's start durable first, so that a crash leaves it visible as started.
    reaches_outside: ClassVar[bool]

    @property
    def kind(self) -> str: ...

    def describe(self) -> str: ...

    def run(self, timeout: float, cancel: threading.Event) -> StepOutcome: ...


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

    def run(self, timeout: float, cancel: threading.Event) -> StepOutcome:
        try:
            with httpx.Client(timeout=timeout, follow_redirects=False) as client:
                response = client.request(
                    self.method,
                    self.url,
                    headers=self.headers,
                    json=self.json_body,
                    content=self.body,
                )
        except httpx.TimeoutException:
            return StepOutcome(ok=False, error=f"timed out after {timeout:g}s")
        except httpx.HTTPError as exc:
            return StepOutcome(ok=False, error=f"request failed: {type(exc).__name__}: {exc}")
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
    kind: str = "command"
    reaches_outside: ClassVar[bool] = True

    def describe(self) -> str:
        return " ".join(self.argv)

    def run(self, timeout: float, cancel: threading.Event) -> StepOutcome:
        env = {k: os.environ[k] for k in PASSED_ENVIRONMENT if k in os.environ}
        try:
            process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own process group, so a timeout kills its children too
            )
        except FileNotFoundError:
            return StepOutcome(ok=False, error=f"program not found: {self.argv[0]}")
        except PermissionError:
            return StepOutcome(ok=False, error=f"program not executable: {self.argv[0]}")
        try:
            raw, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raw, _ = process.communicate()
            output = truncate(raw.decode("utf-8", "replace"))
            return StepOutcome(ok=False, output=output, error=f"timed out after {timeout:g}s")
        output = truncate(raw.decode("utf-8", "replace"))
        if process.returncode != 0:
            return StepOutcome(ok=False, output=output, error=f"exit status {process.returncode}")
        return StepOutcome(ok=True, output=output)


@dataclass(frozen=True)
class PreparedWait:
    seconds: float
    kind: str = "wait"
    reaches_outside: ClassVar[bool] = False

    def describe(self) -> str:
        return f"wait {self.seconds:g}s"

    def run(self, timeout: float, cancel: threading.Event) -> StepOutcome:
        started = time.monotonic()
        if cancel.wait(self.seconds):
            return StepOutcome(ok=False, error="cancelled: the bot is shutting down")
        return StepOutcome(ok=True, output=f"waited {time.monotonic() - started:.1f}s")


@dataclass(frozen=True)
class PreparedLog:
    message: str
    kind: str = "log"
    reaches_outside: ClassVar[bool] = False

    def describe(self) -> str:
        return f"log: {self.message}"

    def run(self, timeout: float, cancel: threading.Event) -> StepOutcome:
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


def prepare(action: Action, values: Mapping[str, Any]) -> PreparedAction:
    """Fill the action's templates from incident values; raises PlaceholderError on a bad value."""
    if action.http is not None:
        return _prepare_http(action.http, values)
    if action.command is not None:
        return PreparedCommand(tuple(render_argv_element(part, values) for part in action.command))
    if action.wait is not None:
        return PreparedWait(action.wait)
    if action.log is not None:
        return PreparedLog(render(action.log, values))
    raise AssertionError("runbook validation guarantees one kind per action")
