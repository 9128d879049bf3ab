"""Group commit, on SQLite and PostgreSQL: many threads' writes in shared transactions, each caller's
result (or error) its own, a failing write undoing only itself, everything committed when it returns;
a caller's writes ahead (in order, a failure stopping the rest), and rows appended at a block's end."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import TypeVar

import peewee
import pytest

from storage import audit, deferred_writes, outbox, runs, statements
from storage.audit import AuditEntry
from storage.database import db, in_write_transaction
from storage.deferred_writes import MAX_ROWS_PER_INSERT
from storage.group_commit import GroupCommitter, NotApplied, WriteAhead
from storage.lanes import Lane, Purpose
from storage.outbox import OutboxMessage
from storage.runs import Run, StepResult

pytestmark = pytest.mark.usefixtures("database")
T = TypeVar("T")


def committed(action: str, **where: str) -> int:
    """Rows of `action` as another connection sees them (only what was committed)."""
    seen: list[int] = []

    def count() -> None:
        with db.connection_context():
            seen.append(statements.count(AuditEntry, action=action, **where))

    reader = threading.Thread(target=count)
    reader.start()
    reader.join()
    return seen[0]


def write_and_wait(committer: GroupCommitter, write: Callable[[], T]) -> T:
    """One write as a run's stage makes it (WriteAhead, the way production writes), waited for."""
    stages = WriteAhead(committer)
    staged = stages.write(write)
    stages.durable()
    return staged.value


def test_each_caller_gets_its_own_result_after_the_commit():
    writes = GroupCommitter()
    results: dict[int, object] = {}

    def write(n: int) -> None:
        def record() -> int:
            audit.record(action="step_started", incident_id=f"G-{n}")
            return n * 10

        results[n] = write_and_wait(writes, record)
        results[-n - 1] = committed("step_started", incident_id=f"G-{n}") == 1  # committed on return

    threads = [threading.Thread(target=write, args=(n,)) for n in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {n: results[n] for n in range(30)} == {n: n * 10 for n in range(30)}
    assert all(results[-n - 1] is True for n in range(30))
    assert committed("step_started") == 30


def test_a_failing_write_undoes_only_itself():
    writes = GroupCommitter()
    outcomes: dict[str, object] = {}
    start = threading.Barrier(3)

    def good(name: str) -> None:
        start.wait()
        write_and_wait(writes, lambda: audit.record(action="step_succeeded", incident_id=name))
        outcomes[name] = "ok"

    def bad() -> None:
        def fails() -> None:
            audit.record(action="step_failed", incident_id="BAD")
            raise ValueError("this write changes its mind")

        start.wait()
        with pytest.raises(ValueError, match="changes its mind"):
            write_and_wait(writes, fails)
        outcomes["bad"] = "raised"

    threads = [threading.Thread(target=good, args=("A",)), threading.Thread(target=bad)]
    threads.append(threading.Thread(target=good, args=("B",)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == {"A": "ok", "B": "ok", "bad": "raised"}
    assert committed("step_succeeded") == 2
    assert committed("step_failed") == 0  # its row went with its savepoint


def test_write_ahead_applies_in_order_and_is_durable_when_asked():
    writes = WriteAhead(GroupCommitter())
    first = writes.write(lambda: statements.create(StepResult, **step_fields("first")))
    writes.write(lambda: statements.update(StepResult, {"id": first.value.id}, status="succeeded"))
    writes.durable()
    assert first.value.name == "first"
    assert committed_steps() == [("first", "succeeded")]


def test_after_a_failed_write_the_later_ones_are_left_out_and_durable_raises_it():
    committer = GroupCommitter()
    failing, other = WriteAhead(committer), WriteAhead(committer)

    def refuses() -> None:
        statements.create(StepResult, **step_fields("half-done"))
        raise ValueError("the database said no")

    failing.write(lambda: statements.create(StepResult, **step_fields("before")))
    failing.write(refuses)
    after = failing.write(lambda: statements.create(StepResult, **step_fields("after")))
    other.write(lambda: statements.create(StepResult, **step_fields("unrelated")))
    with pytest.raises(ValueError, match="the database said no"):
        failing.durable()
    other.durable()
    with pytest.raises(NotApplied):
        after.value  # noqa: B018  # reading it is the test
    assert sorted(committed_steps()) == [("before", "running"), ("unrelated", "running")]


def test_appended_rows_go_in_at_the_end_of_the_block_in_order_and_not_at_all_if_it_raises():
    with db.connection_context(), in_write_transaction(), deferred_writes.appending():
        for n in range(MAX_ROWS_PER_INSERT + 7):  # more than one statement's worth
            audit.record(action="step_started", incident_id=f"A-{n}")
        assert statements.count(AuditEntry) == 0  # nothing yet: they wait for the end

    def changes_its_mind() -> None:
        with db.connection_context(), in_write_transaction(), deferred_writes.appending():
            audit.record(action="step_failed", incident_id="NEVER")
            raise RuntimeError("the caller changes its mind")

    with pytest.raises(RuntimeError):
        changes_its_mind()
    rows = audit.query(limit=1000)
    assert [row.incident_id for row in reversed(rows)] == [f"A-{n}" for n in range(MAX_ROWS_PER_INSERT + 7)]
    assert committed("step_failed") == 0


def test_not_in_leaves_out_the_named_values_and_an_empty_tuple_leaves_out_nothing():
    a, b, c = (Lane.channel(name) for name in ("a", "b", "c"))
    for lane in (a, b, c):
        outbox.enqueue(
            lane=lane,
            method="chat.postMessage",
            target=lane.address,
            payload={},
            purpose=Purpose.AUDIT_NOTICE,
        )
    assert [m.lane for m in statements.select_all(OutboxMessage, lane__not_in=(b,))] == [a, c]
    assert [m.lane for m in statements.select_all(OutboxMessage, lane__not_in=())] == [a, b, c]


def step_fields(name: str) -> dict[str, object]:
    run_id = statements.insert(Run, incident_id=f"INC-{name}", runbook_id="fix", status="running")
    return {"run": run_id, "position": 1, "name": name, "kind": "log", "phase": "step", "status": "running"}


def committed_steps() -> list[tuple[str, str]]:
    seen: list[list[tuple[str, str]]] = []

    def read() -> None:
        with db.connection_context():
            seen.append([(s.name, s.status) for s in statements.select_all(StepResult)])

    reader = threading.Thread(target=read)
    reader.start()
    reader.join()
    return seen[0]


def test_updates_made_later_follow_the_blocks_appended_rows_in_order_with_their_values_intact():
    awkward = "100% done; it's 'quoted' -- %s %(name)s \\ ;"  # nothing in it is taken as SQL
    run_id = statements.insert(Run, incident_id="INC-L", runbook_id="fix", status="running")
    with db.connection_context(), in_write_transaction(), deferred_writes.appending():
        for position in (1, 2):
            runs.start_step(run_id=run_id, position=position, name="s", kind="log", phase="step", action="")
        deferred_writes.update_later(StepResult, {"run": run_id, "position": 1}, status="failed")
        deferred_writes.update_later(StepResult, {"run": run_id, "position": 1}, error=awkward)
        deferred_writes.update_later(StepResult, {"run": run_id, "position": 2}, status="succeeded")
        assert statements.count(StepResult) == 0  # all of it waits for the end of the block
    rows = statements.select_all(StepResult)
    assert [(s.position, s.status, s.error) for s in rows] == [(1, "failed", awkward), (2, "succeeded", None)]


def test_a_held_back_row_that_fails_fails_only_its_own_write():
    writes = GroupCommitter()
    with db.connection_context(), in_write_transaction():
        deferred_writes.append(AuditEntry, audit_id="a" * 32, action="step_started")
    start = threading.Barrier(3)
    outcomes: dict[str, object] = {}

    def write(name: str, audit_id: str) -> None:
        start.wait()
        try:
            write_and_wait(writes, lambda: deferred_writes.append(AuditEntry, audit_id=audit_id, action=name))
            outcomes[name] = "ok"
        except peewee.IntegrityError:
            outcomes[name] = "refused"

    threads = [
        threading.Thread(target=write, args=("A", "b" * 32)),
        threading.Thread(target=write, args=("DUP", "a" * 32)),  # its row fails only at the end
        threading.Thread(target=write, args=("B", "c" * 32)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == {"A": "ok", "DUP": "refused", "B": "ok"}
    assert (committed("A"), committed("DUP"), committed("B")) == (1, 0, 1)


def committer_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == "group-commit")


def test_stopping_commits_what_was_handed_over_and_ends_the_thread_and_a_later_write_starts_another():
    before = committer_threads()
    writes = GroupCommitter()
    pending = [
        writes.submit(partial(audit.record, action="step_started", incident_id=f"S-{n}")) for n in range(5)
    ]
    assert committer_threads() == before + 1
    writes.stop()
    assert all(done.done() and done.exception() is None for done in pending)
    assert committed("step_started") == 5
    assert committer_threads() == before
    write_and_wait(writes, lambda: audit.record(action="step_started", incident_id="S-after"))
    assert committed("step_started") == 6
    writes.stop()
    assert committer_threads() == before
