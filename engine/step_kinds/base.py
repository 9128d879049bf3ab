"""What every step kind shares: the outcome of an attempt, the Stop that may end it early, and an
attempt bounded by its timeout and its Stop. Nothing an attempt raises escapes it."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from engine.placeholders import PlaceholderError, check_template

MAX_OUTPUT_CHARS = 4000
MAX_RAW_CHARS = 1_000_000  # of an answer or output, kept in memory for captures (never stored)
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
    raw: str = ""  # the whole answer or output (up to a limit), for what the step keeps (captures)
    exit_code: int | None = None  # a command's
    kept: Mapping[str, str] = field(default_factory=dict)  # what the step keeps for later ones (capture)


def stopped(output: str = "") -> StepOutcome:
    return StepOutcome(ok=False, output=output, error="stopped before it finished", stopped=True)


def unexpected(exc: BaseException) -> StepOutcome:
    """An exception no step kind expected (a bug, a library's odd error): the attempt's failure,
    named by its class, never a trace."""
    return StepOutcome(ok=False, error=f"unexpected error: {type(exc).__name__}: {str(exc)[:500]}")


class PreparedAction(Protocol):
    # Whether running it can change something outside the bot (a request, a program): the runner
    # makes the step's start durable first, so that a crash leaves it visible as started.
    @property
    def reaches_outside(self) -> bool: ...

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


def bounded(call: Callable[[], T], timeout: float, stop: Stop) -> T | StepOutcome:
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


class Strict(BaseModel):
    """A runbooks.yml mapping: unknown keys are refused, values never change after loading."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def checked_template(template: str) -> str:
    """The template, if its placeholders name incident fields; ValueError for pydantic otherwise."""
    try:
        check_template(template)
    except PlaceholderError as exc:
        raise ValueError(str(exc)) from exc
    return template


def checked_regex(value: str | None) -> str | None:
    """The regular expression, if it compiles; ValueError (for pydantic) saying why otherwise."""
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
    return value
