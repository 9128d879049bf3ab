"""What the Slack and webhook deliveries share: the retry schedule and holding the job lease."""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable

from storage import leases

MAX_BACKOFF_SECONDS = 300.0


def retry_delay(attempts: int) -> float:
    """Seconds before the next try after `attempts` failures: 1, 2, 4... up to five minutes."""
    return min(2.0**attempts, MAX_BACKOFF_SECONDS)


class LeaseHolder:
    """Holds a job lease for one replica, renewing it in the database every third of its life."""

    def __init__(
        self, name: str, owner: str, seconds: float = 10.0, clock: Callable[[], float] = time.monotonic
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


class OutboxDispatcher(ABC):
    """A periodic delivery job: one tick at a time in this process, one replica at a time overall."""

    def __init__(self, lease_name: str, owner: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._lease = LeaseHolder(lease_name, owner, clock=clock)
        self._tick_lock = threading.Lock()

    def tick(self) -> int:
        """Deliver what is due; returns how many outbox rows (or lanes) were taken on."""
        if not self._tick_lock.acquire(blocking=False):
            return 0
        try:
            return self._deliver_due() if self._lease.held() else 0
        finally:
            self._tick_lock.release()

    @abstractmethod
    def _deliver_due(self) -> int: ...
