"""The decision gates, in a fixed order (docs/architecture.md): the first that fails gives the reason."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from engine.formatting import percent
from storage.statuses import ACTIVE_RUN_STATUSES, DONE_INCIDENT_STATUSES

# Statuses in which an incident must not be started again: done, or with an active run.
BLOCKING_STATUSES = DONE_INCIDENT_STATUSES | ACTIVE_RUN_STATUSES


class DecisionOutcome(StrEnum):
    QUEUED = "queued"
    SKIPPED = "skipped"
    AWAITING_APPROVAL = "awaiting_approval"
    DUPLICATE = "duplicate"  # another incident with the same fingerprint arrived within the window
    CANCELLED = "cancelled"  # the source said it is gone: a queued run or an approval request ended
    RECORDED = "recorded"  # the source said it is gone, and nothing was waiting to run


@dataclass(frozen=True)
class GateInputs:
    kill_switch_active: bool
    status: str  # the incident's status, or "queued"/"running" while it has an active run
    category: str
    category_enabled: bool
    runbook_id: str | None
    confidence: float
    threshold: float
    approval_floor: float | None
    force: bool = False
    held: str | None = None  # the resolution status that holds it for a person (HELD_STATUSES)
    by_person: bool = False  # a person asked for this decision (a rerun, an approval, the REST API)
    category_paused: str | None = None  # why the category's failure budget paused it
    input_problem: str | None = None  # how the incident's values break the runbook's inputs rules
    approval_all: bool = False  # the category's autonomy is `approval`: every run waits for an admin
    approved: bool = False  # this decision carries an admin's approval


@dataclass(frozen=True)
class Decision:
    outcome: DecisionOutcome
    reason: str
    runbook_id: str | None = None
    gate: str = ""


def below_threshold_reason(confidence: float, threshold: float) -> str:
    return f"Confidence score {percent(confidence)} below threshold {percent(threshold)}"


def decide(inputs: GateInputs) -> Decision:
    """Apply the gates in order. `force` (an admin's) passes the confidence gate only."""
    if inputs.kill_switch_active:
        return Decision(
            DecisionOutcome.SKIPPED,
            "Auto-resolution is globally disabled (kill switch active)",
            gate="kill_switch",
        )
    if inputs.status in BLOCKING_STATUSES:
        return Decision(
            DecisionOutcome.SKIPPED, f"Incident already in status: {inputs.status}", gate="status"
        )
    if inputs.held is not None and not inputs.by_person:
        return Decision(
            DecisionOutcome.SKIPPED,
            f"Not run again: its automation ended {inputs.held}; a person must start it "
            "(/autoresolve <id> by an admin)",
            gate="held",
        )
    if not inputs.category_enabled:
        return Decision(
            DecisionOutcome.SKIPPED,
            f"Auto-resolution disabled for category: {inputs.category}",
            gate="category",
        )
    if inputs.category_paused is not None:
        return Decision(
            DecisionOutcome.SKIPPED,
            f"Auto-resolution paused for category: {inputs.category} ({inputs.category_paused}); "
            "an admin resumes it",
            gate="paused",
        )
    if inputs.runbook_id is None:
        return Decision(DecisionOutcome.SKIPPED, "No runbook matches this incident", gate="runbook")
    if inputs.input_problem is not None:  # no approval or force makes a value the runbook refuses fit
        return Decision(DecisionOutcome.SKIPPED, inputs.input_problem, gate="inputs")
    # Compare in millionths so 0.9 and 0.90 are equal whatever the float noise (0.8999 stays below).
    meets_threshold = round(inputs.confidence * 1e6) >= round(inputs.threshold * 1e6)
    if not meets_threshold and not inputs.force:
        reason = below_threshold_reason(inputs.confidence, inputs.threshold)
        floor = inputs.approval_floor
        if floor is not None and round(inputs.confidence * 1e6) >= round(floor * 1e6):
            return Decision(
                DecisionOutcome.AWAITING_APPROVAL,
                f"{reason}; awaiting approval (approval floor {percent(floor)})",
                inputs.runbook_id,
                gate="confidence",
            )
        return Decision(DecisionOutcome.SKIPPED, reason, gate="confidence")
    if inputs.approval_all and not (inputs.approved or inputs.force):
        return Decision(
            DecisionOutcome.AWAITING_APPROVAL,
            "The category's autonomy is approval: an admin approves each run",
            inputs.runbook_id,
            gate="autonomy",
        )
    return Decision(DecisionOutcome.QUEUED, "Queued for auto-resolution", inputs.runbook_id)
