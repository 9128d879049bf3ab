"""Executing one step of a run: its `when:`, its preparation (a bad value refuses it before anything
runs), its attempts (retries with backoff, or polls every `every` until its `until:` holds, for at
most `within`), what it expects and keeps of each attempt, and the records of all of it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import partial
from typing import Any, TypeVar

from engine.audit_actions import AuditAction
from engine.conditions import Condition, ConditionError
from engine.placeholders import PlaceholderError
from engine.run_records import RunRecords, unexpected
from engine.run_stop import RunStop, StopReason
from engine.runbook_inputs import InputRule
from engine.runbooks import Step
from engine.step_kinds.base import PreparedAction, StepOutcome, run_attempt
from engine.steps import kept_values, prepare
from storage import audit
from storage.group_commit import Staged
from storage.incidents import Incident
from storage.runs import Run, StepResult
from storage.statuses import StepStatus

MAX_STEP_RETRY_DELAY_SECONDS = 60.0
T = TypeVar("T")


class StepVerdict(StrEnum):
    SUCCEEDED = "succeeded"
    SKIPPED = "skipped"  # its when: did not hold; the run goes on, and there is nothing to roll back
    FAILED = "failed"
    HALTED = "halted"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class StepCall:
    """One step of one run, with what it runs in."""

    run: Run
    incident: Incident
    position: int
    step: Step
    scope: dict[str, Any]  # engine/scope.py: the incident's values, what steps kept, the secrets
    retries: int
    stop: RunStop
    inputs: Mapping[str, InputRule]

    @property
    def base(self) -> dict[str, Any]:
        return {"step": self.step.name, "position": self.position, "kind": self.step.kind}


def attempt_delays(step: Step, retries: int, clock: Callable[[], float] = time.monotonic) -> Iterator[float]:
    """The wait before each attempt after the first: retries with backoff, or polls every `every`
    while the next one still starts within `within` of the first."""
    if step.until is not None:
        assert step.every is not None
        assert step.within is not None
        deadline = clock() + step.within
        while clock() + step.every <= deadline:
            yield step.every
        return
    for attempt in range(2, retries + 2):
        yield min(step.backoff * 2 ** (attempt - 2), MAX_STEP_RETRY_DELAY_SECONDS)


class StepExecution:
    """Runs a run's steps for the RunExecutor, handing it each record to write (`write`) and waiting
    for them to be durable before anything reaches outside the bot (`durable`)."""

    def __init__(
        self,
        *,
        write: Callable[[Callable[[], Any]], Staged[Any]],
        durable: Callable[[], None],
        records: RunRecords,
        workdir: str | None,
    ) -> None:
        self._write = write
        self._durable = durable
        self.records = records
        self.workdir = workdir

    def run(self, call: StepCall) -> StepVerdict:
        run, incident, step = call.run, call.incident, call.step
        if step.when is not None:
            try:
                holds, error = Condition(step.when).holds(call.scope), None
            except ConditionError as exc:
                holds, error = False, f"when {step.when}: {exc}"
            if not holds:
                why = f"when {step.when}: did not hold"
                self._write(
                    partial(self.records.skipped_step, run, incident, call.position, step, why, error)
                )
                return StepVerdict.FAILED if error else StepVerdict.SKIPPED
        try:
            prepared = prepare(step, call.scope, workdir=self.workdir)
        except Exception as exc:  # a bad value (PlaceholderError) or anything else: nothing runs
            refused = f"refused: {exc}" if isinstance(exc, PlaceholderError) else unexpected(exc)

            def record_refusal() -> None:
                row = self.records.start_step(run, call.position, step, "")
                self.records.end_step(
                    run, incident, row, AuditAction.STEP_FAILED, {**call.base, "refused": True}, error=refused
                )

            self._write(record_refusal)
            return StepVerdict.FAILED
        return self._attempts(call, prepared)

    def _attempts(self, call: StepCall, prepared: PreparedAction) -> StepVerdict:
        run, incident, step, base = call.run, call.incident, call.step, call.base
        action = prepared.describe()
        polls = step.until is not None

        def record_start() -> StepResult:
            row = self.records.start_step(run, call.position, step, action)
            schedule = {"until": step.until, "every": step.every, "within": step.within} if polls else {}
            audit.record(
                action=AuditAction.STEP_STARTED,
                incident_id=incident.incident_id,
                run_id=run.id,
                details={**base, "action": action, **(schedule or {"max_attempts": call.retries + 1})},
            )
            return row

        started = self._write(record_start)
        delays = attempt_delays(step, call.retries)
        attempt, delay = 1, 0.0
        outcome = StepOutcome(ok=False)
        while True:
            if attempt > 1:
                retry = {
                    **base,
                    "attempt": attempt,
                    "delay_seconds": delay,
                    **({"poll": True} if polls else {}),
                }
                self._write(
                    partial(
                        audit.record,
                        action=AuditAction.STEP_RETRY,
                        incident_id=incident.incident_id,
                        run_id=run.id,
                        details=retry,
                        error_message=outcome.error,
                    )
                )
                if call.stop.wait(delay):
                    return self._stopped(call, started, attempt - 1)
            if prepared.reaches_outside:
                self._durable()  # the start (and any retry) is on record before anything happens
            outcome = self._attempt(call, prepared)
            if outcome.ok:
                kept = {"kept": dict(outcome.kept)} if outcome.kept else {}
                end = partial(
                    self.records.end_staged,
                    run,
                    incident,
                    started,
                    AuditAction.STEP_SUCCEEDED,
                    {**base, "attempts": attempt, **kept},
                )
                self._write(partial(end, attempts=attempt, output=outcome.output))
                return StepVerdict.SUCCEEDED
            if outcome.stopped:
                return self._stopped(call, started, attempt, outcome.output)
            next_delay = next(delays, None)
            if next_delay is None:
                break
            attempt, delay = attempt + 1, next_delay
        error = outcome.error
        if polls:
            error = f"{error}; {step.until} did not hold within {step.within:g}s ({attempt} attempt(s))"
        failed = {**base, "attempts": attempt, "output": outcome.output}
        end = partial(self.records.end_staged, run, incident, started, AuditAction.STEP_FAILED, failed)
        self._write(partial(end, attempts=attempt, output=outcome.output, error=error))
        return StepVerdict.FAILED

    def _attempt(self, call: StepCall, prepared: PreparedAction) -> StepOutcome:
        """One attempt, judged: its kind's own success, then `expect:`, what it keeps, and `until:`."""
        step = call.step
        outcome = run_attempt(prepared, step.timeout, call.stop)
        if outcome.ok and step.expect is not None:
            problem = step.expect.problem(outcome)
            if problem is not None:
                outcome = replace(outcome, ok=False, error=problem)
        outcome = kept_values(step, call.inputs, outcome, call.scope)
        if outcome.ok and step.until is not None:
            try:
                holds = Condition(step.until).holds(call.scope)
            except ConditionError as exc:
                return replace(outcome, ok=False, error=f"until {step.until}: {exc}")
            if not holds:
                return replace(outcome, ok=False, error=f"until {step.until}: not yet")
        return outcome

    def _stopped(
        self, call: StepCall, started: Staged[StepResult], attempts: int, output: str = ""
    ) -> StepVerdict:
        """A step the kill switch or a shutdown stopped, during an attempt or before the next one:
        its row, its thread entry and its audit row."""
        halted = call.stop.reason() is StopReason.KILL_SWITCH
        status, why = (StepStatus.HALTED, "kill switch") if halted else (StepStatus.FAILED, "cancelled")
        stopped = partial(
            self.records.stopped_step, call.run, call.incident, started, status, why, attempts, output
        )
        self._write(stopped)
        return StepVerdict.HALTED if halted else StepVerdict.CANCELLED
