"""Incident rows: read, create or refresh from a delivery, and move along the lifecycle."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import peewee

from storage import deferred_writes, statements
from storage.database import BaseModel, db, in_write_transaction
from storage.fields import JSONField, UTCDateTimeField, utcnow
from storage.statuses import IncidentStatus, ResolutionStatus

# Fields a later delivery of the same incident may refresh (status is ours once we hold it).
REFRESHABLE_FIELDS = (
    "title",
    "description",
    "category",
    "priority",
    "confidence_score",
    "created_by",
    "tags",
    "source",
    "fingerprint",
    "service",
    "labels",
    "runbook",
    "callback_url",
)


class Incident(BaseModel):
    id = peewee.AutoField()
    incident_id = peewee.CharField(max_length=128, unique=True)
    title = peewee.CharField(max_length=500)
    description = peewee.TextField(default="")
    category = peewee.CharField(max_length=64, index=True)
    priority = peewee.CharField(max_length=16)
    status = peewee.CharField(max_length=32, default=IncidentStatus.OPEN.value)
    confidence_score = peewee.DoubleField()
    created_by = peewee.CharField(max_length=320)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)
    resolved_at = UTCDateTimeField(null=True)
    auto_resolved = peewee.BooleanField(default=False)
    tags = JSONField(default=list)
    # Added by Autoresolve (migration 2).
    source = peewee.CharField(max_length=200, null=True)
    fingerprint = peewee.CharField(max_length=200, null=True, index=True)
    service = peewee.CharField(max_length=200, null=True)
    labels = JSONField(default=dict)
    runbook = peewee.CharField(max_length=128, null=True)
    callback_url = peewee.CharField(max_length=2048, null=True)
    resolution_status = peewee.CharField(max_length=32, default=ResolutionStatus.RECEIVED.value)
    resolution_reason = peewee.TextField(null=True)
    # Added by migration 4: when we first received it (created_at may be the sender's clock).
    received_at = UTCDateTimeField(default=utcnow)
    # Added by migration 6: the approval asked for (what it would run, hashed) and since when;
    # deliveries that ran nothing because a person must decide first.
    approval_digest = peewee.CharField(max_length=64, null=True)
    approval_requested_at = UTCDateTimeField(null=True)
    held_deliveries = peewee.IntegerField(default=0)

    class Meta:
        indexes = (
            (("fingerprint", "received_at"), False),
            (("resolution_status", "approval_requested_at"), False),
        )


def get(*, incident_id: str) -> Incident | None:
    with db.connection_context():
        return statements.select_first(Incident, incident_id=incident_id)


def get_many(*, incident_ids: Sequence[str]) -> dict[str, Incident]:
    """The stored incidents among `incident_ids`, by id (one read for a batch of deliveries)."""
    with db.connection_context():
        rows = statements.select_all(Incident, incident_id=tuple(sorted(set(incident_ids))))
    return {row.incident_id: row for row in rows}


def new_row(*, fields: dict[str, Any]) -> Incident:
    """A new incident from a delivery, not stored yet: `insert` (or `append`) it once it is decided on."""
    now = utcnow()
    values = {k: v for k, v in fields.items() if v is not None}
    values.setdefault("created_at", now)
    values["updated_at"] = now
    values["received_at"] = now
    values["resolution_status"] = ResolutionStatus.RECEIVED
    return Incident(**values)


def insert(row: Incident) -> None:
    """Store a row from `new_row` (with whatever the decision set on it); it gets its id."""
    with in_write_transaction():
        row.id = statements.insert(Incident, **row.__data__)


def append(rows: Iterable[Incident]) -> None:
    """Store rows from `new_row` that nothing reads back from the database before the transaction
    commits: inside `deferred_writes.appending()`, with its other rows in one multi-row INSERT (on
    PostgreSQL no round trip of their own); their ids stay unset."""
    with in_write_transaction():
        for row in rows:
            deferred_writes.append(Incident, **row.__data__)


def save_delivery(*, fields: dict[str, Any], existing: Incident, refresh: bool) -> Incident:
    """Refresh `existing` (read in the same transaction) from a later delivery when `refresh`.

    Call inside a write transaction when the caller goes on to decide on the stored row.
    """
    now = utcnow()
    if refresh:
        changes = {k: fields[k] for k in REFRESHABLE_FIELDS if k in fields}
        statements.update(Incident, {"id": existing.id}, updated_at=now, **changes)
        for name, value in changes.items():
            setattr(existing, name, value)
        existing.updated_at = now
    return existing


def set_resolution(
    *,
    incident_id: str,
    resolution_status: str,
    reason: str | None = None,
    deferred: bool = False,
    **fields: Any,
) -> None:
    """Record where the incident stands in the resolution lifecycle (and any seed fields with it).
    `deferred`: the update may wait for the end of the transaction's appended rows, for a caller
    after which nothing in the transaction reads or changes the incident (a run's own stages)."""
    update = deferred_writes.update_later if deferred else statements.update
    with in_write_transaction():
        update(
            Incident,
            {"incident_id": incident_id},
            resolution_status=resolution_status,
            resolution_reason=reason,
            updated_at=utcnow(),
            **fields,
        )


def awaiting_approval(*, limit: int = 20, oldest_first: bool = False) -> list[Incident]:
    """Incidents waiting for an admin: the newest first, or those asked the longest ago first."""
    order = Incident.approval_requested_at.asc() if oldest_first else Incident.updated_at.desc()
    with db.connection_context():
        return list(
            Incident.select()
            .where(Incident.resolution_status == ResolutionStatus.AWAITING_APPROVAL)
            .order_by(order)
            .limit(limit)
        )


def ask_approval(*, incident_id: str, digest: str | None) -> None:
    """Record the approval asked for now (its digest), or (None) that none is asked any more."""
    asked = utcnow() if digest is not None else None
    with in_write_transaction():
        statements.update(
            Incident, {"incident_id": incident_id}, approval_digest=digest, approval_requested_at=asked
        )


def end_approval(*, incident_id: str, digest: str | None, resolution_status: str, reason: str) -> bool:
    """End the approval request with `digest` if it still waits (expired, rejected, cancelled);
    false if it was answered or superseded meanwhile."""
    now = utcnow()
    with in_write_transaction():
        changed = (
            Incident.update(
                resolution_status=resolution_status,
                resolution_reason=reason,
                approval_digest=None,
                updated_at=now,
            )
            .where(
                (Incident.incident_id == incident_id)
                & (Incident.resolution_status == ResolutionStatus.AWAITING_APPROVAL)
                & (
                    Incident.approval_digest == digest
                    if digest is not None
                    else Incident.approval_digest.is_null()
                )
            )
            .execute()
        )
    return bool(changed)


def reopened_since(*, category: str, since: datetime) -> int:
    """Incidents of the category their creators reopened (said "not fixed") since `since`."""
    with db.connection_context():
        return int(
            Incident.select()
            .where(
                (Incident.category == category)
                & (Incident.resolution_status == ResolutionStatus.REOPENED)
                & (Incident.updated_at >= since)
            )
            .count()
        )


def count_held_delivery(*, incident_id: str) -> None:
    """A delivery that ran nothing because a person must decide first: counted on the incident."""
    with in_write_transaction():
        Incident.update(held_deliveries=Incident.held_deliveries + 1).where(
            Incident.incident_id == incident_id
        ).execute()


def received_with_fingerprints(*, fingerprints: Sequence[str], since: datetime) -> list[Incident]:
    """The incidents with any of these fingerprints received since `since`, oldest first (asked once
    for a batch of new incidents: its statement is built once per count of fingerprints)."""
    if not fingerprints:
        return []
    return statements.select_all(Incident, fingerprint=tuple(fingerprints), received_at__gte=since)
