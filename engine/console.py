"""Offline Slack: what would have been sent, printed to the console and clearly labelled."""

from __future__ import annotations

import sys
import threading
from typing import TextIO, assert_never

from engine.durations import format_duration
from engine.events import (
    AutonomyProposal,
    CalibrationSummary,
    CheckpointReport,
    ConfigChanged,
    CreatorNotice,
    DecisionReport,
    Event,
    KillSwitchReport,
    PauseReport,
    RunReport,
    StepFinished,
)
from engine.formatting import percent
from storage.statuses import RunStatus, StepStatus


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


class ConsoleNotifier:
    def __init__(self, audit_channel: str | None = None, stream: TextIO | None = None) -> None:
        self.audit_channel = audit_channel or "#audit (AUDIT_CHANNEL unset)"
        self._stream = stream
        self._lock = threading.Lock()

    def _print(self, target: str, text: str) -> None:
        stream = self._stream or sys.stdout
        with self._lock:
            stream.write(f"[slack offline] would send to {target}:\n{text}\n")
            stream.flush()

    def tell(self, event: Event) -> None:
        match event:
            case CreatorNotice(run=run):
                self._print(f"DM {run.created_by}", summarize_run(run))
            case RunReport():
                if event.status != RunStatus.RUNNING:
                    self._print(self.audit_channel, summarize_run(event))
            case DecisionReport():
                by = f" (by {event.decided_by})" if event.decided_by else ""
                self._print(
                    self.audit_channel,
                    f"Incident {event.incident_id} ({event.category}, {percent(event.confidence)}): "
                    f"{event.outcome}{by}: {event.reason}",
                )
            case StepFinished():
                pass  # offline, the run's summary at its end already lists every step
            case KillSwitchReport():
                state = "ON" if event.active else "OFF"
                until = f" until {event.until.isoformat()}" if event.until else ""
                reason = f": {event.reason}" if event.reason else ""
                self._print(self.audit_channel, f"Kill switch {state}{until} by {event.actor}{reason}")
            case ConfigChanged():
                self._print(self.audit_channel, f"Config changed by {event.actor}: {event.summary}")
            case PauseReport():
                self._print(
                    f"{self.audit_channel} and the admins",
                    f"Category {event.category} paused: {event.reason}",
                )
            case CheckpointReport():
                self._print(self.audit_channel, f"Audit checkpoint: {event.seq}:{event.chain_hash}")
            case CalibrationSummary():
                for category in event.report:
                    self._print(self.audit_channel, f"Calibration of {category.category}: {category.verdict}")
            case AutonomyProposal():
                self._print(
                    self.audit_channel,
                    f"Category {event.category} could go from {event.current} to {event.proposed}: "
                    f"{event.evidence} (python bot.py config set {event.category} mode {event.proposed})",
                )
            case _:
                assert_never(event)
