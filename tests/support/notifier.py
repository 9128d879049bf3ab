"""A Notifier that records what the engine told it (the engine's interface, not a mock of it)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from engine.events import (
    CheckpointReport,
    ConfigChanged,
    CreatorNotice,
    DecisionReport,
    Event,
    KillSwitchReport,
    PauseReport,
    RunReport,
    StepFinished,
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
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def tell(self, event: Event) -> None:
        with self._lock:
            match event:
                case CreatorNotice(run=run):
                    self.dms.append(run)
                case RunReport():
                    self.runs.append(event)
                case DecisionReport():
                    self.decisions.append(event)
                case StepFinished(run=run, step=step):
                    self.steps.append((run.incident_id, step))
                case KillSwitchReport():
                    self.kill_switch.append(event)
                case ConfigChanged(actor=actor, summary=summary):
                    self.config.append((actor, summary))
                case PauseReport():
                    self.pauses.append(event)
                case CheckpointReport():
                    self.checkpoints.append(event)
