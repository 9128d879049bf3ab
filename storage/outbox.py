"""The outbox: queue messages inside the caller's transaction; hand due ones to the dispatcher in order."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, NamedTuple

import peewee

from storage import deferred_writes, statements
from storage.database import BaseModel, db, in_write_transaction
from storage.fields import JSONField, UTCDateTimeField, utcnow
from storage.lanes import Lane, LaneField, Purpose, Transport
from storage.statuses import SETTLED_OUTBOX_STATUSES, OutboxStatus

PENDING = OutboxStatus.PENDING
SENDING = OutboxStatus.SENDING
SETTLED = SETTLED_OUTBOX_STATUSES  # nothing more to do: kept a while, then pruned
PRUNE_BATCH = 5000  # rows deleted per transaction: the writer lock is held briefly each time
PER_LANE = 500  # messages of a lane read at once: more than a digest covers


class OutboxMessage(BaseModel):
    """A message to deliver (to Slack, or a result callback), written with the audit row it belongs to.

    Delivered in order per `lane` (a channel, a DM recipient, a callback URL), exactly once: the
    dispatcher records the Slack ts of a posted message under `message_key`, so later changes update
    it in place and a retry never posts it twice.
    """

    id = peewee.AutoField()
    lane = LaneField(max_length=2100)  # storage/lanes.py
    transport = peewee.CharField(max_length=16, default=Transport.SLACK.value)  # storage/lanes.py
    method = peewee.CharField(max_length=64)
    target = peewee.CharField(max_length=2048)
    message_key = peewee.CharField(max_length=200, null=True)
    thread_key = peewee.CharField(max_length=200, null=True)
    payload = JSONField(default=dict)
    purpose = peewee.CharField(max_length=32)
    incident_id = peewee.CharField(max_length=128, null=True)
    status = peewee.CharField(max_length=16, default=OutboxStatus.PENDING.value)  # OutboxStatus
    attempts = peewee.IntegerField(default=0)
    next_attempt_at = UTCDateTimeField(default=utcnow)
    last_error = peewee.TextField(null=True)
    created_at = UTCDateTimeField(default=utcnow)
    sent_at = UTCDateTimeField(null=True)

    class Meta:
        indexes = (
            (("status", "next_attempt_at"), False),
            (("lane", "id"), False),
            (("message_key", "status"), False),
            (("transport", "status", "lane", "id"), False),  # lanes with work, and their heads
        )


class SlackMessage(BaseModel):
    """Where a keyed message was posted, so it can be updated in place and threaded under."""

    message_key = peewee.CharField(max_length=200, primary_key=True)
    channel = peewee.CharField(max_length=64)
    ts = peewee.CharField(max_length=32)
    posted_at = UTCDateTimeField(default=utcnow)


def enqueue(
    *,
    lane: Lane,
    method: str,
    target: str,
    payload: dict[str, Any],
    purpose: Purpose,
    message_key: str | None = None,
    thread_key: str | None = None,
    incident_id: str | None = None,
) -> None:
    """Queue one message. Call inside the transaction that writes the audit row it belongs to."""
    with in_write_transaction():
        deferred_writes.append(
            OutboxMessage,
            lane=lane,
            transport=lane.transport,
            method=method,
            target=target,
            payload=payload,
            purpose=purpose,
            message_key=message_key,
            thread_key=thread_key,
            incident_id=incident_id,
            status=PENDING,
            next_attempt_at=utcnow(),
        )


def lanes_with_work(*, transport: Transport) -> list[Lane]:
    """The lanes with messages pending or being sent whose head (the oldest of them) is due now, the
    one waiting longest first: a lane whose head waits for its retry, or for a lost answer to be
    looked for, is not read until then. An index answers it without reading the messages: a storm's
    backlog costs its size in index entries, not its rows."""
    heads: dict[Lane, int] = {}
    with db.connection_context():
        for status in (PENDING, SENDING):
            for lane, head in statements.first_key_of_each(
                OutboxMessage, "lane", transport=transport, status=status
            ):
                heads[lane] = min(head, heads.get(lane, head))
        due_at = (
            statements.column_of(OutboxMessage, "next_attempt_at", id=tuple(heads.values())) if heads else {}
        )
    now = utcnow()
    return sorted(
        (lane for lane, head in heads.items() if due_at.get(head, now) <= now), key=heads.__getitem__
    )


def lane_messages(lane: Lane, *, limit: int = PER_LANE) -> list[OutboxMessage]:
    """The lane's messages pending or being sent, in order from its head, at most `limit` (what a
    digest can cover)."""
    with db.connection_context():
        return statements.select_all(
            OutboxMessage, limit=limit, transport=lane.kind.transport, status=(PENDING, SENDING), lane=lane
        )


class Posted(NamedTuple):
    """Where Slack put a keyed message, so later updates and thread entries find it."""

    message_key: str
    channel: str
    ts: str


def mark_sending(*, ids: list[int], look_after: timedelta) -> int:
    """About to hand these to Slack in one post, `ids[0]` its head: a crash or a lost answer from
    here on leaves them `sending`. The head's next_attempt_at becomes the time to look for the post
    in Slack if it is still `sending` then (`look_after`: once the call has surely ended); a failed
    call sets it again (retry_later). The others keep theirs: they are due once released.

    Only pending rows are taken; returns how many (0: another deliverer has settled them)."""
    with in_write_transaction():
        taken = statements.update(OutboxMessage, {"id": tuple(ids), "status": PENDING}, status=SENDING)
        head = {"id": ids[0], "status": SENDING}
        statements.update(OutboxMessage, head, next_attempt_at=utcnow() + look_after)
        return taken


def settle_sent(*, message: OutboxMessage, superseded: list[int], posted: Posted | None) -> None:
    """Slack took `message` (and with it the `superseded` rows): one transaction records where it
    was posted, if it has a key, and marks the rows."""
    now = utcnow()
    with in_write_transaction(), deferred_writes.appending():  # PostgreSQL: all of it in one round trip
        if posted is not None:
            record_posted(message_key=posted.message_key, channel=posted.channel, ts=posted.ts)
        mark_sent(message=message)
        if superseded:
            where = {"id": tuple(superseded), "status": (PENDING, SENDING)}
            deferred_writes.update_later(OutboxMessage, where, status=OutboxStatus.SUPERSEDED, sent_at=now)


def settle_found(*, ids: list[int], posted: Posted | None) -> None:
    """A post found in Slack after its sender stopped before recording it: where it is (a keyed
    message) and its rows sent, in one transaction."""
    with in_write_transaction(), deferred_writes.appending():
        if posted is not None:
            record_posted(message_key=posted.message_key, channel=posted.channel, ts=posted.ts)
        mark_sent_ids(ids=ids)


def release_sending(*, ids: list[int]) -> None:
    """The hand-over did not happen (or Slack did not keep it): back to pending."""
    with in_write_transaction():
        OutboxMessage.update(status=PENDING).where(
            OutboxMessage.id.in_(ids) & (OutboxMessage.status == SENDING)
        ).execute()


def mark_sent_ids(*, ids: list[int]) -> None:
    with in_write_transaction():
        fields = {"status": OutboxStatus.SENT, "sent_at": utcnow(), "last_error": None}
        deferred_writes.update_later(OutboxMessage, {"id": tuple(ids)}, **fields)


def mark_sent(*, message: OutboxMessage) -> None:
    with in_write_transaction():
        fields = {"status": OutboxStatus.SENT, "sent_at": utcnow(), "last_error": None}
        deferred_writes.update_later(
            OutboxMessage, {"id": message.id}, **fields, attempts=message.attempts + 1
        )


def mark_failed(*, message: OutboxMessage, error: str) -> None:
    with in_write_transaction():
        OutboxMessage.update(
            status=OutboxStatus.FAILED, last_error=error, attempts=message.attempts + 1
        ).where(OutboxMessage.id == message.id).execute()


def retry_later(
    *, message: OutboxMessage, error: str, delay_seconds: float, count_attempt: bool = True
) -> None:
    """The call failed: try again in `delay_seconds`. The status stays: a row `sending` (Slack may
    have kept it) is looked for before it is posted again; the caller releases one Slack did not take."""
    with in_write_transaction():
        OutboxMessage.update(
            next_attempt_at=utcnow() + timedelta(seconds=delay_seconds),
            last_error=error,
            attempts=message.attempts + (1 if count_attempt else 0),
        ).where(OutboxMessage.id == message.id).execute()


def prune_settled(*, older_than: timedelta) -> int:
    """Delete the messages settled (sent, superseded, given up) and queued more than `older_than`
    ago; returns how many. Oldest first, a batch per transaction. What happened stays in the audit
    trail (and where a keyed message went, in its own table): the outbox is a delivery queue."""
    cutoff = utcnow() - older_than
    removed = 0
    while True:
        with in_write_transaction():
            oldest = (
                OutboxMessage.select(OutboxMessage.id)
                .where(OutboxMessage.status.in_(SETTLED) & (OutboxMessage.created_at < cutoff))
                .order_by(OutboxMessage.id)
                .limit(PRUNE_BATCH)
            )
            deleted = int(OutboxMessage.delete().where(OutboxMessage.id.in_(oldest)).execute())
        removed += deleted
        if deleted < PRUNE_BATCH:
            return removed


def backlog() -> dict[str, int]:
    """Pending messages per transport (for /metrics and status)."""
    with db.connection_context():
        query = (
            OutboxMessage.select(OutboxMessage.transport, peewee.fn.COUNT(OutboxMessage.id))
            .where(OutboxMessage.status.in_((PENDING, SENDING)))
            .group_by(OutboxMessage.transport)
        )
        return {str(row[0]): int(row[1]) for row in query.tuples().iterator()}


def posted(*, message_key: str) -> SlackMessage | None:
    with db.connection_context():
        return statements.select_first(SlackMessage, message_key=message_key)


def record_posted(*, message_key: str, channel: str, ts: str) -> None:
    """Where the keyed message now is (posted again after a deletion: the new place)."""
    with in_write_transaction():
        deferred_writes.upsert_later(
            SlackMessage, message_key=message_key, channel=channel, ts=ts, posted_at=utcnow()
        )
