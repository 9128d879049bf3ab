"""Renewing a process's run leases never deadlocks with a transaction that changes its runs in
another order (the group commit finishing runs), on PostgreSQL, where rows are locked one by one."""

from __future__ import annotations

import threading

import psycopg2
import pytest

from storage import runs, statements
from storage.database import is_postgres
from storage.runs import Run
from storage.statuses import RunStatus
from tests.conftest import eventually

pytestmark = pytest.mark.usefixtures("database")
OWNER = "host:1:abc"


def running(incident_id: str) -> int:
    run = runs.enqueue(
        incident_id=incident_id, runbook_id="fix", dry_run=False, forced=False, requested_by="t"
    )
    statements.update(Run, {"id": run.id}, status=RunStatus.RUNNING, claimed_by=OWNER)
    return run.id


def test_a_renewal_waiting_for_a_run_another_transaction_holds_holds_no_other_run_meanwhile(database_url):
    if not is_postgres():
        pytest.skip("SQLite has one writer at a time and no row locks")
    first, second = running("INC-1"), running("INC-2")
    other = psycopg2.connect(database_url)  # as the group commit: holds the second run's row
    cursor = other.cursor()
    cursor.execute("UPDATE run SET message = 'step' WHERE id = %s", (second,))
    renewed: list[int] = []
    renewal = threading.Thread(
        target=lambda: renewed.append(runs.renew_leases(owner=OWNER, lease_seconds=60)), daemon=True
    )
    renewal.start()
    watcher = psycopg2.connect(database_url)
    watcher.autocommit = True  # each look a statement of its own (a transaction keeps its first snapshot)

    def renewal_waits() -> bool:
        with watcher.cursor() as look:
            look.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE \"run\"%%'"
            )
            return bool(look.fetchone()[0])

    eventually(renewal_waits)
    watcher.close()
    cursor.execute("SET lock_timeout = '5s'")
    cursor.execute("UPDATE run SET message = 'done' WHERE id = %s", (first,))  # then the first: no cycle
    other.commit()
    other.close()
    renewal.join(10)
    assert renewed == [2]
    row = statements.select_first(Run, id=first)
    assert row is not None
    assert row.message == "done"
