"""The `log` step: a line filled from the incident, recorded as the step's output."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from engine.step_kinds.base import StepOutcome, Stop


@dataclass(frozen=True)
class PreparedLog:
    message: str
    kind: str = "log"
    reaches_outside: ClassVar[bool] = False

    def describe(self) -> str:
        return f"log: {self.message}"

    def run(self, timeout: float, stop: Stop) -> StepOutcome:
        return StepOutcome(ok=True, output=self.message)
