"""What the engine tells people, as an interface; the Slack side implements it, the console stands in.

The engine calls a Notifier after it has written the matching audit row; a Notifier must not block
for long (the Slack one queues to an outbox) and raises NotificationError when it cannot take a message.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, TextIO

from engine.durations import format_duration
from engine.gates import percent
from storage.statuses import RunStatus, StepStatus


class NotificationError(Exception):
    """The notifier could not accept the message (unknown user, channel gone, outbox full)."""


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
class CheckpointReport:
    """The audit chain's head, anchored outside the database: `seq:chain_hash` is what
    `audit verify --anchor` takes."""

    seq: int
    chain_hash: str
    key_id: str


class Notifier(Protocol):
    def notify_creator(self, report: RunReport) -> None:
        """DM the incident's creator about a terminal outcome."""

    def announce_run(self, report: RunReport) -> None:
        """Update the incident's audit-channel message with its run's status (running, then the end)."""

    def announce_decision(self, report: DecisionReport) -> None:
        """Post or update the incident's audit-channel message after a decision or a person's action."""

    def announce_step(self, report: RunReport, step: StepReport) -> None:
        """Add a step's result to the incident's thread in the audit channel."""

    def announce_kill_switch(self, report: KillSwitchReport) -> None:
        """Post a kill switch change to the audit channel."""

    def announce_config(self, actor: str, summary: str) -> None:
        """Post a configuration change to the audit channel."""

    def announce_pause(self, report: PauseReport) -> None:
        """Tell the audit channel and the admins that a category paused itself, and why."""

    def announce_checkpoint(self, report: CheckpointReport) -> None:
        """Post the audit chain's head to the audit channel (an anchor outside the database)."""


def summarize_run(report: RunReport) -> str:
    """Plain-text rendering of a run, shared by the console notifier and logs."""
    lines = [
        f"Incident {report.incident_id} ({report.title}): {report.status.upper()}",
        f"  confidence {percent(report.confidence)}, runbook {report.runbook_id}: {report.message}",
    ]
    for step in report.steps:
        took = "" if step.duration_ms is None else f" in {format_duration(step.duration_ms / 1000)}"
        prefix = "rollback " if step.phase == "rollback" else ""
        error = f" ({step.error})" if step.error else ""
        what = f": {step.action}" if step.action and step.status == StepStatus.WOULD_RUN else ""
        lines.append(f"  - {prefix}{step.name}: {step.status}{took}{error}{what}")
    return "\n".join(lines)


class FanOut:
    """Hands every message to several notifiers (Slack and result callbacks, say), in order."""

    def __init__(self, *notifiers: Notifier) -> None:
        self.notifiers = notifiers

    def notify_creator(self, report: RunReport) -> None:
        for notifier in self.notifiers:
            notifier.notify_creator(report)

    def announce_run(self, report: RunReport) -> None:
        for notifier in self.notifiers:
            notifier.announce_run(report)

    def announce_decision(self, report: DecisionReport) -> None:
        for notifier in self.notifiers:
            notifier.announce_decision(report)

    def announce_step(self, report: RunReport, step: StepReport) -> None:
        for notifier in self.notifiers:
            notifier.announce_step(report, step)

    def announce_kill_switch(self, report: KillSwitchReport) -> None:
        for notifier in self.notifiers:
            notifier.announce_kill_switch(report)

    def announce_config(self, actor: str, summary: str) -> None:
        for notifier in self.notifiers:
            notifier.announce_config(actor, summary)

    def announce_pause(self, report: PauseReport) -> None:
        for notifier in self.notifiers:
            notifier.announce_pause(report)

    def announce_checkpoint(self, report: CheckpointReport) -> None:
        for notifier in self.notifiers:
            notifier.announce_checkpoint(report)


class ConsoleNotifier:
    """Offline Slack: prints what would have been sent, clearly labelled."""

    def __init__(self, audit_channel: str | None = None, stream: TextIO | None = None) -> None:
        self.audit_channel = audit_channel or "#audit (AUDIT_CHANNEL unset)"
        self._stream = stream
        self._lock = threading.Lock()

    def _print(self, target: str, text: str) -> None:
        stream = self._stream or sys.stdout
        with self._lock:
            stream.write(f"[slack offline] would send to {target}:\n{text}\n")
            stream.flush()

    def notify_creator(self, report: RunReport) -> None:
        self._print(f"DM {report.created_by}", summarize_run(report))

    def announce_run(self, report: RunReport) -> None:
        if report.status != RunStatus.RUNNING:
            self._print(self.audit_channel, summarize_run(report))

    def announce_decision(self, report: DecisionReport) -> None:
        by = f" (by {report.decided_by})" if report.decided_by else ""
        self._print(
            self.audit_channel,
            f"Incident {report.incident_id} ({report.category}, {percent(report.confidence)}): "
            f"{report.outcome}{by}: {report.reason}",
        )

    def announce_step(self, report: RunReport, step: StepReport) -> None:
        """Offline, the run's summary at its end already lists every step."""

    def announce_kill_switch(self, report: KillSwitchReport) -> None:
        state = "ON" if report.active else "OFF"
        until = f" until {report.until.isoformat()}" if report.until else ""
        reason = f": {report.reason}" if report.reason else ""
        self._print(self.audit_channel, f"Kill switch {state}{until} by {report.actor}{reason}")

    def announce_config(self, actor: str, summary: str) -> None:
        self._print(self.audit_channel, f"Config changed by {actor}: {summary}")

    def announce_pause(self, report: PauseReport) -> None:
        self._print(
            f"{self.audit_channel} and the admins", f"Category {report.category} paused: {report.reason}"
        )

    def announce_checkpoint(self, report: CheckpointReport) -> None:
        self._print(self.audit_channel, f"Audit checkpoint: {report.seq}:{report.chain_hash}")
