"""Audit queries: every filter, newest first, paging, one query each, and reading changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playhouse.test_utils import count_queries

from storage import audit
from storage.audit import AuditEntry
from storage.database import db
from storage.fields import utcnow

pytestmark = pytest.mark.usefixtures("database")


@pytest.fixture
def trail() -> None:
    for n in range(12):
        audit.record(
            action="step_started" if n % 3 else "auto_resolution_queued",
            incident_id=f"INC-{n % 2}",
            actor="U0ADMIN" if n == 5 else "system",
            details={"n": n},
        )


def test_newest_first_by_insertion_order(trail):
    rows = audit.query(limit=100)
    assert [r.details["n"] for r in rows] == list(range(11, -1, -1))


def test_filters_combine(trail):
    rows = audit.query(incident_id="INC-1", action="step_started")
    assert [r.details["n"] for r in rows] == [11, 7, 5, 1]
    assert [r.details["n"] for r in audit.query(actor="U0ADMIN")] == [5]


def test_date_range_filters(trail):
    now = utcnow()
    assert len(audit.query(start_date=now - timedelta(minutes=5), end_date=now + timedelta(minutes=5))) == 12
    assert audit.query(start_date=now + timedelta(minutes=5)) == []
    assert audit.query(end_date=now - timedelta(minutes=5)) == []


def test_paging(trail):
    first = audit.query(limit=5, offset=0)
    second = audit.query(limit=5, offset=5)
    third = audit.query(limit=5, offset=10)
    assert [r.details["n"] for r in first + second + third] == list(range(11, -1, -1))


def test_incident_trail_is_oldest_first(trail):
    assert [r.details["n"] for r in audit.for_incident(incident_id="INC-0")] == [0, 2, 4, 6, 8, 10]


def test_each_query_is_one_statement(trail):
    with db.connection_context():
        with count_queries() as counter:
            audit.for_incident(incident_id="INC-0")
        assert counter.count == 1
        with count_queries() as counter:
            audit.query(incident_id="INC-1", action="step_started", limit=10)
        assert counter.count == 1


def test_reading_never_changes_the_trail(trail):
    def snapshot() -> list[tuple]:
        with db.connection_context():
            return [tuple(row.__data__.items()) for row in AuditEntry.select().order_by(AuditEntry.id)]

    before = snapshot()
    audit.query(incident_id="INC-1")
    audit.for_incident(incident_id="INC-0")
    assert snapshot() == before
