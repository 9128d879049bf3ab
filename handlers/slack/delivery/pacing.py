"""Pacing calls to Slack: a token bucket per channel and per method, learning from 429s."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from storage.lanes import Lane, LaneKind

POST = "chat.postMessage"
WORKSPACE_429_WINDOW = 5.0  # seconds: 429s on two channels within this are the workspace's limit


@dataclass
class TokenBucket:
    """`rate` calls a second on average, up to `capacity` at once. Slack's limits are approximate:
    each 429 halves the rate (down to a quarter of it), and each call that goes through wins back
    a twentieth of the original, so a channel settles just under whatever Slack really allows. A
    429 also ends the bucket's bursts: a channel busy enough to be refused once is sent to evenly
    (a burst after each pause would be refused again, and halve the rate again)."""

    rate: float
    capacity: float
    tokens: float = field(default=-1.0)
    stamp: float = 0.0
    current: float = field(default=-1.0)  # the rate in force, after 429s
    burst: float = field(default=-1.0)  # the calls at once in force: `capacity` until a 429, then one

    def __post_init__(self) -> None:
        self.current = self.rate
        self.burst = self.capacity

    def ready(self, now: float) -> bool:
        if self.tokens < 0:
            self.tokens, self.stamp = self.capacity, now
        if now < self.stamp:
            return False
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.current)
        self.stamp = now
        return self.tokens >= 1

    def take(self) -> None:
        self.tokens -= 1
        self.current = min(self.rate, self.current + self.rate / 20)

    def empty_until(self, moment: float) -> None:
        """After a 429: nothing before `moment`, then half the rate, and no bursts from now on."""
        self.tokens, self.stamp, self.burst = 0.0, moment, 1.0
        self.current = max(self.rate / 4, self.current / 2)


class SlackPacer:
    """Slack's limits as the deliverer keeps to them: each channel's bucket, each method's
    workspace-wide one, and the holds a 429's Retry-After puts on a lane or a method."""

    def __init__(
        self,
        *,
        per_channel_rate: float,
        per_channel_burst: float,
        updates_per_minute: float,
        workspace_rate: float,
        workspace_burst: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self._channel_rate = (per_channel_rate, per_channel_burst)
        self._lanes: dict[Lane, TokenBucket] = {}
        self._methods = {
            # Tier 3: updates, and what a first DM to someone needs (their DM channel; their user by e-mail)
            **{
                method: TokenBucket(rate=updates_per_minute / 60, capacity=5)
                for method in ("chat.update", "conversations.open", "users.lookupByEmail")
            },
            # chat.postMessage's workspace-wide limit, beside each channel's: all posts share it
            POST: TokenBucket(rate=workspace_rate, capacity=workspace_burst),
        }
        self._post_limited: dict[Lane, float] = {}  # lane -> when its last post got a 429
        self._lane_hold: dict[Lane, float] = {}
        self._method_hold: dict[str, float] = {}
        self._lock = threading.Lock()

    def lane_ready(self, lane: Lane) -> bool:
        """Whether the lane (a channel, a DM) may send now: not held, and its bucket has a token."""
        now = self.clock()
        if self._lane_hold.get(lane, 0.0) > now:
            return False
        return self._lanes.setdefault(lane, TokenBucket(*self._channel_rate)).ready(now)

    def take_lane(self, lane: Lane) -> None:
        self._lanes[lane].take()

    def method_ready(self, method: str) -> bool:
        """Whether the method could be called now (not held; its budget, if it has one, not spent)."""
        if self._method_hold.get(method, 0.0) > self.clock():
            return False
        bucket = self._methods.get(method)
        if bucket is None:
            return True
        with self._lock:
            return bucket.ready(self.clock())

    def take_method(self, method: str) -> bool:
        """Take the method's workspace-wide token; False while it is held or its budget is spent."""
        if self._method_hold.get(method, 0.0) > self.clock():
            return False
        bucket = self._methods.get(method)
        if bucket is not None:
            with self._lock:
                if not bucket.ready(self.clock()):
                    return False
                bucket.take()
        return True

    def ready_lanes(self, lanes: list[Lane]) -> list[Lane]:
        """Of `lanes` (longest waiting first), those that may post now, as many as the workspace's
        posts allow (at least one: it may have an update to make). Channels go before DMs: the
        audit channel is where approvals wait for a person, and where the on-call team looks."""
        ready = sorted((lane for lane in lanes if self.lane_ready(lane)), key=_dm_last)
        return ready[: max(1, self.posts_available())]

    def posts_available(self) -> int:
        """How many posts the workspace-wide budget lets out now (0 while it is held)."""
        now = self.clock()
        if self._method_hold.get(POST, 0.0) > now:
            return 0
        bucket = self._methods[POST]
        with self._lock:
            return int(bucket.tokens) if bucket.ready(now) else 0

    def rate_limited(self, lane: Lane, method: str, retry_after: float) -> None:
        """A 429: the lane waits `retry_after`; so does the method across the workspace when its
        limit is the workspace's (every method but a post, and a post limited on several channels)."""
        until = self.clock() + retry_after
        self._lane_hold[lane] = until
        if lane in self._lanes:
            self._lanes[lane].empty_until(until)
        if method != POST or self._workspace_limited(lane):
            self._method_hold[method] = until
            if method in self._methods:
                self._methods[method].empty_until(until)

    def _workspace_limited(self, lane: Lane) -> bool:
        """Whether a post's 429 is the workspace's limit, not its channel's: Slack does not say,
        but 429s on two channels within WORKSPACE_429_WINDOW seconds are no channel's doing."""
        now = self.clock()
        with self._lock:
            self._post_limited[lane] = now
            recent = [when for when in self._post_limited.values() if now - when < WORKSPACE_429_WINDOW]
        return len(recent) >= 2


def _dm_last(lane: Lane) -> bool:
    return lane.kind is LaneKind.SLACK_DM
