"""The outbox on SQLite and PostgreSQL: lanes' heads, where keyed messages went, pruning."""

from __future__ import annotations

from datetime import timedelta

import pytest

from storage import outbox, statements
from storage.database import in_write_transaction
from storage.fields import utcnow
from storage.lanes import Lane, Purpose, Transport
from storage.outbox import OutboxMessage, SlackMessage

pytestmark = pytest.mark.usefixtures("database")


def test_a_keyed_message_posted_again_is_found_at_its_new_place():
    assert outbox.posted(message_key="incident:INC-1") is None
    outbox.record_posted(message_key="incident:INC-1", channel="C0AUDIT", ts="1.000100")
    outbox.record_posted(message_key="incident:INC-1", channel="C0AUDIT", ts="2.000200")  # after a deletion
    found = outbox.posted(message_key="incident:INC-1")
    assert found is not None
    assert (found.channel, found.ts) == ("C0AUDIT", "2.000200")
    assert statements.count(SlackMessage) == 1


def _queue(lane: str, n: int) -> None:
    for i in range(n):
        outbox.enqueue(
            lane=Lane.parse(lane),
            method="chat.postMessage",
            target=lane,
            payload={"n": i},
            purpose=Purpose.AUDIT_NOTICE,
        )


def test_lanes_with_work_come_longest_waiting_first_and_a_lane_is_read_from_its_head():
    _queue("dm:U2", 1)  # waiting longest
    _queue("channel:C0AUDIT", 30)
    _queue("dm:U1", 2)
    _queue("webhook:https://hooks.example.com/x", 1)  # another transport's
    first = statements.select_first(OutboxMessage, lane=Lane.parse("channel:C0AUDIT"))
    assert first is not None
    outbox.mark_sent(message=first)  # settled: the channel's head is its second message now
    assert [str(lane) for lane in outbox.lanes_with_work(transport=Transport.SLACK)] == [
        "dm:U2",
        "channel:C0AUDIT",
        "dm:U1",
    ]
    channel = outbox.lane_messages(Lane.parse("channel:C0AUDIT"), limit=5)
    assert [m.payload["n"] for m in channel] == [1, 2, 3, 4, 5]
    assert [m.payload["n"] for m in outbox.lane_messages(Lane.dm("U1"))] == [0, 1]


def test_a_lane_whose_head_waits_for_its_retry_is_not_read_until_it_is_due():
    _queue("webhook:https://hooks.example.com/down", 3)  # its receiver is down
    _queue("webhook:https://hooks.example.com/up", 1)
    head = outbox.lane_messages(Lane.parse("webhook:https://hooks.example.com/down"))[0]
    outbox.retry_later(message=head, error="HTTP 503", delay_seconds=60)
    assert outbox.lanes_with_work(transport=Transport.WEBHOOK) == [
        Lane.parse("webhook:https://hooks.example.com/up")
    ]
    with in_write_transaction():  # its retry is due
        statements.update(OutboxMessage, {"id": head.id}, next_attempt_at=utcnow() - timedelta(seconds=1))
    assert len(outbox.lanes_with_work(transport=Transport.WEBHOOK)) == 2


def test_a_message_being_sent_keeps_its_lane_in_work_until_it_is_settled():
    _queue("dm:U1", 1)
    (message,) = outbox.lane_messages(Lane.dm("U1"))
    outbox.mark_sending(ids=[message.id], look_after=timedelta(seconds=20))
    assert outbox.lanes_with_work(transport=Transport.SLACK) == []  # looked for in Slack after 20 s, if still
    with in_write_transaction():
        statements.update(OutboxMessage, {"id": message.id}, next_attempt_at=utcnow() - timedelta(seconds=1))
    assert outbox.lanes_with_work(transport=Transport.SLACK) == [Lane.dm("U1")]
    assert [m.status for m in outbox.lane_messages(Lane.dm("U1"))] == ["sending"]
    outbox.settle_sent(message=message, superseded=[], posted=None)
    assert outbox.lanes_with_work(transport=Transport.SLACK) == []
    assert outbox.lane_messages(Lane.dm("U1")) == []


def test_settled_messages_are_pruned_after_the_retention_and_undelivered_ones_never(monkeypatch):
    _queue("dm:U1", 7)
    rows = statements.select_all(OutboxMessage)
    long_ago = utcnow() - timedelta(days=20)
    kept_as = ["sent", "superseded", "failed", "pending", "sending", "sent", "sent"]
    with in_write_transaction():
        for row, status in zip(rows, kept_as, strict=True):
            queued = utcnow() if row is rows[-1] else long_ago  # the last one is recent
            statements.update(OutboxMessage, {"id": row.id}, status=status, created_at=queued)
    monkeypatch.setattr(outbox, "PRUNE_BATCH", 2)  # several batches
    assert outbox.prune_settled(older_than=timedelta(days=14)) == 4
    left = statements.select_all(OutboxMessage)
    assert [(m.id, m.status) for m in left] == [
        (rows[3].id, "pending"),  # undelivered, however old
        (rows[4].id, "sending"),
        (rows[6].id, "sent"),  # within the retention
    ]
    assert outbox.prune_settled(older_than=timedelta(days=14)) == 0


def test_a_callback_url_as_long_as_an_incident_may_give_is_a_lane():
    url = "https://hooks.example.com/" + "x" * (2048 - len("https://hooks.example.com/"))
    with in_write_transaction():
        outbox.enqueue(
            lane=Lane.webhook(url), method="POST", target=url, payload={}, purpose=Purpose.RESULT_CALLBACK
        )
    assert outbox.lanes_with_work(transport=Transport.WEBHOOK) == [Lane.webhook(url)]
    (message,) = outbox.lane_messages(Lane.webhook(url))
    assert message.lane == Lane.webhook(url)
    assert message.target == url
