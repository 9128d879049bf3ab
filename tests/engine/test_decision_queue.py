"""Group commit of deliveries, on SQLite and PostgreSQL: concurrent callers each get their own
outcomes in order, duplicates across and within deliveries are decided once, and a refusal stays
with its item."""

from __future__ import annotations

import threading
from concurrent.futures import Future

import pytest

from engine.errors import InvalidInput
from engine.submissions import Submission, SubmitRequest
from storage.database import db_connection
from storage.incidents import Incident
from storage.runs import Run
from tests.conftest import make_incident

pytestmark = pytest.mark.usefixtures("database")

RUNBOOK = """
runbooks:
  - id: fix
    category: database
    steps: [{name: a, log: b}]
"""


def test_concurrent_deliveries_each_get_their_own_outcomes_in_order(engine):
    runtime = engine(RUNBOOK)
    deliveries = [
        [SubmitRequest(make_incident(incident_id=f"Q-{d}-{n}"), "webhook") for n in range(3)]
        for d in range(20)
    ]
    futures: list[Future[list[Submission | InvalidInput]]] = [None] * len(deliveries)  # type: ignore[list-item]
    start = threading.Barrier(len(deliveries))

    def send(index: int) -> None:
        start.wait()
        futures[index] = runtime.resolution.decide(deliveries[index])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(deliveries))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for requests, future in zip(deliveries, futures, strict=True):
        outcomes = future.result(timeout=30)
        assert [o.incident_id for o in outcomes if isinstance(o, Submission)] == [
            r.incident.incident_id for r in requests
        ]
        assert all(isinstance(o, Submission) and o.created for o in outcomes)


def test_the_same_incident_in_several_deliveries_runs_once(engine):
    runtime = engine(RUNBOOK)
    same = SubmitRequest(make_incident(incident_id="DUP-1"), "webhook")
    futures = [runtime.resolution.decide([same, same]) for _ in range(5)]
    outcomes = [o for f in futures for o in f.result(timeout=30)]
    assert all(isinstance(o, Submission) for o in outcomes)
    assert sum(1 for o in outcomes if isinstance(o, Submission) and o.created) == 1
    assert sum(1 for o in outcomes if isinstance(o, Submission) and o.run_id is not None) == 1
    with db_connection():
        assert Run.select().where(Run.incident_id == "DUP-1").count() == 1


def test_an_incident_delivered_again_in_the_same_delivery_is_refreshed_and_decided_again(engine):
    runtime = engine(RUNBOOK)
    low = SubmitRequest(make_incident(incident_id="TWICE-1", confidence_score=0.5), "webhook")
    high = SubmitRequest(make_incident(incident_id="TWICE-1", confidence_score=0.95), "webhook")
    first, second = runtime.resolution.decide([low, high]).result(timeout=30)
    assert isinstance(first, Submission)
    assert isinstance(second, Submission)
    assert (first.created, first.decision.outcome.value) == (True, "skipped")
    assert (second.created, second.decision.outcome.value) == (False, "queued")
    assert second.run_id is not None
    with db_connection():
        (stored,) = Incident.select().where(Incident.incident_id == "TWICE-1")
        # decided again: its run is queued, or the running worker has taken it already
        assert stored.confidence_score == 0.95
        assert stored.resolution_status in {"queued", "running", "resolved"}
        assert Run.select().where(Run.incident_id == "TWICE-1").count() == 1


def test_the_same_fingerprint_twice_in_one_delivery_is_one_incident(engine):
    runtime = engine(RUNBOOK)
    first, second = runtime.resolution.decide(
        [
            SubmitRequest(make_incident(incident_id="FP-1", fingerprint="disk-full-db1"), "webhook"),
            SubmitRequest(make_incident(incident_id="FP-2", fingerprint="disk-full-db1"), "webhook"),
        ]
    ).result(timeout=30)
    assert isinstance(first, Submission)
    assert isinstance(second, Submission)
    assert (second.incident_id, second.decision.outcome.value) == ("FP-1", "duplicate")
    with db_connection():
        assert [i.incident_id for i in Incident.select()] == ["FP-1"]


def test_an_unknown_category_refuses_that_item_only(engine):
    runtime = engine(RUNBOOK)
    outcomes = runtime.resolution.decide(
        [
            SubmitRequest(make_incident(incident_id="OK-1"), "webhook"),
            SubmitRequest(make_incident(incident_id="BAD-1", category="no-such"), "webhook"),
            SubmitRequest(make_incident(incident_id="OK-2"), "webhook"),
        ]
    ).result(timeout=30)
    assert [type(o).__name__ for o in outcomes] == ["Submission", "InvalidInput", "Submission"]
    refused = outcomes[1]
    assert isinstance(refused, InvalidInput)
    assert refused.field == "category"
