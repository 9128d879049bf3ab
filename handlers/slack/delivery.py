"""Delivering the outbox to Slack: in order per lane, within Slack's rate limits, each message once.

One replica delivers at a time (a job lease). A lane (the audit channel, one DM) is worked from its
oldest message; a message that must wait (429 Retry-After, a 5xx, Slack unreachable) holds up its
lane only, so order within a channel is kept and nothing is skipped. Pending updates of one message
collapse into one call, and consecutive thread entries of one incident into one thread message:
that is how a burst stays within about one message per second per channel.

Exactly once across crashes and lost answers: Slack's chat.postMessage has no idempotency key, so a
post is marked `sending` before the call and carries its outbox ids in the message's metadata. If
the deliverer dies before recording Slack's answer, or the answer is lost (a time-out or a reset
after the request went out, a 5xx: Slack may have kept the post), the row stays `sending`; later it
is looked for by that metadata in the channel's history (or the thread's replies), and the post
found is recorded instead of posting again. Only a post Slack never kept is sent again, and a post
that never left (Slack unreachable) or that Slack refused (429, an error) goes back to pending.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from functools import partial
from typing import Any, NoReturn
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from handlers.delivery_common import OutboxDispatcher, retry_after_seconds, retry_delay
from handlers.slack import digest
from handlers.slack.blocks import Message
from handlers.slack.fitting import MESSAGE_TEXT, NOTE_ROOM, TOP_TEXT, clip, fitted_sections
from handlers.slack.notifier import UPSERT
from storage import outbox
from storage.fields import utcnow
from storage.models import OutboxMessage

log = logging.getLogger(__name__)

# Slack's errors worth another try (from the method pages and the slack-api-specs document of
# chat.postMessage, chat.update, conversations.open, users.lookupByEmail): besides these, a 429 and
# any 5xx. Every other error fails the same way each time: the message is given up (audited) and
# the lane goes on, so one refused message never stops a channel.
RETRYABLE_ERRORS = frozenset(
    {
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "ratelimited",
        "team_added_to_org",
    }
)
# Refused for what it holds: a shorter fallback (the headline, and where the rest is) is sent once.
TOO_BIG_ERRORS = frozenset(
    {
        "msg_blocks_too_long",
        "msg_too_long",
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "metadata_too_large",
        "too_many_attachments",
    }
)
# An update that cannot be applied: the new state is posted as a new message.
UPDATE_GONE_ERRORS = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
WORKSPACE_429_WINDOW = 5.0
FALLBACK_HEADLINE = 300  # characters of the refused message's first line kept in its fallback
MAX_BATCH = 20
LANE_WORKERS = 16  # lanes (channels, DMs) delivered at once: each mostly waits (Slack, the writer lock)
LEASE_NAME = "slack-outbox"
METADATA_TYPE = "autoresolve_outbox"
# A post still `sending` this many call time-outs after its call began is looked for in Slack: the
# call has ended, so its deliverer died or its answer was lost.
SENDING_STALE_TIMEOUTS = 2
LOOKUP_PAGES = 10  # of 200 messages: how far back a lost post is looked for (from 60 s before it)
QUERY_METHODS = (
    "users.lookupByEmail",
    "conversations.open",
    "conversations.history",
    "conversations.replies",
)


class _Wait(Exception):
    """The lane must wait: rate limited, or Slack unreachable (a retry is scheduled).

    `maybe_sent`: the call went out but its answer did not come back usable, so Slack may have done
    what it asked."""

    def __init__(self, maybe_sent: bool = False) -> None:
        super().__init__()
        self.maybe_sent = maybe_sent


class _Drop(Exception):
    """The message can never be delivered (unknown user, channel gone)."""


class _TooBig(_Drop):
    """Slack refused the message for what it holds; a shorter one may go through."""

    def __init__(self, method: str, error: str) -> None:
        super().__init__(f"{method}: {error}")
        self.error = error


class _MessageGone(Exception):
    """chat.update cannot change the message (deleted, too old to edit, not the bot's)."""


class Result(Enum):
    SENT = "sent"
    WAIT = "wait"  # the lane waits (rate limit, Slack down): later messages must not overtake
    DROPPED = "dropped"  # given up for good (unknown user...): audited, the lane goes on


@dataclass
class TokenBucket:
    """`rate` calls a second on average, up to `capacity` at once. Slack's limits are approximate:
    each 429 halves the rate (down to a quarter of it), and each call that goes through wins back
    a twentieth of the original, so a channel settles just under whatever Slack really allows."""

    rate: float
    capacity: float
    tokens: float = field(default=-1.0)
    stamp: float = 0.0
    current: float = field(default=-1.0)  # the rate in force, after 429s

    def __post_init__(self) -> None:
        self.current = self.rate

    def ready(self, now: float) -> bool:
        if self.tokens < 0:
            self.tokens, self.stamp = self.capacity, now
        if now < self.stamp:
            return False
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.current)
        self.stamp = now
        return self.tokens >= 1

    def take(self) -> None:
        self.tokens -= 1
        self.current = min(self.rate, self.current + self.rate / 20)

    def empty_until(self, moment: float) -> None:
        """After a 429: nothing before `moment`, then half the rate without a burst."""
        self.tokens, self.stamp = 0.0, moment
        self.current = max(self.rate / 4, self.current / 2)


class SlackDelivery(OutboxDispatcher):
    transport = "slack"

    def __init__(
        self,
        client: WebClient,
        *,
        owner: str,
        on_give_up: Callable[[OutboxMessage, str], None],
        max_age: timedelta = timedelta(hours=48),
        per_channel_rate: float = 1.0,
        per_channel_burst: float = 3.0,
        updates_per_minute: float = 50.0,
        workspace_rate: float = 10.0,
        workspace_burst: float = 20.0,
        call_timeout_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(LEASE_NAME, owner, clock, lane_workers=LANE_WORKERS)
        self.client = client
        self.on_give_up = on_give_up
        self.max_age = max_age
        self.clock = clock
        self.sending_stale = timedelta(seconds=SENDING_STALE_TIMEOUTS * call_timeout_seconds)
        self._channel_rate = (per_channel_rate, per_channel_burst)
        self._lanes: dict[str, TokenBucket] = {}
        self._methods = {
            "chat.update": TokenBucket(rate=updates_per_minute / 60, capacity=5),  # Tier 3
            # chat.postMessage's workspace-wide limit, beside each channel's: all posts share it
            "chat.postMessage": TokenBucket(rate=workspace_rate, capacity=workspace_burst),
        }
        self._post_limited: dict[str, float] = {}  # lane -> when its last post got a 429
        self._lane_hold: dict[str, float] = {}
        self._method_hold: dict[str, float] = {}
        self._user_ids: dict[str, str] = {}
        self._dm_channels: dict[str, str] = {}
        self._method_lock = threading.Lock()

    def _drain(self, lane: str, messages: list[OutboxMessage]) -> int:
        settled = 0
        done: set[int] = set()
        for index, message in enumerate(messages):
            if message.id in done:
                continue
            if message.status == outbox.SENDING:
                if message.next_attempt_at > utcnow():
                    break  # being sent right now, or not yet to be looked for after a lost answer
                # The lane's rows still `sending` all went in one post: the one to look for.
                sending = [m.id for m in messages[index:] if m.status == outbox.SENDING]
                found, _ = self._attempt(message, partial(self._find_unrecorded_post, message, sending))
                if found is not Result.SENT:
                    break
                done.add(message.id)
                settled += 1
                continue
            if message.next_attempt_at > utcnow() or self._lane_hold.get(lane, 0.0) > self.clock():
                break
            bucket = self._lanes.setdefault(lane, TokenBucket(*self._channel_rate))
            if not bucket.ready(self.clock()):
                break
            if digest.busy(lane, messages[index:], utcnow()):
                batch, payload = digest.build_digest(messages[index:], utcnow())
                result, posted = self._attempt(message, partial(self._post_digest, batch, payload))
            elif message.method == UPSERT:
                batch = [
                    m for m in messages[index:] if m.method == UPSERT and m.message_key == message.message_key
                ]
                latest = batch[-1].payload
                result, posted = self._attempt(message, partial(self._upsert, message, latest))
            elif message.thread_key and message.purpose == "audit_step":
                batch = self._contiguous_thread_entries(messages[index:])
                result, posted = self._attempt(message, partial(self._post_thread, batch))
            else:
                batch = [message]
                result, posted = self._attempt(message, partial(self._post, message, message.payload))
            if result is Result.WAIT:
                break
            bucket.take()
            done.update(m.id for m in batch)
            if result is Result.SENT:
                outbox.settle_sent(message=message, superseded=[m.id for m in batch[1:]], posted=posted)
            settled += len(batch)
        return settled

    @staticmethod
    def _contiguous_thread_entries(messages: list[OutboxMessage]) -> list[OutboxMessage]:
        """The head's run of thread entries of one incident, as many as one message holds (whole
        entries: the rest go in the next one)."""
        first = messages[0]
        batch = [first]
        used = len(_thread_text(first))
        for message in messages[1:MAX_BATCH]:
            if message.thread_key != first.thread_key or message.purpose != first.purpose:
                break
            used += len(_thread_text(message)) + 1
            if used > MESSAGE_TEXT - NOTE_ROOM:
                break
            batch.append(message)
        return batch

    def _attempt(
        self, message: OutboxMessage, send: Callable[[], outbox.Posted | None]
    ) -> tuple[Result, outbox.Posted | None]:
        """Send; the result, and where a keyed message was posted (recorded when it is settled)."""
        try:
            posted = send()
        except _Wait:
            return Result.WAIT, None
        except _Drop as exc:
            log.error("Slack delivery of outbox %s failed for good: %s", message.id, exc)
            outbox.mark_failed(message=message, error=str(exc))
            self.on_give_up(message, str(exc))
            return Result.DROPPED, None
        return Result.SENT, posted

    # -- sending ----------------------------------------------------------------------------------

    def _upsert(self, message: OutboxMessage, payload: dict[str, Any]) -> outbox.Posted | None:
        assert message.message_key is not None
        posted = outbox.posted(message_key=message.message_key)
        if posted is not None:
            try:
                self._call_with_fallback(
                    message,
                    "chat.update",
                    {
                        "channel": posted.channel,
                        "ts": posted.ts,
                        "text": payload.get("text", ""),
                        "blocks": payload.get("blocks"),
                    },
                )
                return None
            except _MessageGone:
                pass  # deleted in Slack: post it again
        return self._post(message, payload)

    def _post_thread(self, batch: list[OutboxMessage]) -> outbox.Posted | None:
        first = batch[0]
        assert first.thread_key is not None
        parent = outbox.posted(message_key=first.thread_key)
        lines = [line for m in batch for line in m.payload.get("lines", [m.payload.get("text", "")])]
        where = f"`/autoresolve audit {first.incident_id}` has them all"
        blocks = fitted_sections(lines, left_out=lambda n: f"…and {n} more line(s): {where}")
        payload = {"text": clip("\n".join(lines), TOP_TEXT), "blocks": blocks}
        return self._post(first, payload, thread_ts=parent.ts if parent else None, batch=batch)

    def _post_digest(self, batch: list[OutboxMessage], digest_message: Message) -> outbox.Posted | None:
        """One top-level message for the batch; its incidents' keys stay unposted, so an incident's
        next change is posted on its own (or in the next digest) rather than editing the digest."""
        text, blocks = digest_message
        return self._post(batch[0], {"text": text, "blocks": blocks}, batch=batch, digest=True)

    def _post(
        self,
        message: OutboxMessage,
        payload: dict[str, Any],
        thread_ts: str | None = None,
        batch: list[OutboxMessage] | None = None,
        digest: bool = False,
    ) -> outbox.Posted | None:
        """Post; where, for a keyed message (recorded with the rows when they are settled)."""
        ids = [m.id for m in batch or [message]]
        arguments: dict[str, Any] = {
            "channel": self._channel_for(message),
            "text": payload.get("text", ""),
            # Small, and typed as Slack's metadata takes it (no list of numbers): the batch's first id
            # finds the post again; the rows it settles are the lane's rows still `sending`.
            "metadata": {
                "event_type": METADATA_TYPE,
                "event_payload": {"outbox_id": ids[0], "count": len(ids), "digest": digest},
            },
        }
        if payload.get("blocks"):
            arguments["blocks"] = payload["blocks"]
        if thread_ts:
            arguments["thread_ts"] = thread_ts
        self._pace("chat.postMessage")  # before the rows are `sending`: a wait here sends nothing
        if not outbox.mark_sending(ids=ids, look_after=self.sending_stale):
            raise _Wait  # settled by another deliverer since the lane was read: read it again
        try:
            response = self._call_with_fallback(message, "chat.postMessage", arguments, paced=True)
        except _Wait as wait:
            if not wait.maybe_sent:  # Slack did not take it: pending again (the head when its retry is due)
                outbox.release_sending(ids=ids)
            raise  # otherwise they stay `sending`: looked for in Slack before anything is posted again
        except _Drop:
            outbox.release_sending(ids=ids[1:])  # Slack refused it; the head is failed by the caller
            raise
        if message.message_key and not digest:
            return outbox.Posted(message.message_key, response["channel"], response["ts"])
        return None

    def _call_with_fallback(
        self, message: OutboxMessage, method: str, arguments: dict[str, Any], *, paced: bool = False
    ) -> dict[str, Any]:
        """The call (`paced`: its token is taken already); if Slack refuses the message for what it
        holds, once more with a short fallback: its headline, and where the whole of it can be read."""
        try:
            return self._api(message, method, paced=paced, **arguments)
        except _TooBig as refused:
            log.warning("Slack refused outbox %s (%s); sending a shorter fallback", message.id, refused.error)
            smaller = fallback(arguments, refused.error, message.incident_id)
            try:
                return self._api(message, method, paced=paced, **smaller)
            except _TooBig as again:
                raise _Drop(f"{method}: {refused.error}, and its shorter fallback: {again.error}") from None

    def _find_unrecorded_post(self, message: OutboxMessage, sending: list[int]) -> None:
        """A post left `sending` (its deliverer died, or its answer was lost): record it if Slack
        has it, else put its rows (`sending`) back to pending.

        Returns once the row is settled; raises _Wait when it must be sent again (next tick, in
        order) or Slack cannot be asked now (the rows stay `sending` until it can).
        """
        channel = self._channel_for(message)
        parent = outbox.posted(message_key=message.thread_key) if message.thread_key else None
        places: list[tuple[str, dict[str, Any]]] = []
        if parent is not None:
            places.append(("conversations.replies", {"ts": parent.ts}))
        # a top-level post, or a thread entry that went out in a digest
        places.append(("conversations.history", {"oldest": f"{message.created_at.timestamp() - 60:.6f}"}))
        for method, where in places:
            for posted in self._listing(message, method, channel=channel, **where):
                metadata = posted.get("metadata") or {}
                event = metadata.get("event_payload") or {}
                if metadata.get("event_type") == METADATA_TYPE and event.get("outbox_id") == message.id:
                    count = int(event.get("count") or 1)
                    self._settle_found(
                        message, channel, posted["ts"], bool(event.get("digest")), sending[:count]
                    )
                    return
        outbox.release_sending(ids=sending)
        raise _Wait

    def _listing(self, message: OutboxMessage, method: str, **arguments: Any) -> Iterator[dict[str, Any]]:
        """The messages a history or replies call lists, page after page (at most LOOKUP_PAGES)."""
        cursor = ""
        for _ in range(LOOKUP_PAGES):
            paging = {"cursor": cursor} if cursor else {}
            page = self._api(message, method, include_all_metadata=True, limit=200, **{**arguments, **paging})
            yield from page.get("messages", [])
            cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
            if not page.get("has_more") or not cursor:
                return
        log.warning(
            "outbox %s: %s lists more than %d pages; not looked further", message.id, method, LOOKUP_PAGES
        )

    @staticmethod
    def _settle_found(message: OutboxMessage, channel: str, ts: str, digest: bool, ids: list[int]) -> None:
        """Record a post Slack has (a digest covers its incidents' messages but is not theirs)."""
        key = None if digest else message.message_key
        posted = outbox.Posted(key, channel, ts) if key else None
        outbox.settle_found(ids=ids, posted=posted)
        log.info("outbox %s had reached Slack before its sender stopped; not posting it again", message.id)

    def _channel_for(self, message: OutboxMessage) -> str:
        """The channel ID to post to; a DM target ('dm:U...' or 'dm:e-mail') is opened first."""
        if not message.target.startswith("dm:"):
            return message.target
        who = message.target.removeprefix("dm:")
        user_id = self._user_ids.get(who) if "@" in who else who
        if user_id is None:
            user_id = self._user_ids[who] = self._api(message, "users.lookupByEmail", email=who)["user"]["id"]
        channel = self._dm_channels.get(user_id)
        if channel is None:
            opened = self._api(message, "conversations.open", users=user_id)
            channel = self._dm_channels[user_id] = opened["channel"]["id"]
        return channel

    def _pace(self, method: str) -> None:
        """Take the method's token (its workspace-wide budget, shared by the lanes) before the call,
        or raise _Wait while it is held after a 429 or its budget is spent."""
        if self._method_hold.get(method, 0.0) > self.clock():
            raise _Wait
        bucket = self._methods.get(method)
        if bucket is not None:
            with self._method_lock:
                if not bucket.ready(self.clock()):
                    raise _Wait
                bucket.take()

    def _api(
        self, message: OutboxMessage, method: str, *, paced: bool = False, **arguments: Any
    ) -> dict[str, Any]:
        """Call a Web API method (`paced`: its token is taken already); on failure schedule the
        retry and raise _Wait, or raise _Drop."""
        if not paced:
            self._pace(method)
        try:
            if method in QUERY_METHODS:
                response = self.client.api_call(method, params=arguments)
            else:
                response = self.client.api_call(method, json=arguments)
        except SlackApiError as exc:
            self._api_error(message, method, exc)
            raise AssertionError("_api_error always raises") from exc
        except URLError as exc:  # the request did not go out: unreachable, refused
            self._transient(message, f"{method}: {type(exc).__name__}: {exc}")
        except (OSError, ValueError) as exc:  # it went out, but no usable answer: timed out, reset, garbled
            self._transient(message, f"{method}: {type(exc).__name__}: {exc}", maybe_sent=True)
        return dict(response.data) if isinstance(response.data, dict) else {}

    def _api_error(self, message: OutboxMessage, method: str, exc: SlackApiError) -> None:
        status = exc.response.status_code
        error = str(exc.response.get("error", "")) if isinstance(exc.response.data, dict) else ""
        if status == 429:
            headers = {k.lower(): v for k, v in (exc.response.headers or {}).items()}
            retry_after = retry_after_seconds(headers.get("retry-after"), default=1.0)
            until = self.clock() + retry_after
            self._lane_hold[message.lane] = until
            if message.lane in self._lanes:
                self._lanes[message.lane].empty_until(until)
            if method != "chat.postMessage" or self._workspace_limited(message.lane):
                # other methods are limited per workspace; so is a post when several channels are
                self._method_hold[method] = until
                if method in self._methods:
                    self._methods[method].empty_until(until)
            outbox.retry_later(
                message=message,
                error=f"{method}: rate limited",
                delay_seconds=retry_after,
                count_attempt=False,
            )
            raise _Wait
        if error in UPDATE_GONE_ERRORS and method == "chat.update":
            raise _MessageGone
        if error in TOO_BIG_ERRORS:
            raise _TooBig(method, error)
        if status >= 500 or error in RETRYABLE_ERRORS or not error:
            # A 5xx (internal_error) does not say that nothing was done: Slack may have kept a post.
            self._transient(message, f"{method}: HTTP {status} {error}".strip(), maybe_sent=status >= 500)
        raise _Drop(f"{method}: {error}")

    def _workspace_limited(self, lane: str) -> bool:
        """Whether a post's 429 is the workspace's limit, not its channel's: Slack does not say,
        but 429s on two channels within WORKSPACE_429_WINDOW seconds are no channel's doing."""
        now = self.clock()
        with self._method_lock:
            self._post_limited[lane] = now
            recent = [when for when in self._post_limited.values() if now - when < WORKSPACE_429_WINDOW]
        return len(recent) >= 2

    def _transient(self, message: OutboxMessage, error: str, maybe_sent: bool = False) -> NoReturn:
        if utcnow() - message.created_at > self.max_age:
            raise _Drop(f"{error} (still failing after {self.max_age})")
        delay = retry_delay(message.attempts)
        log.warning("Slack delivery of outbox %s will retry in %.0fs: %s", message.id, delay, error)
        outbox.retry_later(message=message, error=error, delay_seconds=delay)
        raise _Wait(maybe_sent)


def _thread_text(message: OutboxMessage) -> str:
    return "\n".join(message.payload.get("lines", [message.payload.get("text", "")]))


def fallback(arguments: dict[str, Any], error: str, incident_id: str | None) -> dict[str, Any]:
    """A message Slack takes in place of one it refused: the first line of its text, and where
    the rest is (the incident's audit trail)."""
    first_line = str(arguments.get("text") or "").split("\n", 1)[0]
    headline = (
        first_line if len(first_line) <= FALLBACK_HEADLINE else first_line[: FALLBACK_HEADLINE - 1] + "…"
    )
    where = (
        f"`/autoresolve audit {incident_id}` has it all" if incident_id else "the bot's audit trail has it"
    )
    text = f"{headline}\n_(Slack refused the full message: {error}; {where}.)_"
    smaller = {k: v for k, v in arguments.items() if k not in ("blocks", "text")}
    return {
        **smaller,
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }
