"""What goes in at the intake door and what comes back: a request to decide on one incident, and the
decision taken (with the run queued, if any)."""

from __future__ import annotations

from dataclasses import dataclass

from engine.gates import Decision
from engine.incident import IncidentIn


@dataclass(frozen=True)
class SubmitRequest:
    """One incident to decide on, and on whose behalf."""

    incident: IncidentIn
    actor: str = "system"
    force: bool = False
    decided_by: str | None = None
    by_person: bool = False  # a person asked (a rerun, the REST API): passes the "held" gate
    approved_digest: str | None = None  # an admin approved the request with this digest
    on_behalf_of: str | None = None  # a person the caller acts for (recorded on its audit rows)


@dataclass(frozen=True)
class Submission:
    incident_id: str
    decision: Decision
    run_id: int | None
    created: bool
