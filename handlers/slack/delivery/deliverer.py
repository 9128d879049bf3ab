"""Delivering the outbox to Slack: in order per lane, within Slack's rate limits, each message once.

One replica delivers at a time (a job lease). A lane (the audit channel, one DM) is worked from its
oldest message; one that must wait (429, 5xx, Slack unreachable) holds up its lane only, so order is
kept and nothing skipped. Updates of one message collapse into one call, consecutive thread entries
of an incident into one thread message: so a burst keeps to about one message a second a channel.

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
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from enum import Enum
from functools import partial
from typing import Any, NoReturn
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from handlers.delivery_common import OutboxDispatcher, retry_after_seconds
from handlers.slack.delivery import digest
from handlers.slack.delivery.announcer import UPSERT
from handlers.slack.delivery.dm_channels import DmChannels
from handlers.slack.delivery.pacing import SlackPacer
from handlers.slack.delivery.post_records import PostRecords
from handlers.slack.delivery.slack_errors import (
    RETRYABLE_ERRORS,
    TOO_BIG_ERRORS,
    UPDATE_GONE_ERRORS,
    Drop,
    MessageGone,
    TooBig,
    Wait,
    fallback,
)
from handlers.slack.layout.blocks import Message
from handlers.slack.layout.fitting import TOP_TEXT, clip, fitted_sections
from storage import outbox
from storage.fields import utcnow
from storage.group_commit import GroupCommitter
from storage.lanes import Lane, LaneKind, Purpose, Transport
from storage.outbox import OutboxMessage

log = logging.getLogger(__name__)

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


class Result(Enum):
    SENT = "sent"
    WAIT = "wait"  # the lane waits (rate limit, Slack down): later messages must not overtake
    DROPPED = "dropped"  # given up for good (unknown user...): audited, the lane goes on


class SlackDelivery(OutboxDispatcher):
    transport = Transport.SLACK

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
        writes: GroupCommitter | None = None,  # the runtime's group commit (a new one if not given)
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            LEASE_NAME, owner, clock, lane_workers=LANE_WORKERS, on_give_up=on_give_up, max_age=max_age
        )
        self.client = client
        self.clock = clock
        self._writes = writes or GroupCommitter()
        self._owns_writes = writes is None
        self.records = PostRecords(self._writes)
        self.sending_stale = timedelta(seconds=SENDING_STALE_TIMEOUTS * call_timeout_seconds)
        self.pacer = SlackPacer(
            per_channel_rate=per_channel_rate,
            per_channel_burst=per_channel_burst,
            updates_per_minute=updates_per_minute,
            workspace_rate=workspace_rate,
            workspace_burst=workspace_burst,
            clock=clock,
        )
        self.dms = DmChannels()

    def close(self) -> None:
        super().close()
        if self._owns_writes:
            self._writes.stop()

    def ready_lanes(self, lanes: list[Lane]) -> list[Lane]:
        """The lanes that may post now (one that must wait is not even read); a DM to an e-mail not
        yet looked up waits while the Tier 3 lookup must, rather than take a post's turn."""
        looking_up = self.pacer.method_ready("users.lookupByEmail")
        return self.pacer.ready_lanes(
            [lane for lane in lanes if looking_up or not self.dms.unknown_email(lane)]
        )

    def _drain(self, lane: Lane, messages: list[OutboxMessage]) -> int:
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
            if message.next_attempt_at > utcnow() or not self.pacer.lane_ready(lane):
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
            elif message.thread_key and message.purpose == Purpose.AUDIT_STEP:
                batch = digest.thread_entries(messages[index:])
                result, posted = self._attempt(message, partial(self._post_thread, batch))
            else:
                batch = [message]
                result, posted = self._attempt(message, partial(self._post, message, message.payload))
            if result is Result.WAIT:
                break
            self.pacer.take_lane(lane)
            done.update(m.id for m in batch)
            if result is Result.SENT:
                self.records.sent(message, [m.id for m in batch[1:]], posted)
            settled += len(batch)
        return settled

    def _attempt(
        self, message: OutboxMessage, send: Callable[[], outbox.Posted | None]
    ) -> tuple[Result, outbox.Posted | None]:
        """Send; the result, and where a keyed message was posted (recorded when it is settled)."""
        try:
            posted = send()
        except Wait:
            return Result.WAIT, None
        except Drop as exc:
            self.give_up(message, str(exc))
            return Result.DROPPED, None
        return Result.SENT, posted

    def _upsert(self, message: OutboxMessage, payload: dict[str, Any]) -> outbox.Posted | None:
        assert message.message_key is not None
        posted = self.records.posted(message.message_key)
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
            except MessageGone:
                pass  # deleted in Slack: post it again
        return self._post(message, payload)

    def _post_thread(self, batch: list[OutboxMessage]) -> outbox.Posted | None:
        first = batch[0]
        assert first.thread_key is not None
        parent = self.records.posted(first.thread_key)
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
            "channel": self._channel_for(message, to_post=True),
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
        if not self.records.sending(ids, self.sending_stale):
            raise Wait  # settled by another deliverer since the lane was read: read it again
        try:
            response = self._call_with_fallback(message, "chat.postMessage", arguments, paced=True)
        except Wait as wait:
            if not wait.maybe_sent:  # Slack did not take it: pending again (the head when its retry is due)
                outbox.release_sending(ids=ids)
            raise  # otherwise they stay `sending`: looked for in Slack before anything is posted again
        except Drop:
            outbox.release_sending(ids=ids[1:])  # Slack refused it; the head is failed by the caller
            raise
        self.dms.answered(arguments["channel"], str(response["channel"]))
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
        except TooBig as refused:
            log.warning("Slack refused outbox %s (%s); sending a shorter fallback", message.id, refused.error)
            smaller = fallback(arguments, refused.error, message.incident_id)
            try:
                return self._api(message, method, paced=paced, **smaller)
            except TooBig as again:
                raise Drop(f"{method}: {refused.error}, and its shorter fallback: {again.error}") from None

    def _find_unrecorded_post(self, message: OutboxMessage, sending: list[int]) -> None:
        """A post left `sending` (its deliverer died, or its answer was lost): record it if Slack
        has it, else put its rows (`sending`) back to pending.

        Returns once the row is settled; raises Wait when it must be sent again (next tick, in
        order) or Slack cannot be asked now (the rows stay `sending` until it can).
        """
        channel = self._channel_for(message)
        parent = self.records.posted(message.thread_key) if message.thread_key else None
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
        raise Wait

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

    def _channel_for(self, message: OutboxMessage, *, to_post: bool = False) -> str:
        """The channel ID of the message's lane (a DM's: `DmChannels`; a post may go to the user's ID)."""
        if message.lane.kind is not LaneKind.SLACK_DM:
            return message.target

        def look_up(email: str) -> str:
            return str(self._api(message, "users.lookupByEmail", email=email)["user"]["id"])

        def open_channel(user_id: str) -> str:
            return str(self._api(message, "conversations.open", users=user_id)["channel"]["id"])

        return self.dms.target(message.lane.address, look_up, None if to_post else open_channel)

    def _pace(self, method: str) -> None:
        """Take the method's token (its workspace-wide budget, shared by the lanes) before the call,
        or raise Wait while it is held after a 429 or its budget is spent."""
        if not self.pacer.take_method(method):
            raise Wait

    def _api(
        self, message: OutboxMessage, method: str, *, paced: bool = False, **arguments: Any
    ) -> dict[str, Any]:
        """Call a Web API method (`paced`: its token is taken already); on failure schedule the
        retry and raise Wait, or raise Drop."""
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
            self.pacer.rate_limited(message.lane, method, retry_after)
            outbox.retry_later(
                message=message,
                error=f"{method}: rate limited",
                delay_seconds=retry_after,
                count_attempt=False,
            )
            raise Wait
        if error in UPDATE_GONE_ERRORS and method == "chat.update":
            raise MessageGone
        if error in TOO_BIG_ERRORS:
            raise TooBig(method, error)
        if status >= 500 or error in RETRYABLE_ERRORS or not error:
            # A 5xx (internal_error) does not say that nothing was done: Slack may have kept a post.
            self._transient(message, f"{method}: HTTP {status} {error}".strip(), maybe_sent=status >= 500)
        raise Drop(f"{method}: {error}")

    def _transient(self, message: OutboxMessage, error: str, maybe_sent: bool = False) -> NoReturn:
        if self.too_old(message):
            raise Drop(f"{error} (still failing after {self.max_age})")
        self.retry_later(message, error)
        raise Wait(maybe_sent)
