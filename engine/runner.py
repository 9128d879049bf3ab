"""Executing one claimed run: steps with timeouts and retries, rollback, kill switch, dry run, reports."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from enum import StrEnum
from functools import partial
from typing import Any, TypeVar

from engine.audit_actions import AuditAction
from engine.configuration import kill_switch_state
from engine.incident import IncidentStatus, ResolutionStatus, incident_values
from engine.notifications import build_report, creator_wants_dm, hand_over, report_outcome, step_report
from engine.notifier import Notifier
from engine.placeholders import PlaceholderError
from engine.runbooks import Action, Runbook, RunbookCatalog, Step
from engine.steps import prepare
from storage import audit, config_store, incidents, runs
from storage.fields import utcnow
from storage.group_commit import GroupCommitter, Staged, WriteAhead
from storage.models import Incident, Run, StepResult

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 60.0
T = TypeVar("T")


class StepVerdict(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    HALTED = "halted"
    CANCELLED = "cancelled"


class RunExecutor:
    """Runs claimed runs to a terminal status. Thread-safe: one call per run, many runs at once."""

    def __init__(
        self,
        *,
        catalog: Callable[[], RunbookCatalog],
        notifier: Notifier,
        cancel: threading.Event,
        on_finished: Callable[[int], None] = lambda run_id: None,
        writes: GroupCommitter,
    ) -> None:
        self.catalog = catalog
        self.notifier = notifier
        self.cancel = cancel
        self.on_finished = on_finished
        self.writes = writes  # where the stages of runs are committed
        self._current = threading.local()  # the stages of the run this thread executes
        # Each run's steps as they ended, for its final report (read by its own later stages).
        self._ended_steps: dict[int, list[StepResult]] = {}

    def _write(self, stage: Callable[[], T]) -> Staged[T]:
        """Hand over one stage of the current run (its rows, audit rows and messages), written
        atomically and in order with the run's other stages, committed together with whatever
        stages other runs handed over meanwhile. Does not wait: see `_durable`."""
        stages: WriteAhead = self._current.stages
        return stages.write(stage)

    def _durable(self) -> None:
        """Wait until the current run's stages are committed. Called before a step reaches outside
        the bot (so a crash leaves it visible as started) and at the end of the run."""
        stages: WriteAhead = self._current.stages
        stages.durable()

    # -- one run -------------------------------------------------------------------------------

    def execute(self, run: Run) -> str:
        """Execute a run already claimed (status running); returns its terminal status."""
        self._current.stages = stages = WriteAhead(self.writes)
        self._ended_steps[run.id] = []
        try:
            return self._execute(run)
        except BaseException:
            # Whoever handles the crash writes after this run's last stage, never before it.
            with contextlib.suppress(Exception):
                stages.durable()
            raise
        finally:
            self._ended_steps.pop(run.id, None)

    def _execute(self, run: Run) -> str:
        incident = incidents.get(incident_id=run.incident_id)
        if incident is None:  # cannot happen while incidents are never deleted; fail loudly
            return self._finish(run, None, "failed", "The incident no longer exists")

        def started() -> None:
            audit.record(
                action=AuditAction.AUTO_RESOLUTION_ATTEMPTED,
                incident_id=incident.incident_id,
                confidence_score=incident.confidence_score,
                run_id=run.id,
                details={"runbook": run.runbook_id, "dry_run": run.dry_run, "forced": run.forced},
            )
            incidents.set_resolution(
                incident_id=incident.incident_id,
                resolution_status=ResolutionStatus.RUNNING,
                status=IncidentStatus.IN_PROGRESS.value,
                deferred=True,
            )
            hand_over(
                lambda: self.notifier.announce_run(build_report(run, incident, steps=())),
                about="run_started",
                incident_id=incident.incident_id,
                run_id=run.id,
            )

        self._write(started)
        runbook = self.catalog().get(run.runbook_id)
        if runbook is None:
            return self._finish(
                run,
                incident,
                "failed",
                f"Runbook {run.runbook_id} is no longer in the runbooks file",
            )
        if run.dry_run:
            return self._dry_run(run, incident, runbook)
        return self._run_steps(run, incident, runbook)

    def _dry_run(self, run: Run, incident: Incident, runbook: Runbook) -> str:
        values = incident_values(incident)
        problems = 0
        for position, step in enumerate(runbook.steps, start=1):
            try:
                action = prepare(step, values).describe()
                error = None
            except PlaceholderError as exc:
                action, error = f"(cannot prepare: {exc})", str(exc)
                problems += 1
            self._write(partial(self._record_dry_step, run, incident, position, step, action, error))
        message = f"Dry run: {len(runbook.steps)} step(s) recorded, nothing executed"
        if problems:
            message += f"; {problems} step(s) could not be prepared"
        return self._finish(run, incident, "dry_run", message)

    def _record_dry_step(
        self, run: Run, incident: Incident, position: int, step: Step, action: str, error: str | None
    ) -> None:
        row = self._record_start(run, position, step, action)
        status = "would_run" if error is None else "failed"
        self._step_done(run, incident, runs.finish_step(step=row, status=status, error=error))
        audit.record(
            action=AuditAction.STEP_SKIPPED,
            incident_id=incident.incident_id,
            run_id=run.id,
            success=error is None,
            error_message=error,
            details={"step": step.name, "position": position, "dry_run": True, "would_run": action},
        )

    def _run_steps(self, run: Run, incident: Incident, runbook: Runbook) -> str:
        category = config_store.get_category(category=incident.category)
        default_retries = category.max_retry_attempts if category else 3
        values = incident_values(incident)
        completed: list[tuple[int, Step]] = []
        for position, step in enumerate(runbook.steps, start=1):
            if kill_switch_state().active:
                return self._finish(
                    run,
                    incident,
                    "halted",
                    f"Halted by the kill switch before step {position} ({step.name})",
                )
            if self.cancel.is_set():
                return self._finish(
                    run,
                    incident,
                    "interrupted",
                    f"The bot shut down before step {position} ({step.name})",
                )
            retries = step.retries if step.retries is not None else default_retries
            verdict = self._run_step(run, incident, position, step, values, retries)
            if verdict is StepVerdict.SUCCEEDED:
                completed.append((position, step))
                continue
            if verdict is StepVerdict.HALTED:
                return self._finish(
                    run,
                    incident,
                    "halted",
                    f"Halted by the kill switch during step {position} ({step.name})",
                )
            if verdict is StepVerdict.CANCELLED:
                return self._finish(
                    run,
                    incident,
                    "interrupted",
                    f"The bot shut down during step {position} ({step.name})",
                )
            rolled_back = self._roll_back(run, incident, completed, values)
            return self._finish(run, incident, "failed", f"Step {position} ({step.name}) failed{rolled_back}")
        return self._finish(run, incident, "resolved", f"All {len(runbook.steps)} step(s) succeeded")

    # -- steps ---------------------------------------------------------------------------------

    def _run_step(
        self,
        run: Run,
        incident: Incident,
        position: int,
        step: Step,
        values: dict[str, Any],
        retries: int,
    ) -> StepVerdict:
        base = {"step": step.name, "position": position, "kind": step.kind}
        try:
            prepared = prepare(step, values)
        except PlaceholderError as exc:
            refused = f"refused: {exc}"

            def record_refusal() -> None:
                row = self._record_start(run, position, step, "")
                self._end_step(
                    run, incident, row, AuditAction.STEP_FAILED, {**base, "refused": True}, error=refused
                )

            self._write(record_refusal)
            return StepVerdict.FAILED
        action = prepared.describe()

        def record_start() -> StepResult:
            row = self._record_start(run, position, step, action)
            audit.record(
                action=AuditAction.STEP_STARTED,
                incident_id=incident.incident_id,
                run_id=run.id,
                details={**base, "action": action, "max_attempts": retries + 1},
            )
            return row

        started = self._write(record_start)
        outcome = None
        for attempt in range(1, retries + 2):
            if attempt > 1:
                delay = min(step.backoff * 2 ** (attempt - 2), MAX_BACKOFF_SECONDS)
                self._write(
                    partial(
                        audit.record,
                        action=AuditAction.STEP_RETRY,
                        incident_id=incident.incident_id,
                        run_id=run.id,
                        details={**base, "attempt": attempt, "delay_seconds": delay},
                        error_message=outcome.error if outcome else None,
                    )
                )
                if self.cancel.wait(delay):
                    self._write(
                        partial(self._stop_step, run, incident, started, "failed", attempt, "cancelled")
                    )
                    return StepVerdict.CANCELLED
                if kill_switch_state().active:
                    self._write(
                        partial(self._stop_step, run, incident, started, "halted", attempt, "kill switch")
                    )
                    return StepVerdict.HALTED
            if prepared.reaches_outside:
                self._durable()  # the start (and any retry) is on record before anything happens
            outcome = prepared.run(step.timeout, self.cancel)
            if outcome.ok:
                succeeded = {**base, "attempts": attempt}
                end = partial(self._end_staged, run, incident, started, AuditAction.STEP_SUCCEEDED, succeeded)
                self._write(partial(end, attempts=attempt, output=outcome.output))
                return StepVerdict.SUCCEEDED
            if self.cancel.is_set():
                break
        assert outcome is not None
        failed = {**base, "attempts": attempt, "output": outcome.output}
        end = partial(self._end_staged, run, incident, started, AuditAction.STEP_FAILED, failed)
        self._write(partial(end, attempts=attempt, output=outcome.output, error=outcome.error))
        return StepVerdict.FAILED

    def _stop_step(
        self, run: Run, incident: Incident, started: Staged[StepResult], status: str, attempt: int, why: str
    ) -> None:
        """A step stopped before its next attempt (cancelled, halted): its row and its thread entry."""
        row = runs.finish_step(step=started.value, status=status, attempts=attempt - 1, error=why)
        self._step_done(run, incident, row)

    def _end_step(
        self,
        run: Run,
        incident: Incident,
        row: StepResult,
        action: AuditAction,
        details: dict[str, Any],
        *,
        error: str | None = None,
        **finished: Any,
    ) -> None:
        """Record how a step ended: its row (succeeded when there is no error), its thread entry
        and its audit row (with the step's duration)."""
        status = "succeeded" if error is None else "failed"
        row = runs.finish_step(step=row, status=status, error=error, **finished)
        self._step_done(run, incident, row)
        audit.record(
            action=action,
            incident_id=incident.incident_id,
            run_id=run.id,
            success=error is None,
            error_message=error,
            details={**details, "duration_ms": row.duration_ms},
        )

    def _end_staged(
        self, run: Run, incident: Incident, started: Staged[StepResult], *args: Any, **kw: Any
    ) -> None:
        """`_end_step` for a step whose start was an earlier stage of this run."""
        self._end_step(run, incident, started.value, *args, **kw)

    def _roll_back(
        self,
        run: Run,
        incident: Incident,
        completed: list[tuple[int, Step]],
        values: dict[str, Any],
    ) -> str:
        """Undo completed steps that have a rollback, newest first; returns a phrase for the message."""
        to_undo = [(position, step) for position, step in reversed(completed) if step.rollback]
        if not to_undo:
            return ""
        failures = 0
        for position, step in to_undo:
            assert step.rollback is not None
            if not self._run_rollback(run, incident, position, step.name, step.rollback, values):
                failures += 1
        done = len(to_undo) - failures
        phrase = f"; rolled back {done} of {len(to_undo)} step(s)"
        return phrase + (f", {failures} rollback(s) failed" if failures else "")

    def _run_rollback(
        self,
        run: Run,
        incident: Incident,
        position: int,
        name: str,
        action: Action,
        values: dict[str, Any],
    ) -> bool:
        details = {"step": name, "position": position, "kind": action.kind}
        try:
            prepared = prepare(action, values)
            described = prepared.describe()
        except PlaceholderError as exc:
            prepared, described = None, f"(cannot prepare: {exc})"

        def record_start() -> StepResult:
            audit.record(
                action=AuditAction.ROLLBACK_STARTED,
                incident_id=incident.incident_id,
                run_id=run.id,
                details=details,
            )
            return runs.start_step(
                run_id=run.id,
                position=position,
                name=name,
                kind=action.kind,
                phase="rollback",
                action=described,
            )

        started = self._write(record_start)
        if prepared is not None and prepared.reaches_outside:
            self._durable()
        outcome = prepared.run(action.timeout, threading.Event()) if prepared else None
        ok = outcome is not None and outcome.ok
        error = None if ok else (outcome.error if outcome else described)
        verdict = AuditAction.ROLLBACK_SUCCEEDED if ok else AuditAction.ROLLBACK_FAILED
        end = partial(self._end_staged, run, incident, started, verdict, {**details, "action": described})
        self._write(partial(end, error=error, attempts=1, output=outcome.output if outcome else ""))
        return ok

    @staticmethod
    def _record_start(run: Run, position: int, step: Step, action: str) -> StepResult:
        return runs.start_step(
            run_id=run.id, position=position, name=step.name, kind=step.kind, phase="step", action=action
        )

    # -- the end of a run ----------------------------------------------------------------------

    def _step_done(self, run: Run, incident: Incident, step: StepResult) -> None:
        self._ended_steps[run.id].append(step)
        report = build_report(run, incident, steps=())
        hand_over(
            lambda: self.notifier.announce_step(report, step_report(step)),
            about="step",
            incident_id=incident.incident_id,
            run_id=run.id,
        )

    def _finish(self, run: Run, incident: Incident | None, status: str, message: str) -> str:
        """End the run: its status, the incident's, the audit rows and the messages, in one transaction
        (which reads nothing: what the report needs is in hand or read before)."""
        wants_dm = creator_wants_dm(incident) if incident is not None else False
        steps = self._ended_steps[run.id]

        def record_end() -> str | None:
            """None, or the status the run already had when it was finished elsewhere."""
            finished_at = utcnow()
            if not runs.finish(run_id=run.id, status=status, message=message, finished_at=finished_at):
                log.warning("run %s was finished elsewhere (lease lapsed?); leaving it", run.id)
                current = runs.get(run_id=run.id)
                return current.status if current else status
            run.status, run.message, run.finished_at = status, message, finished_at  # as stored
            if incident is not None:
                finish_incident(incident, status, message)
                report_outcome(self.notifier, run, incident, steps=steps, wants_dm=wants_dm)
            return None

        ended = self._write(record_end)
        self._durable()
        earlier = ended.value
        if earlier is not None:
            return earlier
        self.on_finished(run.id)
        return status


TERMINAL_AUDIT_ACTION = {
    "resolved": AuditAction.AUTO_RESOLUTION_SUCCESS,
    "failed": AuditAction.AUTO_RESOLUTION_FAILED,
    "halted": AuditAction.AUTO_RESOLUTION_HALTED,
    "interrupted": AuditAction.AUTO_RESOLUTION_INTERRUPTED,
    "dry_run": AuditAction.AUTO_RESOLUTION_DRY_RUN,
}


def finish_incident(incident: Incident, status: str, message: str) -> None:
    """Move the incident to where its run ended and audit the outcome (the run's last write to it)."""
    if status == "resolved":
        incidents.set_resolution(
            incident_id=incident.incident_id,
            resolution_status=ResolutionStatus.RESOLVED,
            reason=message,
            status=IncidentStatus.AUTO_RESOLVED.value,
            auto_resolved=True,
            resolved_at=utcnow(),
            deferred=True,
        )
    else:
        incidents.set_resolution(
            incident_id=incident.incident_id,
            resolution_status=status,
            reason=message,
            status=IncidentStatus.OPEN.value,
            deferred=True,
        )
    audit.record(
        action=TERMINAL_AUDIT_ACTION[status],
        incident_id=incident.incident_id,
        confidence_score=incident.confidence_score,
        success=status in ("resolved", "dry_run"),
        error_message=None if status in ("resolved", "dry_run") else message,
        details={"status": status, "message": message},
    )
