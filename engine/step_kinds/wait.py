"""The `wait` step: a pause (`wait: 30s`), ended early by the kill switch or a shutdown."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

from engine.step_kinds.base import StepOutcome, Stop, stopped


@dataclass(frozen=True)
class PreparedWait:
    seconds: float
    kind: str = "wait"
    reaches_outside: ClassVar[bool] = False

    def describe(self) -> str:
        return f"wait {self.seconds:g}s"

    def run(self, timeout: float, stop: Stop) -> StepOutcome:
        started = time.monotonic()
        if stop.wait(self.seconds):
            return stopped()
        return StepOutcome(ok=True, output=f"waited {time.monotonic() - started:.1f}s")
