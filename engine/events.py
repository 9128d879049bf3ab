"""What the engine tells people, as events: each kind a dataclass, all of them told through one
method (`Notifier.tell`). The Slack side lays them out and queues them; result callbacks, metrics and
the console take the kinds they care about and let the others pass.

The engine tells an event after it has written the matching audit row, in the same transaction; a
Notifier must not block for long (the Slack one queues to the outbox). A new kind of message is a
new dataclass here, added to `Event`, and a `case` in each notifier that cares about it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from engine.calibration import CategoryCalibration


@dataclass(frozen=True)
class StepReport:
    position: int
    name: str
    kind: str
    phase: str
    status: str
    attempts: int
    duration_ms: int | None
    action: str
    error: str | None = None


@dataclass(frozen=True)
class RunReport:
    run_id: int
    incident_id: str
    title: str
    category: str
    created_by: str
    confidence: float
    runbook_id: str
    status: str  # running, then resolved | failed | halted | interrupted | dry_run
    message: str
    dry_run: bool
    started_at: datetime | None
    finished_at: datetime | None
    steps: tuple[StepReport, ...] = field(default_factory=tuple)
    callback_url: str | None = None
    source: str | None = None  # where the incident came from (pagerduty, grafana...)


@dataclass(frozen=True)
class DecisionReport:
    """Where an incident stands after a decision or a person's action (approve, reject, reopen)."""

    incident_id: str
    title: str
    category: str
    confidence: float
    outcome: str  # queued | skipped | awaiting_approval | reopened | rejected | approval_expired | cancelled
    reason: str
    runbook_id: str | None
    created_by: str = ""
    decided_by: str | None = None  # the person, when a person decided
    callback_url: str | None = None
    steps: tuple[str, ...] = ()  # awaiting approval: what would run, step by step
    approval_digest: str | None = None  # awaiting approval: which request the buttons answer


@dataclass(frozen=True)
class KillSwitchReport:
    active: bool
    actor: str
    reason: str | None
    until: datetime | None
    extended: bool = False  # it was on already: this keeps it on (longer, or with another reason)


@dataclass(frozen=True)
class PauseReport:
    """A category the failure budget paused: no new runs until an admin resumes it."""

    category: str
    reason: str
    failures: int
    budget: int
    window_seconds: float


@dataclass(frozen=True)
class AutonomyProposal:
    """The evidence says a category could move on the autonomy ladder (engine/autonomy.py); an admin
    decides (the audit channel's message has an Apply button)."""

    category: str
    current: str  # the mode it is in
    proposed: str
    evidence: str


@dataclass(frozen=True)
class CalibrationSummary:
    """The week's calibration report, for the audit channel (CALIBRATION_WEEKLY_SUMMARY)."""

    report: tuple[CategoryCalibration, ...]
    since: str  # the window, as written (7d)


@dataclass(frozen=True)
class CheckpointReport:
    """The audit chain's head, anchored outside the database: `seq:chain_hash` is what
    `audit verify --anchor` takes."""

    seq: int
    chain_hash: str
    key_id: str


@dataclass(frozen=True)
class CreatorNotice:
    """DM the incident's creator about how its run ended."""

    run: RunReport


@dataclass(frozen=True)
class StepFinished:
    """A step's result, for the incident's thread in the audit channel."""

    run: RunReport
    step: StepReport


@dataclass(frozen=True)
class ConfigChanged:
    actor: str
    summary: str


# RunReport: the incident's audit-channel message shows its run (running, then how it ended).
# DecisionReport: ... shows a decision or a person's action. KillSwitchReport, ConfigChanged,
# CheckpointReport: notices in the audit channel. PauseReport: the channel and the admins.
Event = (
    RunReport
    | CreatorNotice
    | DecisionReport
    | StepFinished
    | KillSwitchReport
    | ConfigChanged
    | PauseReport
    | CheckpointReport
    | AutonomyProposal
    | CalibrationSummary
)


class Notifier(Protocol):
    def tell(self, event: Event) -> None:
        """Take the event (queue it, count it, print it), or let it pass if it is not for this one."""


class FanOut:
    """Tells every event to several notifiers (Slack, result callbacks, metrics), in order."""

    def __init__(self, *notifiers: Notifier) -> None:
        self.notifiers = notifiers

    def tell(self, event: Event) -> None:
        for notifier in self.notifiers:
            notifier.tell(event)
