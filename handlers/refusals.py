"""Refused requests from outside, audited without letting a flood write the audit trail full.

The first refusal of a source (client address) for a reason within a minute is written at once;
the rest of that minute are counted, and one row with their count follows when the minute is over
(`flush`, a periodic job, and at shutdown). A flood of 300 forged requests writes two rows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from engine.permissions import record_refusal

WINDOW_SECONDS = 60.0


@dataclass
class _Window:
    started: float  # time.monotonic() of the first refusal
    details: dict[str, object]
    actor: str
    repeats: int = 0  # refusals after the first, not written yet


class RefusalLog:
    def __init__(
        self, *, window_seconds: float = WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window_seconds = window_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str, str], _Window] = {}

    def record(self, reason: str, details: dict[str, object], actor: str = "unauthenticated") -> None:
        """Audit a refusal, or count it when its source was refused for this reason this minute."""
        key = (actor, reason, str(details.get("client")))
        now = self.clock()
        with self._lock:
            window = self._windows.get(key)
            if window is not None and now - window.started < self.window_seconds:
                window.repeats += 1
                return
            ended = self._windows.pop(key, None)
            self._windows[key] = _Window(now, details, actor)
        if ended is not None and ended.repeats:
            write_refusal(reason, {**ended.details, "repeats": ended.repeats}, ended.actor)
        write_refusal(reason, details, actor)

    def flush(self, *, everything: bool = False) -> int:
        """Write the counts of the windows that are over (all of them, with `everything`)."""
        now = self.clock()
        with self._lock:
            over = [
                (key, window)
                for key, window in self._windows.items()
                if everything or now - window.started >= self.window_seconds
            ]
            for key, _ in over:
                del self._windows[key]
        written = 0
        for (_, reason, _), window in over:
            if window.repeats:
                write_refusal(reason, {**window.details, "repeats": window.repeats}, window.actor)
                written += 1
        return written


def write_refusal(reason: str, details: dict[str, object], actor: str) -> None:
    """The `request_refused` audit row; `repeats` in its details counts the like refusals after the
    window's first that it stands for."""
    record_refusal(actor=actor, error=reason, details=details)
