"""What became of each incident the gates decided on its confidence: the evidence calibration reads
(engine/calibration.py).

One outcome per incident, opened by its first confidence decision (auto, shadow, approval, below) and
closed by what follows:

- a run that resolved it: `resolved`, then `stayed_resolved` (fixed) once OUTCOME_SETTLE_SECONDS pass
  with no reopen by its creator (`reopened`) and no new incident of the same fingerprint (`refired`);
- a run that failed: `failed`, or `rolled_back` when rollbacks ran (not fixed);
- halted by the kill switch or a shutdown, or a run a person rejected: no verdict on the runbook;
- nothing run here (shadow, below the threshold, an approval not given) and the source says it is
  gone: `resolved_upstream`, the problem went away (fixed);
- a person's word (`/autoresolve outcome <id> fixed|not-fixed`, REST, CLI): `corrected`, over any of these.

Every outcome that becomes known is audited (`outcome_recorded`, `outcome_corrected`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from engine.audit_actions import AuditAction
from engine.errors import NotFound
from engine.gates import DecisionOutcome
from storage import audit, outcomes
from storage.database import in_write_transaction
from storage.fields import utcnow
from storage.incidents import Incident
from storage.outcomes import DecisionKind, Outcome, OutcomeKind
from storage.statuses import RunStatus

DEFAULT_SETTLE = timedelta(hours=24)


def decision_kind(outcome: DecisionOutcome, gate: str, *, dry_run: bool) -> DecisionKind | None:
    """What a decision says about the incident's confidence; None: it says nothing (another gate)."""
    if outcome is DecisionOutcome.QUEUED:
        return DecisionKind.SHADOW if dry_run else DecisionKind.AUTO
    if outcome is DecisionOutcome.AWAITING_APPROVAL:
        return DecisionKind.APPROVAL
    if outcome is DecisionOutcome.SKIPPED and gate == "confidence":
        return DecisionKind.BELOW
    return None


def decided(
    row: Incident,
    outcome: DecisionOutcome,
    gate: str,
    *,
    threshold: float,
    dry_run: bool,
    forced: bool,
    new_incident: bool,
    unsettled: Callable[[str], list[Outcome]],
) -> None:
    """Open the incident's outcome at its first confidence decision (in the decision's transaction);
    a new incident of a fingerprint resolved within the settle window re-fired it. A new incident's
    outcome goes with the decision's other rows; an incident stored before may have one already."""
    kind = None if forced else decision_kind(outcome, gate, dry_run=dry_run)  # a force says nothing
    if kind is None:
        return
    fields = {
        "incident_id": row.incident_id,
        "category": row.category,
        "confidence": row.confidence_score,
        "threshold": threshold,
        "decision": kind.value,
        "fingerprint": row.fingerprint,
    }
    if new_incident:
        outcomes.open_later(**fields)
    elif not outcomes.record_decision(**fields):
        return
    if row.fingerprint:
        fired_again(unsettled(row.fingerprint), row.incident_id)


def fired_again(unsettled: list[Outcome], incident_id: str) -> None:
    """A new incident of a fingerprint (decided, or a duplicate): its resolutions not yet settled
    (`unsettled`, within the settle window) did not hold."""
    for earlier in unsettled:
        if earlier.incident_id != incident_id:
            _known(earlier.incident_id, OutcomeKind.REFIRED, False, by=None, refired_as=incident_id)


def run_ended(incident_id: str, status: RunStatus, message: str) -> None:
    """A run's end (in its final transaction)."""
    match status:
        case RunStatus.RESOLVED:
            _known(incident_id, OutcomeKind.RESOLVED, None, by=None)
        case RunStatus.FAILED:
            rolled_back = re.search(r"; rolled back [1-9][0-9]* of ", message) is not None
            _known(
                incident_id, OutcomeKind.ROLLED_BACK if rolled_back else OutcomeKind.FAILED, False, by=None
            )
        case RunStatus.HALTED | RunStatus.INTERRUPTED:
            _known(incident_id, OutcomeKind.HALTED, None, by=None)
        case RunStatus.DRY_RUN | RunStatus.CANCELLED | RunStatus.QUEUED | RunStatus.RUNNING:
            pass  # nothing ran: what happens upstream decides


def rejected(incident_id: str, actor: str) -> None:
    _known(incident_id, OutcomeKind.REJECTED, None, by=actor)


def reopened(incident_id: str, actor: str) -> None:
    _known(incident_id, OutcomeKind.REOPENED, False, by=actor)


def source_resolved(incident_id: str, actor: str) -> None:
    """The source says it is gone: for an incident nothing was run for, the problem went away."""
    row = outcomes.get(incident_id=incident_id)
    if row is not None and row.kind is None:
        _known(incident_id, OutcomeKind.RESOLVED_UPSTREAM, True, by=actor)


def settle(settle_window: timedelta) -> int:
    """Resolutions that held for the settle window stayed resolved: fixed. How many."""
    due = outcomes.due_to_settle(resolved_before=utcnow() - settle_window)
    for row in due:
        with in_write_transaction():
            _known(row.incident_id, OutcomeKind.STAYED_RESOLVED, True, by=None)
    return len(due)


def correct(incident_id: str, *, fixed: bool, actor: str) -> None:
    """A person's word on whether it was fixed, over whatever was recorded (audited)."""
    with in_write_transaction():
        row = outcomes.get(incident_id=incident_id)
        if row is None:
            raise NotFound(f"No automated decision was recorded for {incident_id}")
        outcomes.set_outcome(
            incident_id=incident_id,
            only_open=False,
            kind=OutcomeKind.CORRECTED.value,
            fixed=fixed,
            known_at=utcnow(),
            by=actor,
        )
        audit.record(
            action=AuditAction.OUTCOME_CORRECTED,
            incident_id=incident_id,
            actor=actor,
            confidence_score=row.confidence,
            details={"fixed": fixed, "was": row.kind, "was_fixed": row.fixed, "decision": row.decision},
        )


def _known(
    incident_id: str, kind: OutcomeKind, fixed: bool | None, *, by: str | None, **details: object
) -> None:
    with in_write_transaction():
        if not outcomes.set_outcome(
            incident_id=incident_id, kind=kind.value, fixed=fixed, known_at=utcnow(), by=by
        ):
            return  # no confidence decision was recorded for it, or its outcome is known already
        audit.record(
            action=AuditAction.OUTCOME_RECORDED,
            incident_id=incident_id,
            actor=by or "system",
            details={"outcome": kind.value, "fixed": fixed, **details},
        )
