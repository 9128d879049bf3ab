"""The audit trail: append a row, query rows. Nothing here updates or deletes one."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from storage import statements
from storage.database import db, write_transaction
from storage.fields import utcnow
from storage.models import AuditEntry


def record(
    *,
    action: str,
    incident_id: str | None = None,
    actor: str = "system",
    details: dict[str, Any] | None = None,
    confidence_score: float | None = None,
    success: bool = True,
    error_message: str | None = None,
    run_id: int | None = None,
) -> None:
    """Append one audit row (in the caller's transaction, if any; see `statements.append`)."""
    with write_transaction():
        statements.append(
            AuditEntry,
            audit_id=uuid.uuid4().hex,
            timestamp=utcnow(),
            action=action,
            incident_id=incident_id,
            actor=actor,
            details=details or {},
            confidence_score=confidence_score,
            success=success,
            error_message=error_message,
            run_id=run_id,
        )


def query(
    *,
    incident_id: str | None = None,
    action: str | None = None,
    actor: str | None = None,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditEntry]:
    """Rows matching every given filter, newest first (by insertion order)."""
    filters: dict[str, Any] = {
        "incident_id": incident_id,
        "action": action,
        "actor": actor,
        "timestamp__gte": start_date,
        "timestamp__lte": end_date,
    }
    with db.connection_context():
        return statements.select_all(
            AuditEntry,
            limit=limit,
            offset=offset,
            descending=True,
            **{name: value for name, value in filters.items() if value is not None},
        )


def for_incident(*, incident_id: str, limit: int = 1000) -> list[AuditEntry]:
    """An incident's whole trail, oldest first, as it happened."""
    with db.connection_context():
        return statements.select_all(AuditEntry, limit=limit, incident_id=incident_id)
