"""The audit trail: append a row, query rows. Nothing here updates or deletes one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

import peewee

from storage import deferred_writes, statements
from storage.database import BaseModel, db, in_write_transaction
from storage.fields import JSONField, UTCDateTimeField, utcnow

# Whom an API caller said it acts for (`?actor=`): recorded on the rows written meanwhile, never as
# the acting identity (that is the credential's name).
on_behalf_of: ContextVar[str | None] = ContextVar("on_behalf_of", default=None)


class AuditEntry(BaseModel):
    """Append-only: rows are inserted, never updated or deleted."""

    id = peewee.AutoField()
    audit_id = peewee.CharField(max_length=32, unique=True)
    timestamp = UTCDateTimeField(default=utcnow, index=True)
    action = peewee.CharField(max_length=64)
    incident_id = peewee.CharField(max_length=128, null=True)
    actor = peewee.CharField(max_length=320, default="system")
    confidence_score = peewee.DoubleField(null=True)
    details = JSONField(default=dict)
    success = peewee.BooleanField(default=True)
    error_message = peewee.TextField(null=True)
    run_id = peewee.IntegerField(null=True)
    # The tamper-evident chain (migration 5), filled in by the sealer in commit order.
    seq = peewee.BigIntegerField(null=True, unique=True)
    chain_hash = peewee.CharField(max_length=64, null=True)

    class Meta:
        table_name = "audit_log"
        indexes = (
            (("incident_id", "id"), False),
            (("action", "id"), False),
            (("actor", "id"), False),
        )


@contextmanager
def acting_for(person: str | None) -> Iterator[None]:
    """Within this block (this thread), audit rows note that they were written for `person`."""
    token = on_behalf_of.set(person or None)
    try:
        yield
    finally:
        on_behalf_of.reset(token)


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
    """Append one audit row (in the caller's transaction, if any; see `deferred_writes.append`)."""
    behalf = on_behalf_of.get()
    if behalf is not None:
        details = {**(details or {}), "on_behalf_of": behalf}
    with in_write_transaction():
        deferred_writes.append(
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
