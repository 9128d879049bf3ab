"""What people do to incidents: run one again (optionally forced), approve, reject, reopen."""

from __future__ import annotations

from engine import failure_budget, outcomes
from engine.approvals import expire_one, has_expired
from engine.audit_actions import AuditAction
from engine.cancellation import StaleApproval
from engine.errors import Conflict, NotAuthorized, NotFound, audited
from engine.events import Notifier
from engine.incident import IncidentIn
from engine.permissions import Authorizer, Permission, record_refusal
from engine.reports import announce_decision
from engine.service import ResolutionService
from engine.submissions import Submission
from storage import audit, incidents
from storage.database import in_write_transaction
from storage.fields import utcnow
from storage.incidents import Incident
from storage.statuses import HELD_STATUSES, IncidentStatus, ResolutionStatus


def incident_from_row(row: Incident) -> IncidentIn:
    """The stored incident as a delivery, to put it through the gates again."""
    return IncidentIn.model_validate(
        {
            "incident_id": row.incident_id,
            "title": row.title,
            "description": row.description,
            "category": row.category,
            "priority": row.priority,
            "status": row.status,
            "confidence_score": row.confidence_score,
            "created_by": row.created_by,
            "tags": row.tags or [],
            "source": row.source,
            "fingerprint": row.fingerprint,
            "service": row.service,
            "labels": row.labels or {},
            "runbook": row.runbook,
            "callback_url": row.callback_url,
        }
    )


class Interventions:
    def __init__(self, *, resolution: ResolutionService, authorizer: Authorizer, notifier: Notifier) -> None:
        self.resolution = resolution
        self.authorizer = authorizer
        self.notifier = notifier

    def _incident(self, incident_id: str) -> Incident:
        row = incidents.get(incident_id=incident_id)
        if row is None:
            raise NotFound(f"Unknown incident: {incident_id}")
        return row

    def rerun(self, incident_id: str, *, actor: str, force: bool = False) -> Submission:
        """Put a stored incident through the gates again; `force` (admins) passes the confidence gate.

        An incident whose automation ended other than resolved (failed, halted, rejected, ...) runs
        again only when an admin says so: this is how a person starts it.
        """
        if force:
            self.authorizer.require(actor, Permission.FORCE, incident_id=incident_id, command="force")
        row = self._incident(incident_id)
        if row.resolution_status in HELD_STATUSES:
            self.authorizer.require(
                actor, Permission.RERUN, incident_id=incident_id, command="rerun", held=row.resolution_status
            )
        return self.resolution.submit(incident_from_row(row), actor=actor, force=force, by_person=True)

    def _awaiting(self, incident_id: str, actor: str, verb: str) -> Incident:
        self.authorizer.require(actor, Permission.APPROVE, incident_id=incident_id, command=verb)
        row = self._incident(incident_id)
        if row.resolution_status != ResolutionStatus.AWAITING_APPROVAL:
            raise Conflict(f"Incident {incident_id} is not awaiting approval (it is {row.resolution_status})")
        return row

    def approve(self, incident_id: str, *, actor: str, digest: str | None = None) -> Submission:
        """Run an incident that waits between its category's approval floor and threshold, exactly
        as the request showed it. `digest` names the request answered (a button carries it) and
        must be the standing request's; a request that is stale or expired runs nothing and says why."""
        row = self._awaiting(incident_id, actor, "approve")
        try:
            if row.approval_digest is not None and digest != row.approval_digest:
                # Also a button without a digest (posted before requests had one): it answers an
                # earlier request than the one standing now.
                raise StaleApproval("the incident or its runbook changed after it was asked")
            category = self.resolution.check_category(row.category)
            if has_expired(row, utcnow(), category.approval_timeout_seconds):
                expire_one(row, self.notifier, category.approval_timeout_seconds)
                raise Conflict(f"The approval request for {incident_id} expired; nothing was run.")
            submission = self.resolution.submit(
                incident_from_row(row),
                actor=actor,
                force=True,
                decided_by=actor,
                by_person=True,
                approved_digest=row.approval_digest,  # None: a request from before digests
            )
        except Conflict as exc:
            record_refusal(actor=actor, error=str(exc), incident_id=incident_id, command="approve")
            audited(exc)
            raise
        audit.record(
            action=AuditAction.APPROVAL_GRANTED,
            incident_id=incident_id,
            actor=actor,
            confidence_score=row.confidence_score,
            run_id=submission.run_id,
            details={"digest": row.approval_digest},
        )
        return submission

    def reject(self, incident_id: str, *, actor: str) -> None:
        row = self._awaiting(incident_id, actor, "reject")
        why = "it runs only when an admin starts it again"
        reason = f"Rejected by {actor}: {why}"  # stored: the incident's reason names who
        with in_write_transaction():
            incidents.end_approval(
                incident_id=incident_id,
                digest=row.approval_digest,
                resolution_status=ResolutionStatus.REJECTED,
                reason=reason,
            )
            audit.record(
                action=AuditAction.APPROVAL_REJECTED,
                incident_id=incident_id,
                actor=actor,
                confidence_score=row.confidence_score,
            )
            outcomes.rejected(incident_id, actor)
            self._announce(row, ResolutionStatus.REJECTED.value, why.capitalize(), actor)

    def reopen(self, incident_id: str, *, actor: str, identities: set[str]) -> None:
        """The creator says the fix did not work: the incident is open again, for people to handle.

        `identities` are the ways the actor is known (Slack user ID, e-mail), since an incident's
        creator may be recorded by either.
        """
        row = self._incident(incident_id)
        if row.created_by not in identities:
            record_refusal(
                actor=actor,
                error="only the creator may reopen",
                incident_id=incident_id,
                command="reopen",
                created_by=row.created_by,
            )
            raise audited(NotAuthorized("Only the person who raised this incident can reopen it."))
        if row.status != IncidentStatus.AUTO_RESOLVED:
            raise Conflict(f"Incident {incident_id} is not auto-resolved (it is {row.status})")
        why = "not fixed, says the person who raised it"
        reason = f"Reopened by {actor}: {why}"
        with in_write_transaction():
            incidents.set_resolution(
                incident_id=incident_id,
                resolution_status=ResolutionStatus.REOPENED,
                reason=reason,
                status=IncidentStatus.OPEN.value,
                auto_resolved=False,
                resolved_at=None,
            )
            audit.record(
                action=AuditAction.INCIDENT_REOPENED,
                incident_id=incident_id,
                actor=actor,
                confidence_score=row.confidence_score,
                details={"previous_status": row.status},
            )
            outcomes.reopened(incident_id, actor)
            self._announce(row, "reopened", why.capitalize(), actor)
        failure_budget.charge(row.category, self.notifier)

    def _announce(self, row: Incident, outcome: str, reason: str, actor: str) -> None:
        """Announced with `actor` apart (Slack mentions them): `reason` says why, not who."""
        announce_decision(self.notifier, row, outcome, reason, decided_by=actor)
