"""What a decision leaves on record, in the decision's transaction: its audit row (the gate, the
reason, the threshold it was held to), and the incident's outcome opened when it was decided on its
confidence (engine/outcomes.py)."""

from __future__ import annotations

from collections.abc import Callable

from engine import outcomes
from engine.audit_actions import AuditAction
from engine.gates import Decision, DecisionOutcome
from storage import audit
from storage.config_store import CategorySetting
from storage.incidents import Incident
from storage.outcomes import Outcome

DECISION_AUDIT_ACTION = {
    DecisionOutcome.QUEUED: AuditAction.AUTO_RESOLUTION_QUEUED,
    DecisionOutcome.SKIPPED: AuditAction.AUTO_RESOLUTION_SKIPPED,
    DecisionOutcome.AWAITING_APPROVAL: AuditAction.APPROVAL_REQUESTED,
}


def record_decision(
    row: Incident,
    decision: Decision,
    category: CategorySetting,
    *,
    actor: str,
    run_id: int | None,
    forced: bool,
    held: str | None,
    approved: str | None,
    new_incident: bool,
    unsettled: Callable[[str], list[Outcome]],
) -> None:
    """`new_incident`: first stored by this decision; `unsettled(fingerprint)`: the fingerprint's
    resolutions not yet settled (a new incident of it re-fires them)."""
    audit.record(
        action=DECISION_AUDIT_ACTION[decision.outcome],
        incident_id=row.incident_id,
        actor=actor,
        confidence_score=row.confidence_score,
        run_id=run_id,
        success=decision.outcome is not DecisionOutcome.SKIPPED,
        details={
            "reason": decision.reason,
            "gate": decision.gate or None,
            "runbook": decision.runbook_id,
            "threshold": category.confidence_threshold,
            "forced": forced,
            "dry_run": category.dry_run if run_id else None,
            "held": held if decision.gate == "held" else None,
            "approved": approved,
        },
    )
    outcomes.decided(
        row,
        decision.outcome,
        decision.gate,
        threshold=category.confidence_threshold,
        dry_run=category.dry_run,
        forced=forced,
        new_incident=new_incident,
        unsettled=unsettled,
    )
