"""What ends a run's step early: the bot shutting down, or the kill switch, looked at while it runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import StrEnum


class StopReason(StrEnum):
    SHUTDOWN = "shutdown"
    KILL_SWITCH = "kill_switch"


class RunStop:
    """A `steps.Stop` for one run: set when the bot shuts down or the kill switch is on.

    The kill switch is read from storage at most once per `poll_seconds`, so a step that waits
    or runs for minutes still stops within that long of the switch being pulled.
    """

    def __init__(
        self,
        cancel: threading.Event,
        kill_switch_on: Callable[[], bool],
        *,
        poll_seconds: float = 0.5,
    ) -> None:
        self._cancel = cancel
        self._kill_switch_on = kill_switch_on
        self._poll_seconds = poll_seconds
        self._checked_at = float("-inf")
        self._killed = False

    def reason(self, *, fresh: bool = False) -> StopReason | None:
        """Why the run is to stop, if it is; `fresh` reads the kill switch now (at step boundaries)."""
        if self._cancel.is_set():
            return StopReason.SHUTDOWN
        if not self._killed and (fresh or time.monotonic() - self._checked_at >= self._poll_seconds):
            self._checked_at = time.monotonic()
            self._killed = self._kill_switch_on()
        return StopReason.KILL_SWITCH if self._killed else None

    def is_set(self) -> bool:
        return self.reason() is not None

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep up to `timeout` seconds, waking early (True) when the run is to stop."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            step = self._poll_seconds if remaining is None else min(self._poll_seconds, remaining)
            self._cancel.wait(step)
        return True
