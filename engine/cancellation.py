"""When automation that was about to run must not: the source says the problem is gone, or what an
admin approved is no longer what would run."""

from __future__ import annotations

from engine import outcomes
from engine.audit_actions import AuditAction
from engine.errors import Conflict
from engine.events import Notifier
from engine.gates import Decision, DecisionOutcome
from engine.reports import announce_decision
from storage import audit, incidents, runs
from storage.incidents import Incident
from storage.runs import Run
from storage.statuses import ResolutionStatus, RunStatus


class StaleApproval(Conflict):
    """The approval request an admin answered is not the one that stands now."""

    def __init__(self, why: str) -> None:
        super().__init__(
            f"This approval request is stale ({why}); nothing was run. "
            "The current request is in the audit channel."
        )


def check_approval_still_stands(existing: Incident | None, digest: str) -> None:
    """Raise StaleApproval unless the incident still waits on the request with `digest`."""
    if existing is None or existing.resolution_status != ResolutionStatus.AWAITING_APPROVAL:
        status = existing.resolution_status if existing else "unknown"
        raise StaleApproval(f"the incident is {status} now")
    if existing.approval_digest != digest:
        raise StaleApproval("the incident or its runbook changed after it was asked")


def cancel_if_waiting(
    incident: Incident, active: Run | None, actor: str, reason: str, notifier: Notifier
) -> Decision:
    """Cancel the incident's queued run or waiting approval; call inside a write transaction.
    A run under way is left to finish: the answer says so."""
    outcomes.source_resolved(incident.incident_id, actor)  # nothing run here: the problem went away
    cancelled = None
    if active is not None and active.status == RunStatus.QUEUED:
        if runs.finish(
            run_id=active.id, status=RunStatus.CANCELLED, message=reason, only_if=RunStatus.QUEUED
        ):
            incidents.set_resolution(
                incident_id=incident.incident_id, resolution_status=ResolutionStatus.CANCELLED, reason=reason
            )
            cancelled = "its queued run was cancelled"
        else:
            active = runs.get(run_id=active.id)  # claimed meanwhile: it is under way
    elif incident.resolution_status == ResolutionStatus.AWAITING_APPROVAL and incidents.end_approval(
        incident_id=incident.incident_id,
        digest=incident.approval_digest,
        resolution_status=ResolutionStatus.CANCELLED,
        reason=reason,
    ):
        cancelled = "its approval request was cancelled"
    if cancelled is None:
        still_running = active is not None and active.status == RunStatus.RUNNING
        note = "its run under way finishes" if still_running else "recorded on the incident"
        audit.record(
            action=AuditAction.ALERT_RESOLVED,
            incident_id=incident.incident_id,
            actor=actor,
            details={"reason": reason, "run_id": active.id if still_running and active else None},
        )
        return Decision(DecisionOutcome.RECORDED, f"{reason}; {note}")
    audit.record(
        action=AuditAction.INCIDENT_CANCELLED,
        incident_id=incident.incident_id,
        actor=actor,
        confidence_score=incident.confidence_score,
        details={"reason": reason, "cancelled": cancelled, "run_id": active.id if active else None},
    )
    message = f"{reason}: {cancelled}"
    outcome = ResolutionStatus.CANCELLED.value
    announce_decision(notifier, incident, outcome, message, runbook_id=active.runbook_id if active else None)
    return Decision(DecisionOutcome.CANCELLED, message)
