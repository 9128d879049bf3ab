"""A runbook's run limit (`limit:` in runbooks.yml): past it an incident waits for approval or is
skipped, as its category says; and how much of each limit recent runs used."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from engine.durations import format_duration
from engine.gates import Decision, DecisionOutcome
from engine.runbooks import Runbook, RunbookCatalog
from storage import runs
from storage.config_store import CategorySetting
from storage.database import key_lock
from storage.fields import utcnow
from storage.incidents import Incident


@dataclass(frozen=True)
class LimitUse:
    runbook_id: str
    started: int  # runs started within the window
    limit: int
    window_seconds: float


def within_run_limit(
    decision: Decision, runbook: Runbook, row: Incident, category: CategorySetting
) -> Decision:
    """The decision, or (past the runbook's run limit) approval or a skip, as the category says."""
    limit = runbook.limit
    assert limit is not None
    key_lock(f"runbook-limit:{runbook.id}")  # replicas count one at a time
    since = utcnow() - timedelta(seconds=limit.per)
    window = format_duration(limit.per)
    reason = None
    started = runs.started_since(runbook_id=runbook.id, since=since)
    if started >= limit.runs:
        reason = f"Rate limit: runbook {runbook.id} started {started} run(s) within {window}"
        reason += f" (limit {limit.runs})"
    elif limit.per_service is not None and row.service:
        for_service = runs.started_since(runbook_id=runbook.id, since=since, service=row.service)
        if for_service >= limit.per_service:
            reason = (
                f"Rate limit: runbook {runbook.id} started {for_service} run(s) for {row.service} "
                f"within {window} (limit {limit.per_service})"
            )
    if reason is None:
        return decision
    if category.over_limit == "skip":
        return Decision(DecisionOutcome.SKIPPED, reason, gate="rate_limit")
    return Decision(
        DecisionOutcome.AWAITING_APPROVAL, f"{reason}; awaiting approval", runbook.id, gate="rate_limit"
    )


def limit_uses(catalog: RunbookCatalog) -> list[LimitUse]:
    """How much of each limited runbook's run limit its recent runs used."""
    uses = []
    for runbook in catalog.runbooks:
        if runbook.limit is not None:
            since = utcnow() - timedelta(seconds=runbook.limit.per)
            started = runs.started_since(runbook_id=runbook.id, since=since)
            uses.append(LimitUse(runbook.id, started, runbook.limit.runs, runbook.limit.per))
    return uses
