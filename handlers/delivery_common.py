"""What the Slack and webhook deliveries share: the retry schedule, holding the job lease, and
delivering each lane (a channel, a DM, a callback URL) on its own thread, so that one lane's
trouble (a receiver that hangs, fails or says wait) never delays another."""

from __future__ import annotations

import email.utils
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from storage import leases, outbox
from storage.fields import utcnow
from storage.lanes import Lane, Transport
from storage.outbox import OutboxMessage

log = logging.getLogger(__name__)

MAX_DELIVERY_RETRY_DELAY_SECONDS = 300.0
MAX_RETRY_AFTER_SECONDS = 3600.0  # a receiver may ask to wait, not for ever (or past datetime's end)


def retry_delay(attempts: int) -> float:
    """Seconds before the next try after `attempts` failures: 1, 2, 4... up to five minutes."""
    return min(2.0**attempts, MAX_DELIVERY_RETRY_DELAY_SECONDS)


def retry_after_seconds(value: object, *, default: float) -> float:
    """How long a `Retry-After` header says to wait (seconds or an HTTP date), within 0 and
    MAX_RETRY_AFTER_SECONDS; `default` for a value that says nothing readable."""
    text = str(value[0] if isinstance(value, list) and value else value or "").strip()
    seconds: float | None = None
    if text.isascii() and text.isdigit():
        seconds = float(text[:12])
    elif text:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None and when.tzinfo is not None:
            seconds = (when - datetime.now(UTC)).total_seconds()
    if seconds is None:
        return default
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


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
    """A periodic delivery job: one tick at a time in this process, one replica at a time overall.
    Each tick hands every lane with messages to send to one of `lane_workers` threads, which reads
    the lane and delivers it in order; a lane still busy is left out of later ticks until it is done."""

    transport: Transport  # which outbox rows are this dispatcher's

    def __init__(
        self,
        lease_name: str,
        owner: str,
        clock: Callable[[], float] = time.monotonic,
        *,
        lane_workers: int = 16,
        on_give_up: Callable[[OutboxMessage, str], None],
        max_age: timedelta = timedelta(hours=48),
    ) -> None:
        self.on_give_up = on_give_up  # audits a message given up (unknown user, a refusing receiver)
        self.max_age = max_age  # a message still failing this long after it was queued is given up
        self._lease = LeaseHolder(lease_name, owner, clock=clock)
        self._tick_lock = threading.Lock()
        self._lane_workers = ThreadPoolExecutor(
            max_workers=lane_workers, thread_name_prefix=f"{lease_name}-lane"
        )
        self._in_flight: set[Lane] = set()
        self._in_flight_lock = threading.Lock()

    def _deliver_due(self) -> int:
        with self._in_flight_lock:
            busy = set(self._in_flight)
        lanes = self.ready_lanes(
            [lane for lane in outbox.lanes_with_work(transport=self.transport) if lane not in busy]
        )
        with self._in_flight_lock:
            self._in_flight.update(lanes)
        for lane in lanes:
            self._lane_workers.submit(self._drain_in_turn, lane)
        return len(lanes)

    def ready_lanes(self, lanes: list[Lane]) -> list[Lane]:
        """Of the lanes with work (the longest waiting first), those to deliver now: all of them,
        unless the transport paces its calls (Slack's deliverer keeps those it may send to)."""
        return lanes

    def _drain_in_turn(self, lane: Lane) -> None:
        try:
            # Read once the lane is taken: no other worker sends from it until it is let go, so what
            # is read is what is still to send.
            messages = outbox.lane_messages(lane)
            if messages:
                self._drain(lane, messages)  # holds no connection across its calls out
        except Exception:
            log.exception("delivering lane %s failed; it is tried again at the next tick", lane)
        finally:
            with self._in_flight_lock:
                self._in_flight.discard(lane)

    # -- what both deliverers do with a message that did not go through ----------------------------

    def give_up(self, message: OutboxMessage, error: str) -> None:
        """Settle a message that can never be delivered: failed for good, and audited."""
        log.error("%s delivery of outbox %s failed for good: %s", self.transport, message.id, error)
        outbox.mark_failed(message=message, error=error)
        self.on_give_up(message, error)

    def too_old(self, message: OutboxMessage) -> bool:
        """Whether the message has been failing for longer than `max_age` (then it is given up)."""
        return bool(utcnow() - message.created_at > self.max_age)

    def retry_later(self, message: OutboxMessage, error: str, delay: float | None = None) -> None:
        """Try the message again after `delay` (a Retry-After), or the backoff for its attempts; the
        messages behind it in its lane wait for it."""
        seconds = delay or retry_delay(message.attempts)
        log.warning(
            "%s delivery of outbox %s will retry in %.0fs: %s", self.transport, message.id, seconds, error
        )
        outbox.retry_later(message=message, error=error, delay_seconds=seconds)

    @abstractmethod
    def _drain(self, lane: Lane, messages: list[OutboxMessage]) -> int:
        """Deliver the lane's messages in order, stopping at the first that must wait; returns how
        many were settled."""

    def close(self) -> None:
        """Let the lanes being delivered finish (each call times out), and take no more."""
        self._lane_workers.shutdown(wait=True)

    def tick(self) -> int:
        """Deliver what is due; returns how many outbox rows (or lanes) were taken on."""
        if not self._tick_lock.acquire(blocking=False):
            return 0
        try:
            return self._deliver_due() if self._lease.held() else 0
        finally:
            self._tick_lock.release()
