"""Reports of what happened, built from the rows that record them and told to the Notifier (events.py)."""

from __future__ import annotations

from collections.abc import Sequence

from engine.audit_actions import AuditAction
from engine.events import CreatorNotice, DecisionReport, Notifier, RunReport, StepReport
from storage import audit, config_store, runs
from storage.incidents import Incident
from storage.runs import Run, StepResult
from storage.statuses import CREATOR_NOTIFIED_RUN_STATUSES


def announce_decision(
    notifier: Notifier,
    row: Incident,
    outcome: str,
    reason: str,
    *,
    runbook_id: str | None = None,
    decided_by: str | None = None,
    steps: tuple[str, ...] = (),
    approval_digest: str | None = None,
) -> None:
    """Queue the incident's audit-channel message after a decision or a person's action; call
    inside the transaction that audits it."""
    report = DecisionReport(
        incident_id=row.incident_id,
        title=row.title,
        category=row.category,
        confidence=row.confidence_score,
        outcome=outcome,
        reason=reason,
        runbook_id=runbook_id,
        created_by=row.created_by,
        decided_by=decided_by,
        callback_url=row.callback_url,
        steps=steps,
        approval_digest=approval_digest,
    )
    notifier.tell(report)


def record_delivery_failure(*, incident_id: str | None, purpose: str, target: str, error: str) -> None:
    """A message the outbox gave up on (unknown user, channel gone): audited, so nothing fails silently."""
    audit.record(
        action=AuditAction.NOTIFICATION_FAILED,
        incident_id=incident_id,
        success=False,
        error_message=error,
        details={"about": purpose, "recipient": target, "delivery": "outbox"},
    )


def step_report(step: StepResult) -> StepReport:
    return StepReport(
        position=step.position,
        name=step.name,
        kind=step.kind,
        phase=step.phase,
        status=step.status,
        attempts=step.attempts,
        duration_ms=step.duration_ms,
        action=step.action,
        error=step.error,
    )


def build_report(run: Run, incident: Incident, *, steps: Sequence[StepResult] | None = None) -> RunReport:
    """The run as people are told about it; its steps as given, or (None) as stored."""
    rows = runs.steps_of(run_id=run.id) if steps is None else steps
    return RunReport(
        run_id=run.id,
        incident_id=incident.incident_id,
        title=incident.title,
        category=incident.category,
        created_by=incident.created_by,
        confidence=incident.confidence_score,
        runbook_id=run.runbook_id,
        status=run.status,
        message=run.message or "",
        dry_run=run.dry_run,
        started_at=run.started_at,
        finished_at=run.finished_at,
        steps=tuple(step_report(row) for row in rows),
        callback_url=incident.callback_url,
        source=incident.source,
    )


def creator_wants_dm(incident: Incident) -> bool:
    """Whether the incident's category has its creator told about outcomes (by default, yes)."""
    category = config_store.get_category(category=incident.category)
    return category.notification_required if category else True


def report_outcome(
    notifier: Notifier,
    run: Run,
    incident: Incident,
    *,
    steps: Sequence[StepResult] | None = None,
    wants_dm: bool | None = None,
) -> None:
    """Tell the audit channel, and the creator if the category wants it; call inside the run's
    final transaction so the messages are queued with the audit rows that record the outcome.
    `steps` and `wants_dm`, when the caller has them, save reading them inside that transaction."""
    report = build_report(run, incident, steps=steps)
    notifier.tell(report)
    if wants_dm is None:
        wants_dm = creator_wants_dm(incident)
    if not (wants_dm and run.status in CREATOR_NOTIFIED_RUN_STATUSES and not run.dry_run):
        return
    notifier.tell(CreatorNotice(report))
    audit.record(
        action=AuditAction.NOTIFICATION_SENT,
        incident_id=incident.incident_id,
        run_id=run.id,
        details={"channel": "creator_dm", "recipient": incident.created_by, "status": run.status},
    )
