"""Approval requests: what an admin is asked to approve, frozen as a digest, and their expiry.

A request shows the runbook's steps as they would run for this incident. Its digest covers those
steps and the incident's fields (but its confidence, which changes nothing that runs): a later
delivery or runbook change that alters either makes the request stale, and a new one is asked.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from engine.audit_actions import AuditAction
from engine.events import Notifier
from engine.reports import announce_decision
from engine.runbooks import Runbook
from engine.scope import preview_scope
from engine.steps import prepare
from storage import audit, config_store, incidents
from storage.database import in_write_transaction
from storage.fields import utcnow
from storage.incidents import Incident
from storage.statuses import ResolutionStatus


def prepared_steps(runbook: Runbook, values: Mapping[str, Any]) -> tuple[str, ...]:
    """Each step (and its rollback) as it would run for an incident with `values`."""
    lines = []
    for position, step in enumerate(runbook.steps, start=1):
        line = f"{position}. {step.name}: {_describe(step, values)}"
        if step.rollback is not None:
            line += f" (rollback: {_describe(step.rollback, values)})"
        lines.append(line)
    return tuple(lines)


def _describe(action: Any, values: Mapping[str, Any]) -> str:
    try:
        return prepare(action, preview_scope(dict(values))).describe()
    except Exception as exc:  # shown to the approver, who then knows it would fail
        return f"(cannot prepare: {exc})"


def approval_digest(runbook_id: str, steps: tuple[str, ...], values: Mapping[str, Any]) -> str:
    frozen = {name: value for name, value in values.items() if name != "confidence_score"}
    text = json.dumps(
        {"runbook": runbook_id, "steps": steps, "incident": frozen}, sort_keys=True, default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def has_expired(row: Incident, now: datetime, timeout_seconds: float) -> bool:
    requested = row.approval_requested_at
    return requested is not None and requested + timedelta(seconds=timeout_seconds) <= now


def expire_approvals(notifier: Notifier, *, now: datetime | None = None, limit: int = 200) -> int:
    """End the approval requests nobody answered within their category's time; returns how many."""
    now = now or utcnow()
    timeouts = {c.category: c.approval_timeout_seconds for c in config_store.list_categories()}
    expired = 0
    for row in incidents.awaiting_approval(limit=limit, oldest_first=True):
        if has_expired(row, now, timeouts.get(row.category, 3600.0)):
            expired += expire_one(row, notifier, timeouts.get(row.category, 3600.0))
    return expired


def expire_one(row: Incident, notifier: Notifier, timeout_seconds: float) -> bool:
    """Expire one request (if it still waits, unchanged); audited and shown on its message."""
    minutes = int(timeout_seconds // 60)
    reason = f"Approval request expired: nobody answered within {minutes} min; a person must start it again"
    with in_write_transaction():
        if not incidents.end_approval(
            incident_id=row.incident_id,
            digest=row.approval_digest,
            resolution_status=ResolutionStatus.APPROVAL_EXPIRED,
            reason=reason,
        ):
            return False  # answered, superseded or expired elsewhere meanwhile
        audit.record(
            action=AuditAction.APPROVAL_EXPIRED,
            incident_id=row.incident_id,
            confidence_score=row.confidence_score,
            details={
                "requested_at": row.approval_requested_at.isoformat() if row.approval_requested_at else None,
                "timeout_seconds": timeout_seconds,
            },
        )
        announce_decision(notifier, row, ResolutionStatus.APPROVAL_EXPIRED.value, reason)
    return True


def ask_approval(row: Incident, existing: Incident | None, digest: str | None, actor: str) -> bool:
    """Record the approval request; true if it is a new one to post (the same one asked again
    by a repeated delivery is not posted again, and keeps its time for the expiry)."""
    if existing is None:
        row.approval_digest, row.approval_requested_at = digest, utcnow()
        return True
    if (
        existing.resolution_status == ResolutionStatus.AWAITING_APPROVAL
        and existing.approval_digest == digest
    ):
        return False
    if existing.resolution_status == ResolutionStatus.AWAITING_APPROVAL:
        audit.record(
            action=AuditAction.APPROVAL_SUPERSEDED,
            incident_id=row.incident_id,
            actor=actor,
            details={"previous": existing.approval_digest, "digest": digest},
        )
    incidents.ask_approval(incident_id=row.incident_id, digest=digest)
    return True
