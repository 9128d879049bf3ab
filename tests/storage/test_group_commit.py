"""Group commit, on SQLite and PostgreSQL: many threads' writes in shared transactions, each caller's
result (or error) its own, a failing write undoing only itself, everything committed when it returns."""

from __future__ import annotations

import threading

import pytest

from storage import audit, statements
from storage.database import db
from storage.group_commit import GroupCommitter
from storage.models import AuditEntry

pytestmark = pytest.mark.usefixtures("database")


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


def test_each_caller_gets_its_own_result_after_the_commit():
    writes = GroupCommitter()
    results: dict[int, object] = {}

    def write(n: int) -> None:
        def record() -> int:
            audit.record(action="step_started", incident_id=f"G-{n}")
            return n * 10

        results[n] = writes.run(record)
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
        writes.run(lambda: audit.record(action="step_succeeded", incident_id=name))
        outcomes[name] = "ok"

    def bad() -> None:
        def fails() -> None:
            audit.record(action="step_failed", incident_id="BAD")
            raise ValueError("this write changes its mind")

        start.wait()
        with pytest.raises(ValueError, match="changes its mind"):
            writes.run(fails)
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
