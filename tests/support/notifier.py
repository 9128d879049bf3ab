"""A Notifier that records what the engine asked to send (the engine's interface, not a mock of it)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from engine.notifier import (
    CheckpointReport,
    DecisionReport,
    KillSwitchReport,
    NotificationError,
    PauseReport,
    RunReport,
    StepReport,
)


@dataclass
class RecordingNotifier:
    dms: list[RunReport] = field(default_factory=list)
    runs: list[RunReport] = field(default_factory=list)
    decisions: list[DecisionReport] = field(default_factory=list)
    steps: list[tuple[str, StepReport]] = field(default_factory=list)
    kill_switch: list[KillSwitchReport] = field(default_factory=list)
    config: list[tuple[str, str]] = field(default_factory=list)
    pauses: list[PauseReport] = field(default_factory=list)
    checkpoints: list[CheckpointReport] = field(default_factory=list)
    refuse_dms_to: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def notify_creator(self, report: RunReport) -> None:
        if report.created_by in self.refuse_dms_to:
            raise NotificationError(f"users_not_found: {report.created_by}")
        with self._lock:
            self.dms.append(report)

    def announce_run(self, report: RunReport) -> None:
        with self._lock:
            self.runs.append(report)

    def announce_decision(self, report: DecisionReport) -> None:
        with self._lock:
            self.decisions.append(report)

    def announce_step(self, report: RunReport, step: StepReport) -> None:
        with self._lock:
            self.steps.append((report.incident_id, step))

    def announce_kill_switch(self, report: KillSwitchReport) -> None:
        with self._lock:
            self.kill_switch.append(report)

    def announce_config(self, actor: str, summary: str) -> None:
        with self._lock:
            self.config.append((actor, summary))

    def announce_pause(self, report: PauseReport) -> None:
        with self._lock:
            self.pauses.append(report)

    def announce_checkpoint(self, report: CheckpointReport) -> None:
        with self._lock:
            self.checkpoints.append(report)
