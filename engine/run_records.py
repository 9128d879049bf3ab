"""What a run writes as it goes: each step's row, its audit row and its thread entry, and at the end
the incident's new state with the outcome's audit row. Called inside the run's write stages."""

from __future__ import annotations

import logging
from typing import Any, assert_never

from engine import outcomes
from engine.audit_actions import AuditAction
from engine.events import Notifier, StepFinished
from engine.reports import build_report, step_report
from engine.runbooks import Step
from storage import audit, incidents, runs
from storage.fields import utcnow
from storage.group_commit import Staged
from storage.incidents import Incident
from storage.runs import Run, StepResult
from storage.statuses import SUCCESSFUL_RUN_STATUSES, IncidentStatus, ResolutionStatus, RunStatus, StepStatus

log = logging.getLogger(__name__)


def terminal_audit_action(status: RunStatus) -> AuditAction:
    """The audit action that records how a run ended."""
    match status:
        case RunStatus.RESOLVED:
            return AuditAction.AUTO_RESOLUTION_SUCCESS
        case RunStatus.FAILED:
            return AuditAction.AUTO_RESOLUTION_FAILED
        case RunStatus.HALTED:
            return AuditAction.AUTO_RESOLUTION_HALTED
        case RunStatus.INTERRUPTED:
            return AuditAction.AUTO_RESOLUTION_INTERRUPTED
        case RunStatus.DRY_RUN:
            return AuditAction.AUTO_RESOLUTION_DRY_RUN
        case RunStatus.QUEUED | RunStatus.RUNNING | RunStatus.CANCELLED:
            raise ValueError(f"a run that ends {status} has no outcome of its own")
        case _:
            assert_never(status)


class RunRecords:
    """Step rows and their announcements, and each run's ended steps for its final report (read by
    the run's own later stages only)."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self.ended: dict[int, list[StepResult]] = {}

    def begin(self, run: Run) -> None:
        self.ended[run.id] = []

    def forget(self, run: Run) -> None:
        self.ended.pop(run.id, None)

    @staticmethod
    def start_step(run: Run, position: int, step: Step, action: str) -> StepResult:
        return runs.start_step(
            run_id=run.id, position=position, name=step.name, kind=step.kind, phase="step", action=action
        )

    def step_done(self, run: Run, incident: Incident, step: StepResult) -> None:
        self.ended[run.id].append(step)
        report = build_report(run, incident, steps=())
        self.notifier.tell(StepFinished(report, step_report(step)))

    def end_step(
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
        status = StepStatus.SUCCEEDED if error is None else StepStatus.FAILED
        row = runs.finish_step(step=row, status=status, error=error, **finished)
        self.step_done(run, incident, row)
        audit.record(
            action=action,
            incident_id=incident.incident_id,
            run_id=run.id,
            success=error is None,
            error_message=error,
            details={**details, "duration_ms": row.duration_ms},
        )

    def end_staged(
        self, run: Run, incident: Incident, started: Staged[StepResult], *args: Any, **kw: Any
    ) -> None:
        """`end_step` for a step whose start was an earlier stage of this run."""
        self.end_step(run, incident, started.value, *args, **kw)

    def stopped_step(
        self,
        run: Run,
        incident: Incident,
        started: Staged[StepResult],
        status: StepStatus,
        why: str,
        attempts: int,
        output: str,
    ) -> None:
        """A step the kill switch or a shutdown stopped: its row, its thread entry, its audit row."""
        row = runs.finish_step(step=started.value, status=status, attempts=attempts, error=why, output=output)
        self.step_done(run, incident, row)
        audit.record(
            action=AuditAction.STEP_FAILED,
            incident_id=incident.incident_id,
            run_id=run.id,
            success=False,
            error_message=f"stopped: {why}",
            details={"step": row.name, "position": row.position, "attempts": attempts, "stopped": why},
        )

    def skipped_step(
        self, run: Run, incident: Incident, position: int, step: Step, why: str, error: str | None = None
    ) -> None:
        """A step whose `when:` did not hold (error: or could not be decided, which fails the step)."""
        row = self.start_step(run, position, step, "")
        status = StepStatus.SKIPPED if error is None else StepStatus.FAILED
        self.step_done(run, incident, runs.finish_step(step=row, status=status, error=error or why))
        audit.record(
            action=AuditAction.STEP_SKIPPED if error is None else AuditAction.STEP_FAILED,
            incident_id=incident.incident_id,
            run_id=run.id,
            success=error is None,
            error_message=error,
            details={"step": step.name, "position": position, "when": step.when, "why": why},
        )

    def dry_step(
        self, run: Run, incident: Incident, position: int, step: Step, action: str, error: str | None
    ) -> None:
        row = self.start_step(run, position, step, action)
        status = StepStatus.WOULD_RUN if error is None else StepStatus.FAILED
        self.step_done(run, incident, runs.finish_step(step=row, status=status, error=error))
        audit.record(
            action=AuditAction.STEP_SKIPPED,
            incident_id=incident.incident_id,
            run_id=run.id,
            success=error is None,
            error_message=error,
            details={"step": step.name, "position": position, "dry_run": True, "would_run": action},
        )


def finish_incident(incident: Incident, status: RunStatus, message: str) -> None:
    """Move the incident to where its run ended and audit the outcome (the run's last write to it)."""
    if status == RunStatus.RESOLVED:
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
            resolution_status=ResolutionStatus(status.value),
            reason=message,
            status=IncidentStatus.OPEN.value,
            deferred=True,
        )
    succeeded = status in SUCCESSFUL_RUN_STATUSES
    audit.record(
        action=terminal_audit_action(status),
        incident_id=incident.incident_id,
        confidence_score=incident.confidence_score,
        success=succeeded,
        error_message=None if succeeded else message,
        details={"status": status, "message": message},
    )
    outcomes.run_ended(incident.incident_id, status, message)


def unexpected(exc: Exception) -> str:
    """An exception preparing a step that no rule expected: named by its class, never a trace."""
    log.warning("preparing a step raised %s", type(exc).__name__, exc_info=exc)
    return f"unexpected error: {type(exc).__name__}: {str(exc)[:500]}"
