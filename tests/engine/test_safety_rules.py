"""The rules that keep automation from running when it must not, on SQLite and PostgreSQL: holds,
approval digests and expiry, cancellation by the source, failure budgets and run limits."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.approvals import expire_approvals
from runtime import Runtime
from storage import audit, config_store, incidents, runs
from storage.database import db_connection
from storage.fields import utcnow
from tests.conftest import eventually, make_incident
from tests.support.notifier import RecordingNotifier

pytestmark = pytest.mark.usefixtures("database")

FAILING = """
runbooks:
  - id: fix
    category: database
    steps: [{name: Fail, command: ["false"], retries: 0}]
"""


def status_of(incident_id: str = "INC-1") -> str:
    row = incidents.get(incident_id=incident_id)
    assert row is not None
    return row.resolution_status


def test_a_held_incident_runs_again_only_for_a_person(engine):
    runtime: Runtime = engine(FAILING)
    runtime.resolution.submit(make_incident())
    eventually(lambda: status_of() == "failed")
    again = runtime.resolution.submit(make_incident())
    assert (again.decision.outcome, again.decision.gate, again.run_id) == ("skipped", "held", None)
    row = incidents.get(incident_id="INC-1")
    assert row is not None
    assert (row.resolution_status, row.held_deliveries) == ("failed", 1)
    by_person = runtime.resolution.submit(make_incident(), actor="U0ADMIN", by_person=True)
    assert by_person.decision.outcome == "queued"


def test_the_failure_budget_pauses_the_category(engine):
    runtime: Runtime = engine(FAILING)
    with db_connection():
        runtime.configuration.update_category(
            category="database", actor="U0ADMIN", changes={"failure_budget": 2}
        )
    for incident_id in ("INC-1", "INC-2"):
        runtime.resolution.submit(make_incident(incident_id=incident_id))
        eventually(lambda i=incident_id: status_of(i) == "failed")  # type: ignore[misc]
    eventually(lambda: config_store.get_category(category="database").paused_reason)  # type: ignore[union-attr]
    notifier = runtime.notifier
    assert isinstance(notifier, RecordingNotifier)
    assert [(p.category, p.failures, p.budget) for p in notifier.pauses] == [("database", 2, 2)]
    third = runtime.resolution.submit(make_incident(incident_id="INC-3"))
    assert (third.decision.outcome, third.decision.gate) == ("skipped", "paused")


def test_run_limits_count_per_runbook_and_per_service(engine):
    runtime: Runtime = engine(
        """
        runbooks:
          - id: fix
            category: database
            limit: {runs: 3, per: 1h, per_service: 1}
            steps: [{name: Say, log: hi}]
        """
    )
    assert (
        runtime.resolution.submit(make_incident(incident_id="A", service="s1")).decision.outcome == "queued"
    )
    second = runtime.resolution.submit(make_incident(incident_id="B", service="s1"))
    assert (second.decision.outcome, second.decision.gate) == ("awaiting_approval", "rate_limit")
    assert (
        runtime.resolution.submit(make_incident(incident_id="C", service="s2")).decision.outcome == "queued"
    )
    assert (
        runtime.resolution.submit(make_incident(incident_id="D", service="s3")).decision.outcome == "queued"
    )
    fourth = runtime.resolution.submit(make_incident(incident_id="E", service="s4"))
    assert fourth.decision.reason.startswith("Rate limit: runbook fix started 3 run(s) within 1.0h")


def test_an_unanswered_approval_expires_after_its_categorys_time(engine):
    runtime: Runtime = engine(FAILING)
    with db_connection():
        runtime.configuration.update_category(
            category="database",
            actor="U0ADMIN",
            changes={"approval_floor": 0.5, "approval_timeout_seconds": 600},
        )
    assert (
        runtime.resolution.submit(make_incident(confidence_score=0.7)).decision.outcome == "awaiting_approval"
    )
    notifier = runtime.resolution.notifier
    with db_connection():
        assert expire_approvals(notifier, now=utcnow() + timedelta(seconds=599)) == 0
        assert expire_approvals(notifier, now=utcnow() + timedelta(seconds=601)) == 1
        assert expire_approvals(notifier, now=utcnow() + timedelta(seconds=601)) == 0  # once only
    assert status_of() == "approval_expired"
    assert [row.action for row in audit.query(action="approval_expired")] == ["approval_expired"]
    held = runtime.resolution.submit(make_incident(confidence_score=0.7))
    assert held.decision.gate == "held"


def test_the_source_saying_it_is_gone_cancels_a_queued_run(engine, http_server):
    runtime: Runtime = engine(
        f"""
        runbooks:
          - id: fix
            category: database
            steps: [{{name: Hold, http: {{url: "{http_server.url}/hold/k"}}}}]
        """
    )
    with db_connection():
        runtime.configuration.update_global(actor="t", changes={"max_concurrent_resolutions": 1})
    runtime.resolution.submit(make_incident(incident_id="INC-1"))
    assert http_server.arrival("k").wait(10)
    queued = runtime.resolution.submit(make_incident(incident_id="INC-2"))
    assert queued.decision.outcome == "queued"
    decision = runtime.resolution.source_resolved("INC-2", actor="alertmanager", reason="Alert resolved")
    assert decision is not None
    assert (decision.outcome, decision.reason) == (
        "cancelled",
        "Alert resolved: its queued run was cancelled",
    )
    run = runs.get(run_id=queued.run_id or 0)
    assert run is not None
    assert run.status == "cancelled"
    running = runtime.resolution.source_resolved("INC-1", actor="alertmanager", reason="Alert resolved")
    assert running is not None
    assert running.reason == "Alert resolved; its run under way finishes"
    http_server.release("k")
    eventually(lambda: status_of("INC-1") == "resolved")
    assert status_of("INC-2") == "cancelled"
