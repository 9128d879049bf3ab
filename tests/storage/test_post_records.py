"""A Slack post's outbox rows through the group commit: marked `sending` durably before the call,
settled after it without waiting, and where a keyed post went known at once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from handlers.slack.delivery.post_records import PostRecords
from storage import outbox, statements
from storage.group_commit import GroupCommitter
from storage.lanes import Lane, Purpose
from storage.outbox import OutboxMessage, Posted

pytestmark = pytest.mark.usefixtures("database")


def queued(n: int) -> list[OutboxMessage]:
    for i in range(n):
        outbox.enqueue(
            lane=Lane.channel("C0AUDIT"),
            method="chat.postMessage",
            target="C0AUDIT",
            payload={"n": i},
            purpose=Purpose.AUDIT_INCIDENT,
            message_key=f"incident:INC-{i}",
        )
    return outbox.lane_messages(Lane.channel("C0AUDIT"))


def test_a_settle_not_yet_committed_holds_the_lane_and_its_post_is_known_at_once():
    writes = GroupCommitter()
    records = PostRecords(writes)
    first, second = queued(2)
    assert records.sending([first.id, second.id], look_after=timedelta(seconds=20))
    assert not records.sending([first.id], look_after=timedelta(seconds=20))  # taken already
    gate = threading.Event()
    writes.submit(gate.wait)  # the committer is busy: what follows waits behind it
    posted = Posted("incident:INC-0", "C0AUDIT", "1.000100")
    records.sent(first, [second.id], posted)
    try:
        assert records.posted("incident:INC-0") == posted  # a thread entry right after finds its parent
        assert outbox.posted(message_key="incident:INC-0") is None  # not committed yet
        assert [m.status for m in outbox.lane_messages(Lane.channel("C0AUDIT"))] == ["sending", "sending"]
    finally:
        gate.set()
        writes.stop()
    rows = statements.select_all(OutboxMessage)
    assert [m.status for m in rows] == ["sent", "superseded"]
    stored = outbox.posted(message_key="incident:INC-0")
    assert stored is not None
    assert (stored.channel, stored.ts) == ("C0AUDIT", "1.000100")
    assert records.posted("incident:INC-0") == posted  # now read from the database
    assert outbox.lanes_with_work(transport=first.lane.kind.transport) == []
