"""Every status the bot stores (an incident's, a run's, a step's, an outbox message's) and the sets
of them the rules use. A new status is added here, once; mypy finds every `match` that must handle it."""

from __future__ import annotations

from enum import StrEnum


class IncidentStatus(StrEnum):
    """The incident as its source and people see it (the REST API's `status`)."""

    OPEN = "open"
    IN_PROGRESS = "in_progress"
    AUTO_RESOLVED = "auto_resolved"
    MANUALLY_RESOLVED = "manually_resolved"
    CLOSED = "closed"


class ResolutionStatus(StrEnum):
    """Where an incident stands in the bot's resolution lifecycle (docs/operations.md)."""

    RECEIVED = "received"
    SKIPPED = "skipped"
    AWAITING_APPROVAL = "awaiting_approval"
    QUEUED = "queued"
    RUNNING = "running"
    RESOLVED = "resolved"
    FAILED = "failed"
    HALTED = "halted"
    INTERRUPTED = "interrupted"
    DRY_RUN = "dry_run"
    REOPENED = "reopened"
    REJECTED = "rejected"
    APPROVAL_EXPIRED = "approval_expired"
    CANCELLED = "cancelled"  # the source said the problem was gone before a run started


class RunStatus(StrEnum):
    """A run of a runbook: queued, claimed by a worker, then one terminal status."""

    QUEUED = "queued"
    RUNNING = "running"
    RESOLVED = "resolved"
    FAILED = "failed"
    HALTED = "halted"  # the kill switch stopped it
    INTERRUPTED = "interrupted"  # the bot shut down, or its worker died, mid-run
    DRY_RUN = "dry_run"
    CANCELLED = "cancelled"  # the source said the problem was gone before it started


class StepStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    HALTED = "halted"
    WOULD_RUN = "would_run"  # a dry run's step
    SKIPPED = "skipped"  # its `when:` did not hold


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # handed to Slack; if its sender died or the answer was lost, Slack is asked later
    SENT = "sent"
    FAILED = "failed"  # given up (audited)
    SUPERSEDED = "superseded"  # a later update of the same message said it all


# A step in one of these has no success or failure (yet, or at all).
UNFINISHED_STEP_STATUSES = frozenset({StepStatus.RUNNING, StepStatus.WOULD_RUN, StepStatus.SKIPPED})

ACTIVE_RUN_STATUSES = frozenset({RunStatus.QUEUED, RunStatus.RUNNING})
TERMINAL_RUN_STATUSES = frozenset(set(RunStatus) - ACTIVE_RUN_STATUSES)
SUCCESSFUL_RUN_STATUSES = frozenset({RunStatus.RESOLVED, RunStatus.DRY_RUN})
# What a run's result callback reports (a cancelled run never started: its decision is reported).
REPORTED_RUN_STATUSES = frozenset(TERMINAL_RUN_STATUSES - {RunStatus.CANCELLED})
# The creator is told by DM how these ended.
CREATOR_NOTIFIED_RUN_STATUSES = frozenset({RunStatus.RESOLVED, RunStatus.FAILED, RunStatus.HALTED})

# Where automation stopped and a person must decide before it runs again: a repeated delivery is
# recorded and runs nothing (nothing runs twice unless a person says so).
HELD_STATUSES = frozenset(
    {
        ResolutionStatus.FAILED,
        ResolutionStatus.HALTED,
        ResolutionStatus.INTERRUPTED,
        ResolutionStatus.REJECTED,
        ResolutionStatus.APPROVAL_EXPIRED,
        ResolutionStatus.REOPENED,
    }
)
# Decisions after which nothing runs for the incident: its sender hears the result.
DECISION_ENDS = frozenset(
    {
        ResolutionStatus.SKIPPED,
        ResolutionStatus.REJECTED,
        ResolutionStatus.APPROVAL_EXPIRED,
        ResolutionStatus.CANCELLED,
    }
)

OPEN_INCIDENT_STATUSES = frozenset({IncidentStatus.OPEN, IncidentStatus.IN_PROGRESS})
# A delivery with one of these statuses says the problem is gone (a generic webhook's "closed").
GONE_STATUSES = frozenset(
    {IncidentStatus.MANUALLY_RESOLVED, IncidentStatus.CLOSED, IncidentStatus.AUTO_RESOLVED}
)
# An incident in one of these (or with an active run) is not started again.
DONE_INCIDENT_STATUSES = GONE_STATUSES

SETTLED_OUTBOX_STATUSES = frozenset({OutboxStatus.SENT, OutboxStatus.SUPERSEDED, OutboxStatus.FAILED})
