"""Outcome rows: for each incident the gates decided on its confidence, what was decided and how it
ended (engine/outcomes.py says when each is known)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

import peewee

from storage import deferred_writes, statements
from storage.database import BaseModel, db, in_write_transaction
from storage.fields import UTCDateTimeField, utcnow


class DecisionKind(StrEnum):
    """What the gates did with the incident's confidence."""

    AUTO = "auto"  # met the threshold: the runbook ran
    SHADOW = "shadow"  # met it in a dry-run category: recorded what would have run
    APPROVAL = "approval"  # below the threshold, above the approval floor: a person was asked
    BELOW = "below"  # below the threshold (and any floor): skipped


class OutcomeKind(StrEnum):
    RESOLVED = "resolved"  # the runbook resolved it; not yet known to stay resolved
    STAYED_RESOLVED = "stayed_resolved"
    REOPENED = "reopened"  # its creator said it is not fixed
    REFIRED = "refired"  # the same fingerprint fired again before it settled
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    HALTED = "halted"  # the kill switch or a shutdown stopped it: no verdict on the runbook
    REJECTED = "rejected"  # a person declined the run: no verdict on the runbook
    RESOLVED_UPSTREAM = "resolved_upstream"  # the source said it went away with nothing run here
    CORRECTED = "corrected"  # a person said fixed or not fixed


class Outcome(BaseModel):
    id = peewee.AutoField()
    incident_id = peewee.CharField(max_length=128, unique=True)
    category = peewee.CharField(max_length=64)
    confidence = peewee.DoubleField()
    threshold = peewee.DoubleField()  # the category's when it was decided
    decision = peewee.CharField(max_length=16)  # DecisionKind
    decided_at = UTCDateTimeField(default=utcnow)
    fingerprint = peewee.CharField(max_length=200, null=True, index=True)
    kind = peewee.CharField(max_length=24, null=True)  # OutcomeKind; None: nothing known yet
    fixed = peewee.BooleanField(null=True)  # None: not known, or no verdict (halted, rejected)
    known_at = UTCDateTimeField(null=True, index=True)  # for a resolution: since when it holds
    by = peewee.CharField(max_length=320, null=True)  # who said (a person, a source), if not the bot

    class Meta:
        table_name = "outcome"
        indexes = ((("category", "decided_at"), False),)


def record_decision(**fields: Any) -> bool:
    """The incident's first confidence decision (later ones change nothing here). True if new."""
    with in_write_transaction():
        inserted = Outcome.insert(**fields).on_conflict_ignore().execute()
        return bool(inserted)


def get(*, incident_id: str) -> Outcome | None:
    with db.connection_context():
        return Outcome.get_or_none(Outcome.incident_id == incident_id)


def set_outcome(*, incident_id: str, only_open: bool = True, **fields: Any) -> bool:
    """Record how it ended; with `only_open`, only over nothing known yet or a resolution not yet
    known to have stayed."""
    where: dict[str, Any] = {"incident_id": incident_id}
    if only_open:
        where["kind"] = (None, OutcomeKind.RESOLVED.value)
    with in_write_transaction():
        return bool(statements.update(Outcome, where, **fields))


def open_later(**fields: Any) -> None:
    """A new incident's first confidence decision: nothing can be recorded for it yet, so the row
    goes with the decision's other rows at the end of its block (a row there already is kept)."""
    deferred_writes.append(Outcome, unless_there=True, decided_at=utcnow(), **fields)


def unsettled_with_fingerprints(*, fingerprints: Sequence[str], resolved_since: datetime) -> list[Outcome]:
    """Resolutions of these fingerprints since `resolved_since` not yet known to have stayed (asked
    once for a batch of decisions: its statement is built once per count of fingerprints)."""
    if not fingerprints:
        return []
    with db.connection_context():
        return statements.select_all(
            Outcome,
            fingerprint=tuple(fingerprints),
            kind=OutcomeKind.RESOLVED.value,
            known_at__gte=resolved_since,
        )


def due_to_settle(*, resolved_before: datetime, limit: int = 1000) -> list[Outcome]:
    """Resolutions that held since before `resolved_before`: they stayed resolved."""
    with db.connection_context():
        return list(
            Outcome.select()
            .where((Outcome.kind == OutcomeKind.RESOLVED.value) & (Outcome.known_at <= resolved_before))
            .limit(limit)
        )


def in_window(*, since: datetime, category: str | None = None) -> list[Outcome]:
    """Every outcome decided since `since` (of one category, or all), oldest first."""
    query = Outcome.select().where(Outcome.decided_at >= since)
    if category is not None:
        query = query.where(Outcome.category == category)
    with db.connection_context():
        return list(query.order_by(Outcome.decided_at))


def tally(*, since: datetime) -> list[tuple[str, str, str | None, bool | None, int]]:
    """(category, decision, kind, fixed, how many) for the outcomes decided since `since`."""
    query = (
        Outcome.select(
            Outcome.category, Outcome.decision, Outcome.kind, Outcome.fixed, peewee.fn.COUNT(Outcome.id)
        )
        .where(Outcome.decided_at >= since)
        .group_by(Outcome.category, Outcome.decision, Outcome.kind, Outcome.fixed)
    )
    with db.connection_context():
        return [(str(r[0]), str(r[1]), r[2], r[3], int(r[4])) for r in query.tuples().iterator()]
