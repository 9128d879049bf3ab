"""A running bot's housekeeping: delivered outbox messages pruned after OUTBOX_RETENTION_DAYS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage import outbox, statements
from storage.database import db, in_write_transaction, is_postgres
from storage.fields import utcnow
from storage.lanes import Lane, Purpose
from storage.outbox import OutboxMessage

RUNBOOKS = "runbooks:\n  - {id: fix, category: database, steps: [{name: a, log: b}]}\n"


def test_delivered_messages_are_pruned_a_minute_after_start_and_then_hourly(engine):
    runtime = engine(RUNBOOKS, outbox_retention_days=7)
    for user in ("U1", "U2"):
        outbox.enqueue(
            lane=Lane.dm(user),
            method="chat.postMessage",
            target=f"dm:{user}",
            payload={},
            purpose=Purpose.ADMIN_DM,
        )
    old, recent = statements.select_all(OutboxMessage)
    with in_write_transaction():
        for row, age in ((old, timedelta(days=8)), (recent, timedelta(days=6))):
            statements.update(OutboxMessage, {"id": row.id}, status="sent", created_at=utcnow() - age)

    job = runtime.scheduler.get_job("prune-outbox")
    assert 50 < (job.next_run_time - datetime.now(UTC)).total_seconds() <= 60
    assert job.trigger.interval == timedelta(hours=1)
    job.func()
    assert [m.id for m in statements.select_all(OutboxMessage)] == [recent.id]


def test_on_sqlite_the_running_bot_copies_the_write_ahead_log_on_a_thread_of_its_own_and_no_commit_does(
    engine,
):
    runtime = engine(RUNBOOKS)
    if is_postgres():
        assert runtime.wal_checkpoints is None  # PostgreSQL has its own checkpoints
        return
    assert runtime.wal_checkpoints is not None
    assert runtime.wal_checkpoints.running
    with db.connection_context():
        assert db.execute_sql("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    pages, copied = runtime.wal_checkpoints.checkpoint()
    assert copied == pages
    runtime.stop()
    assert not runtime.wal_checkpoints.running
