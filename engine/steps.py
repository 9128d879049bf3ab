"""Preparing a step of any kind: its templates filled from its scope (engine/scope.py), so that a bad
value fails before anything runs; what it shows has its secrets masked. Each kind's schema and
executor are in engine/step_kinds/."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from engine.captures import CaptureError, keep
from engine.placeholders import PlaceholderError, render
from engine.runbook_inputs import InputRule, inputs_problem
from engine.runbooks import Action, Step
from engine.secrets import SecretStore
from engine.step_kinds.base import PreparedAction, StepOutcome, Stop, run_attempt
from engine.step_kinds.command import prepare_command
from engine.step_kinds.http import prepare_http
from engine.step_kinds.log import PreparedLog
from engine.step_kinds.wait import PreparedWait


@dataclass(frozen=True)
class Masked:
    """A prepared action whose action, output and error show its secrets as [secret:NAME]."""

    inner: PreparedAction
    secrets: SecretStore

    @property
    def kind(self) -> str:
        return self.inner.kind

    @property
    def reaches_outside(self) -> bool:
        return self.inner.reaches_outside

    def describe(self) -> str:
        return self.secrets.mask(self.inner.describe())

    def run(self, timeout: float, stop: Stop) -> StepOutcome:
        outcome = run_attempt(self.inner, timeout, stop)  # an exception's text is masked too
        mask = self.secrets.mask
        return replace(
            outcome,
            output=mask(outcome.output),
            error=mask(outcome.error) if outcome.error else outcome.error,
            raw=mask(outcome.raw),
        )


def kept_values(
    step: Step, inputs: Mapping[str, InputRule], outcome: StepOutcome, scope: dict[str, Any]
) -> StepOutcome:
    """A succeeded attempt with what its step keeps (added to the run's scope for later steps), or
    the attempt failed: a capture found nothing, or a kept value breaks the runbook's inputs."""
    if not outcome.ok or not step.capture:
        return outcome
    assert step.id is not None  # a step that captures has an id (engine/runbook_checks.py)
    try:
        kept = keep(step.capture, outcome)
    except CaptureError as exc:
        return replace(outcome, ok=False, error=str(exc))
    after = {**scope, "steps": {**scope["steps"], step.id: kept}}
    problem = inputs_problem(inputs, after, kept=True)
    if problem is not None:
        return replace(outcome, ok=False, error=problem)
    scope["steps"] = after["steps"]
    return replace(outcome, kept=kept)


def prepare(action: Action, values: Mapping[str, Any], *, workdir: str | None = None) -> PreparedAction:
    """Fill the action's templates from its scope; raises PlaceholderError on a bad value.
    `workdir`: where commands run (COMMAND_WORKDIR); None, an empty directory per attempt."""
    secrets = values.get("secrets")
    if not isinstance(secrets, SecretStore):
        return _prepare(action, values, workdir)
    try:
        prepared = _prepare(action, values, workdir)
    except PlaceholderError as exc:  # its message may quote a value, a secret's too
        raise PlaceholderError(secrets.mask(str(exc))) from None
    return Masked(prepared, secrets)


def _prepare(action: Action, values: Mapping[str, Any], workdir: str | None) -> PreparedAction:
    if action.http is not None:
        return prepare_http(action.http, values)
    if action.command is not None:
        return prepare_command(action.command, values, workdir)
    if action.wait is not None:
        return PreparedWait(action.wait)
    if action.log is not None:
        return PreparedLog(render(action.log, values))
    raise AssertionError("runbook validation guarantees one kind per action")
