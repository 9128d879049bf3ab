"""Runs end to end through the engine, on SQLite and PostgreSQL: steps, retries, rollback, kill switch."""

from __future__ import annotations

import sys
import threading
import time
from datetime import timedelta

import pytest

from engine.audit_actions import AuditAction
from runtime import Runtime
from storage import audit, incidents, runs
from storage.database import db_connection, in_write_transaction
from storage.fields import utcnow
from storage.group_commit import GroupCommitter
from storage.runs import Run
from storage.statuses import TERMINAL_RUN_STATUSES
from tests.conftest import make_incident
from tests.support.notifier import RecordingNotifier
from tests.support.postgres import terminate_backends

pytestmark = pytest.mark.usefixtures("database")


def runbook(steps: str, category: str = "database", rb_id: str = "fix", inputs: str = "{}") -> str:
    return f"""
    runbooks:
      - id: {rb_id}
        category: {category}
        inputs: {inputs}
        steps: {steps}
    """


def finish(runtime: Runtime, incident_id: str = "INC-1", timeout: float = 20) -> Run:
    """Wait for the incident's latest run to end and return it."""
    latest = runs.latest_for(incident_id=incident_id)
    assert latest is not None, "no run was queued"
    run = runtime.resolution.wait_for_run(latest.id, timeout)
    assert run.status in TERMINAL_RUN_STATUSES, f"run still {run.status}"
    return run


def actions(incident_id: str = "INC-1") -> list[str]:
    return [row.action for row in audit.for_incident(incident_id=incident_id)]


def notifier_of(runtime: Runtime) -> RecordingNotifier:
    assert isinstance(runtime.notifier, RecordingNotifier)
    return runtime.notifier


def test_high_confidence_incident_is_resolved_and_the_creator_told(engine, http_server):
    runtime = engine(
        runbook(
            f"""
            - {{name: Check, http: {{url: "{http_server.url}/health/{{service}}"}}}}
            - {{name: Record, log: "done {{incident_id}}"}}
            """
        )
    )
    submission = runtime.resolution.submit(make_incident())
    assert submission.decision.outcome == "queued"
    run = finish(runtime)

    assert run.status == "resolved"
    assert run.message == "All 2 step(s) succeeded"
    stored = incidents.get(incident_id="INC-1")
    assert stored is not None
    assert (stored.status, stored.auto_resolved, stored.resolution_status) == (
        "auto_resolved",
        True,
        "resolved",
    )
    assert stored.resolved_at is not None
    assert http_server.paths() == ["/health/orders-db"]
    assert [(s.name, s.status, s.attempts) for s in runs.steps_of(run_id=run.id)] == [
        ("Check", "succeeded", 1),
        ("Record", "succeeded", 1),
    ]
    assert actions() == [
        "incident_received",
        "auto_resolution_queued",
        "auto_resolution_attempted",
        "step_started",
        "step_succeeded",
        "step_started",
        "step_succeeded",
        "auto_resolution_success",
        "outcome_recorded",  # resolved; fixed once it holds through the settle window
        "notification_sent",
    ]
    dm = notifier_of(runtime).dms[0]
    assert (dm.incident_id, dm.status, dm.runbook_id, dm.created_by) == (
        "INC-1",
        "resolved",
        "fix",
        "U012ABCDEF",
    )
    assert [s.name for s in dm.steps] == ["Check", "Record"]


def test_failed_step_never_reports_success(engine, http_server):
    runtime = engine(runbook(f'[{{name: Check, http: {{url: "{http_server.url}/status/500"}}, retries: 0}}]'))
    runtime.resolution.submit(make_incident())
    run = finish(runtime)
    assert run.status == "failed"
    assert run.message == "Step 1 (Check) failed"
    stored = incidents.get(incident_id="INC-1")
    assert stored is not None
    assert (stored.status, stored.auto_resolved, stored.resolution_status) == ("open", False, "failed")
    assert "auto_resolution_success" not in actions()
    assert "auto_resolution_failed" in actions()
    assert notifier_of(runtime).dms[0].status == "failed"


def test_retries_back_off_exponentially_then_succeed(engine, http_server):
    runtime = engine(
        runbook(
            f'[{{name: Flaky, http: {{url: "{http_server.url}/flaky/a/2"}}, retries: 2, backoff: 200ms}}]'
        )
    )
    runtime.resolution.submit(make_incident())
    run = finish(runtime)
    assert run.status == "resolved"
    (step,) = runs.steps_of(run_id=run.id)
    assert step.attempts == 3
    times = [r.at for r in http_server.requests]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.2
    assert times[2] - times[1] >= 0.4  # doubled
    assert actions().count(AuditAction.STEP_RETRY) == 2


def test_category_max_retry_attempts_applies_when_the_step_sets_none(engine, http_server):
    runtime = engine(
        runbook(f'[{{name: Down, http: {{url: "{http_server.url}/status/503"}}, backoff: 10ms}}]')
    )
    runtime.configuration.update_category(
        category="database", actor="U0ADMIN", changes={"max_retry_attempts": 1}
    )
    runtime.resolution.submit(make_incident())
    run = finish(runtime)
    assert run.status == "failed"
    (step,) = runs.steps_of(run_id=run.id)
    assert step.attempts == 2
    assert len(http_server.requests) == 2


def test_failure_rolls_back_completed_steps_in_reverse_order(engine, http_server):
    url = http_server.url
    runtime = engine(
        runbook(
            f"""
            - {{name: One, log: one, rollback: {{http: {{url: "{url}/undo/1"}}}}}}
            - {{name: Two, log: two}}
            - {{name: Three, log: three, rollback: {{http: {{url: "{url}/undo/3"}}}}}}
            - {{name: Four, http: {{url: "{url}/status/500"}}, retries: 0}}
            - {{name: Five, http: {{url: "{url}/never"}}}}
            """
        )
    )
    runtime.resolution.submit(make_incident())
    run = finish(runtime)
    assert run.status == "failed"
    assert run.message == "Step 4 (Four) failed; rolled back 2 of 2 step(s)"
    assert http_server.paths() == ["/status/500", "/undo/3", "/undo/1"]
    rollbacks = [(s.name, s.status) for s in runs.steps_of(run_id=run.id) if s.phase == "rollback"]
    assert rollbacks == [("Three", "succeeded"), ("One", "succeeded")]
    trail = actions()
    assert trail.count("rollback_started") == 2
    assert trail.count("rollback_succeeded") == 2


def test_failed_rollback_is_reported(engine, http_server):
    url = http_server.url
    runtime = engine(
        runbook(
            f"""
            - {{name: One, log: one, rollback: {{http: {{url: "{url}/status/500"}}}}}}
            - {{name: Two, http: {{url: "{url}/status/500"}}, retries: 0}}
            """
        )
    )
    runtime.resolution.submit(make_incident())
    run = finish(runtime)
    assert run.message == "Step 2 (Two) failed; rolled back 0 of 1 step(s), 1 rollback(s) failed"
    assert "rollback_failed" in actions()


def test_kill_switch_stops_a_run_at_the_next_step_without_undoing(engine, http_server):
    url = http_server.url
    runtime = engine(
        runbook(
            f"""
            - {{name: Slow, http: {{url: "{url}/hold/k"}}, rollback: {{http: {{url: "{url}/undo"}}}}}}
            - {{name: Next, http: {{url: "{url}/next"}}}}
            """
        ),
        kill_switch_poll_seconds=10,  # read at the step boundary, not while Slow runs
    )
    runtime.resolution.submit(make_incident())
    assert http_server.arrival("k").wait(10)
    runtime.configuration.activate_kill_switch(actor="U0ONCALL", reason="misbehaving")
    http_server.release("k")
    run = finish(runtime)
    assert run.status == "halted"
    assert run.message == (
        "Halted by the kill switch before step 2 (Next); completed: 1 (Slow); rollbacks not run: 1 (Slow)"
    )
    assert http_server.paths() == ["/hold/k"]  # no next step, no rollback
    stored = incidents.get(incident_id="INC-1")
    assert stored is not None
    assert stored.resolution_status == "halted"
    assert notifier_of(runtime).dms[0].status == "halted"
    assert "auto_resolution_halted" in actions()


def test_kill_switch_stops_a_step_while_it_runs_and_starts_no_rollback(engine, http_server):
    url = http_server.url
    runtime = engine(
        runbook(
            f"""
            - {{name: One, log: one, rollback: {{http: {{url: "{url}/undo"}}}}}}
            - {{name: Two, http: {{url: "{url}/hold/k"}}, timeout: 60s}}
            """
        ),
        kill_switch_poll_seconds=0.05,
    )
    runtime.resolution.submit(make_incident())
    assert http_server.arrival("k").wait(10)
    runtime.configuration.activate_kill_switch(actor="U0ONCALL", reason="misbehaving")
    run = finish(runtime)  # while the request is still held: the switch ended the step
    http_server.release("k")
    assert run.status == "halted"
    assert run.message == (
        "Halted by the kill switch during step 2 (Two); completed: 1 (One); rollbacks not run: 1 (One)"
    )
    assert http_server.paths() == ["/hold/k"]
    steps = [(s.name, s.phase, s.status) for s in runs.steps_of(run_id=run.id)]
    assert steps == [("One", "step", "succeeded"), ("Two", "step", "halted")]
    assert notifier_of(runtime).dms[0].message == run.message


def test_a_step_failing_after_the_switch_is_pulled_starts_no_rollback(engine, http_server):
    url = http_server.url
    runtime = engine(
        runbook(
            f"""
            - {{name: One, log: one, rollback: {{http: {{url: "{url}/undo"}}}}}}
            - {{name: Two, http: {{url: "{url}/hold/k", expect_status: [204]}}, retries: 0}}
            """
        ),
        kill_switch_poll_seconds=10,  # the step is not stopped: it fails, with the switch on
    )
    runtime.resolution.submit(make_incident())
    assert http_server.arrival("k").wait(10)
    runtime.configuration.activate_kill_switch(actor="U0ONCALL", reason="misbehaving")
    http_server.release("k")
    run = finish(runtime)
    assert run.status == "halted"
    assert run.message == (
        "Halted by the kill switch after step 2 (Two) failed; completed: 1 (One); rollbacks not run: 1 (One)"
    )
    assert http_server.paths() == ["/hold/k"]  # the rollback of One never ran
    assert "rollback_started" not in actions()


def test_an_unexpected_exception_in_a_step_rolls_back_and_fails_the_run(engine, http_server):
    url = http_server.url
    runtime = engine(
        runbook(
            f"""
            - {{name: One, log: one, rollback: {{http: {{url: "{url}/undo"}}}}}}
            - {{name: Probe, http: {{url: "http://{{labels[host]}}/health"}}, retries: 0}}
            """,
            inputs='{"labels[host]": {pattern: "[a-z-]+"}}',
        )
    )
    runtime.resolution.submit(make_incident(labels={"host": "xn--"}))
    run = finish(runtime)
    assert run.status == "failed"
    assert run.message == "Step 2 (Probe) failed; rolled back 1 of 1 step(s)"
    assert http_server.paths() == ["/undo"]
    [failed] = audit.query(action="step_failed")
    assert (failed.error_message or "").startswith("unexpected error: IDNAError")


def test_kill_switch_skips_new_incidents_and_expires(engine):
    runtime = engine(runbook("[{name: A, log: a}]"))
    runtime.configuration.activate_kill_switch(actor="U0ONCALL", reason="test", duration=timedelta(seconds=1))
    submission = runtime.resolution.submit(make_incident())
    assert submission.decision.reason == "Auto-resolution is globally disabled (kill switch active)"
    assert submission.run_id is None
    deadline = time.monotonic() + 10
    while not audit.query(action="kill_switch_expired") and time.monotonic() < deadline:
        time.sleep(0.1)  # the worker's periodic job turns it off
    (expired,) = audit.query(action="kill_switch_expired")
    assert expired.details["activated_by"] == "U0ONCALL"
    assert runtime.configuration.expire_kill_switch() is False  # once only
    assert [k.active for k in notifier_of(runtime).kill_switch] == [True, False]
    assert runtime.resolution.submit(make_incident()).decision.outcome == "queued"


def test_dry_run_records_what_would_run_and_runs_nothing(engine, http_server):
    runtime = engine(
        runbook(
            f"""
            - {{name: Call, http: {{url: "{http_server.url}/x/{{service}}"}}}}
            - {{name: Cmd, command: ["touch", "/tmp/autoresolve-dry-run-must-not-exist"]}}
            """
        )
    )
    runtime.configuration.update_category(category="database", actor="U0ADMIN", changes={"dry_run": True})
    runtime.resolution.submit(make_incident())
    run = finish(runtime)
    assert run.status == "dry_run"
    assert run.dry_run is True
    assert http_server.requests == []
    steps = runs.steps_of(run_id=run.id)
    assert [(s.status, s.action) for s in steps] == [
        ("would_run", f"GET {http_server.url}/x/orders-db"),
        ("would_run", "touch /tmp/autoresolve-dry-run-must-not-exist"),
    ]
    stored = incidents.get(incident_id="INC-1")
    assert stored is not None
    assert (stored.status, stored.auto_resolved) == ("open", False)
    assert notifier_of(runtime).dms == []


def test_notification_required_false_sends_no_dm(engine):
    runtime = engine(runbook("[{name: A, log: a}]"))
    runtime.configuration.update_category(
        category="database", actor="U0ADMIN", changes={"notification_required": False}
    )
    runtime.resolution.submit(make_incident())
    assert finish(runtime).status == "resolved"
    assert notifier_of(runtime).dms == []
    assert [r.status for r in notifier_of(runtime).runs] == ["running", "resolved"]


def test_the_same_incident_posted_twice_runs_once(engine):
    runtime = engine(runbook("[{name: A, log: a}]"))
    runtime.resolution.submit(make_incident())
    finish(runtime)
    again = runtime.resolution.submit(make_incident())
    assert again.run_id is None
    assert again.decision.reason == "Incident already in status: auto_resolved"
    with db_connection():
        assert Run.select().count() == 1


def test_concurrent_deliveries_of_one_incident_give_one_run(engine, http_server):
    runtime = engine(runbook(f'[{{name: Slow, http: {{url: "{http_server.url}/slow/0.3"}}}}]'))
    barrier = threading.Barrier(10)
    outcomes: list[str] = []
    lock = threading.Lock()

    def deliver() -> None:
        barrier.wait()
        with db_connection():
            outcome = runtime.resolution.submit(make_incident()).decision.outcome
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=deliver) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["queued"] + ["skipped"] * 9
    finish(runtime)
    with db_connection():
        assert Run.select().count() == 1
    assert len(http_server.requests) == 1


def test_force_runs_below_the_threshold(engine):
    runtime = engine(runbook("[{name: A, log: a}]"))
    low = make_incident(confidence_score=0.4)
    assert runtime.resolution.submit(low).decision.outcome == "skipped"
    forced = runtime.resolution.submit(low, actor="U0ADMIN", force=True)
    assert forced.decision.outcome == "queued"
    run = finish(runtime)
    assert (run.status, run.forced, run.requested_by) == ("resolved", True, "U0ADMIN")


def test_a_missing_placeholder_value_fails_the_step_before_running(engine, http_server):
    runtime = engine(runbook(f'[{{name: A, http: {{url: "{http_server.url}/{{labels[zone]}}"}}}}]'))
    runtime.resolution.submit(make_incident())
    run = finish(runtime)
    assert run.status == "failed"
    (step,) = runs.steps_of(run_id=run.id)
    assert step.error == "refused: {labels[zone]}: the incident has no label 'zone'"
    assert http_server.requests == []


def test_never_more_than_max_concurrent_runs_and_none_dropped(engine, http_server):
    limit = 3
    runtime = engine(runbook(f'[{{name: Slow, http: {{url: "{http_server.url}/slow/0.4"}}}}]'))
    runtime.configuration.update_global(actor="U0ADMIN", changes={"max_concurrent_resolutions": limit})
    ids = [f"INC-{n}" for n in range(limit + 5)]
    for incident_id in ids:
        runtime.resolution.submit(make_incident(incident_id=incident_id))
    finished = [finish(runtime, incident_id) for incident_id in ids]
    assert [run.status for run in finished] == ["resolved"] * len(ids)
    assert http_server.max_in_flight == limit
    assert len(http_server.requests) == len(ids)
    started = sorted(run.started_at for run in finished)
    assert started == [run.started_at for run in sorted(finished, key=lambda r: r.id)]  # in order


def test_a_run_whose_owner_died_is_marked_interrupted_not_rerun(engine):
    runtime = engine(runbook("[{name: A, log: a}]"))
    runtime.configuration.activate_kill_switch(actor="t", reason="keep the worker off this run")
    runtime.resolution.submit(make_incident())  # skipped; now plant a run a dead process had claimed
    with in_write_transaction():
        run = runs.enqueue(
            incident_id="INC-1", runbook_id="fix", dry_run=False, forced=False, requested_by="system"
        )
        Run.update(
            status="running", claimed_by="dead-host:1", lease_expires_at=utcnow() - timedelta(seconds=1)
        ).where(Run.id == run.id).execute()
    assert runtime.worker.sweep_expired_leases() == 1
    swept = runs.get(run_id=run.id)
    assert swept is not None
    assert swept.status == "interrupted"
    assert "dead-host:1" in (swept.message or "")
    assert runs.steps_of(run_id=run.id) == []
    assert [r.status for r in notifier_of(runtime).runs] == ["interrupted"]
    assert runtime.worker.sweep_expired_leases() == 0


def test_a_later_delivery_refreshes_an_open_incident_and_decides_again(engine):
    runtime = engine(runbook("[{name: A, log: a}]"))
    first = runtime.resolution.submit(make_incident(confidence_score=0.5))
    assert first.decision.outcome == "skipped"
    second = runtime.resolution.submit(
        make_incident(confidence_score=0.97, title="Connection pool exhausted again")
    )
    assert second.decision.outcome == "queued"
    finish(runtime)
    third = runtime.resolution.submit(make_incident(title="changed after resolution"))
    assert third.decision.reason == "Incident already in status: auto_resolved"
    stored = incidents.get(incident_id="INC-1")
    assert stored is not None
    assert (stored.title, stored.confidence_score) == ("Connection pool exhausted again", 0.97)


def test_a_killed_database_connection_is_survived(engine, http_server, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("pg_terminate_backend is PostgreSQL's")
    runtime = engine(
        runbook(
            f"""
            - {{name: Hold, http: {{url: "{http_server.url}/hold/db"}}}}
            - {{name: After, log: "still here"}}
            """
        )
    )
    runtime.resolution.submit(make_incident())
    assert http_server.arrival("db").wait(10)
    killed = terminate_backends(database_url)
    assert len(killed) >= 1  # the bot's pooled connections are gone
    http_server.release("db")
    run = finish(runtime)
    assert run.status == "resolved"
    assert [s.status for s in runs.steps_of(run_id=run.id)] == ["succeeded", "succeeded"]
    assert "auto_resolution_success" in actions()


STEP_ON_RECORD = """
import sys

url = sys.argv[1]
if url.startswith("sqlite:///"):
    import sqlite3

    connection = sqlite3.connect(url[len("sqlite:///") :])
else:
    import psycopg2

    connection = psycopg2.connect(url)
cursor = connection.cursor()
cursor.execute("SELECT name, status FROM step_result WHERE phase = 'step' ORDER BY position")
steps = cursor.fetchall()
cursor.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'step_started'")
started = cursor.fetchone()[0]
print(steps, started)
sys.exit(0 if steps == [("Note", "succeeded"), ("Look", "running")] and started == 2 else 3)
"""


class SlowCommitter(GroupCommitter):
    """Commits like the real one, a while after each group is handed over (a busy database)."""

    @classmethod
    def _commit(cls, group):
        time.sleep(0.3)
        super()._commit(group)


def test_a_step_that_reaches_outside_starts_on_record(engine, database_url, tmp_path):
    """Run stages are written ahead without waiting, but a command runs only once its start (and
    everything before it) is committed: the command itself reads the database from outside."""
    script = tmp_path / "step_on_record.py"
    script.write_text(STEP_ON_RECORD)
    runtime = engine(
        runbook(
            f"""
            - {{name: Note, log: "looking"}}
            - {{name: Look, command: ["{sys.executable}", "{script}", "{database_url}"], retries: 0}}
            """
        )
    )
    runtime.worker.executor.writes = SlowCommitter()
    runtime.resolution.submit(make_incident())
    run = finish(runtime)
    steps = runs.steps_of(run_id=run.id)
    assert run.status == "resolved", steps[-1].output
    assert steps[-1].output.strip() == "[('Note', 'succeeded'), ('Look', 'running')] 2"
