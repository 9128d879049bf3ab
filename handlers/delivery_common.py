"""What the Slack and webhook deliveries share: the retry schedule and holding the job lease."""

from __future__ import annotations

import time
from collections.abc import Callable

from storage import leases

MAX_BACKOFF_SECONDS = 300.0


def retry_delay(attempts: int) -> float:
    """Seconds before the next try after `attempts` failures: 1, 2, 4... up to five minutes."""
    return min(2.0**attempts, MAX_BACKOFF_SECONDS)


class LeaseHolder:
    """Holds a job lease for one replica, renewing it in the database every third of its life."""

    def __init__(
        self, name: str, owner: str, seconds: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name = name
        self.owner = owner
        self.seconds = seconds
        self.clock = clock
        self._checked_until = 0.0

    def held(self) -> bool:
        now = self.clock()
        if now < self._checked_until:
            return True
        if leases.acquire(name=self.name, owner=self.owner, ttl_seconds=self.seconds):
            self._checked_until = now + self.seconds / 3
            return True
        return False
