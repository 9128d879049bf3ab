"""Reading the audit trail, for every face alike: which filters make sense (checked once, here),
which reads are bounded, and the rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.errors import InvalidInput
from storage import audit
from storage.audit import AuditEntry

BOUNDED_ROWS = 5_000  # index entries a read may walk (offset + limit) and still count as bounded


@dataclass(frozen=True)
class AuditFilter:
    incident_id: str | None = None
    action: str | None = None
    actor: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    limit: int = 100
    offset: int = 0

    def check(self, names: dict[str, str] | None = None) -> None:
        """InvalidInput naming the field (`names` maps ours to the face's: --since) if the times
        have no zone or are the wrong way round."""
        names = names or {}
        for name, value in (("start_date", self.start_date), ("end_date", self.end_date)):
            if value is not None and value.tzinfo is None:
                raise InvalidInput(names.get(name, name), "needs a time zone, e.g. 2026-11-27T10:00:00Z")
        if self.start_date and self.end_date and self.start_date > self.end_date:
            raise InvalidInput(
                names.get("start_date", "start_date"), f"is after {names.get('end_date', 'end_date')}"
            )

    @property
    def bounded(self) -> bool:
        """Whether the read walks a bounded stretch of an index: incident, action and actor are
        indexed in id order, so a shallow page reads at most offset + limit entries; a time range
        may scan."""
        return self.offset + self.limit <= BOUNDED_ROWS and self.start_date is None and self.end_date is None


def search(wanted: AuditFilter) -> list[AuditEntry]:
    """Rows matching every filter given, newest first."""
    wanted.check()
    return audit.query(
        incident_id=wanted.incident_id,
        action=wanted.action,
        actor=wanted.actor,
        start_date=wanted.start_date,
        end_date=wanted.end_date,
        limit=wanted.limit,
        offset=wanted.offset,
    )


def trail(incident_id: str) -> list[AuditEntry]:
    """An incident's whole trail, oldest first (empty for an unknown incident)."""
    return audit.for_incident(incident_id=incident_id)
