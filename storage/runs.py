"""Runs and their step results: enqueue, claim under the concurrency limit, lease, finish."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import peewee

from storage import config_store, deferred_writes, statements
from storage.database import BaseModel, claim_lock, db, in_write_transaction, is_postgres
from storage.fields import UTCDateTimeField, utcnow
from storage.incidents import Incident
from storage.statuses import ACTIVE_RUN_STATUSES, TERMINAL_RUN_STATUSES, RunStatus, StepStatus


class Run(BaseModel):
    """One execution (or dry run) of a runbook for an incident."""

    id = peewee.AutoField()
    incident_id = peewee.CharField(max_length=128, index=True)
    runbook_id = peewee.CharField(max_length=128)
    status = peewee.CharField(max_length=32, default=RunStatus.QUEUED.value, index=True)
    dry_run = peewee.BooleanField(default=False)
    forced = peewee.BooleanField(default=False)
    requested_by = peewee.CharField(max_length=320, default="system")
    queued_at = UTCDateTimeField(default=utcnow)
    started_at = UTCDateTimeField(null=True)
    finished_at = UTCDateTimeField(null=True)
    claimed_by = peewee.CharField(max_length=128, null=True)
    lease_expires_at = UTCDateTimeField(null=True)
    message = peewee.TextField(null=True)

    class Meta:
        indexes = ((("status", "id"), False),)


# Never two queued-or-running runs for one incident, enforced by the database itself.
Run.add_index(
    Run.index(Run.incident_id, unique=True, name="run_one_active_per_incident").where(
        Run.status.in_(sorted(ACTIVE_RUN_STATUSES))
    )
)


class StepResult(BaseModel):
    id = peewee.AutoField()
    run = peewee.ForeignKeyField(Run, backref="steps", on_delete="CASCADE")
    run_id: int  # peewee's accessor for the foreign key's raw value
    position = peewee.IntegerField()
    name = peewee.CharField(max_length=200)
    kind = peewee.CharField(max_length=16)
    phase = peewee.CharField(max_length=16, default="step")  # step | rollback
    status = peewee.CharField(max_length=16, default=StepStatus.RUNNING.value)
    attempts = peewee.IntegerField(default=0)
    started_at = UTCDateTimeField(default=utcnow)
    finished_at = UTCDateTimeField(null=True)
    duration_ms = peewee.IntegerField(null=True)
    action = peewee.TextField(default="")
    output = peewee.TextField(default="")
    error = peewee.TextField(null=True)


def get(*, run_id: int) -> Run | None:
    with db.connection_context():
        return statements.select_first(Run, id=run_id)


def active_for(*, incident_id: str) -> Run | None:
    """The queued or running run of an incident, if any."""
    return statements.select_first(Run, incident_id=incident_id, status=ACTIVE_RUN_STATUSES)


def latest_for(*, incident_id: str) -> Run | None:
    with db.connection_context():
        row: Run | None = Run.select().where(Run.incident_id == incident_id).order_by(Run.id.desc()).first()
        return row


def enqueue(*, incident_id: str, runbook_id: str, dry_run: bool, forced: bool, requested_by: str) -> Run:
    """Queue a run; the partial unique index refuses a second active run of one incident."""
    return statements.create(
        Run,
        incident_id=incident_id,
        runbook_id=runbook_id,
        dry_run=dry_run,
        forced=forced,
        requested_by=requested_by,
        status=RunStatus.QUEUED,
        queued_at=utcnow(),
    )


def claim(*, owner: str, lease_seconds: float) -> list[Run]:
    """Move the oldest queued runs to running, as many as the global limit leaves room for.

    The count and the claim happen under one lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory
    transaction lock), so the limit holds across threads and processes.
    """
    with in_write_transaction():
        claim_lock()
        limit = config_store.get_global().max_concurrent_resolutions or 1
        room = limit - statements.count(Run, status=RunStatus.RUNNING)
        if room <= 0:
            return []
        queued = statements.select_all(Run, limit=room, status=RunStatus.QUEUED)
        if not queued:
            return []
        now = utcnow()
        fields = {
            "status": RunStatus.RUNNING,
            "claimed_by": owner,
            "started_at": now,
            "lease_expires_at": now + timedelta(seconds=lease_seconds),
        }
        ids = tuple(run.id for run in queued)
        if statements.update(Run, {"id": ids, "status": RunStatus.QUEUED}, **fields) != len(ids):
            return statements.select_all(Run, id=ids, claimed_by=owner, status=RunStatus.RUNNING)
        for run in queued:
            for name, value in fields.items():
                setattr(run, name, value)
        return queued


def renew_leases(*, owner: str, lease_seconds: float) -> int:
    """Extend the leases of the owner's running runs; how many. PostgreSQL: one run a transaction,
    so that the renewal never holds one run's row lock while it waits for another's. One UPDATE of
    them all did, and deadlocked with the group commit finishing two of them in its own order
    (seen twice in the storm with two processes; the server then failed one of the two)."""
    mine = {"claimed_by": owner, "status": RunStatus.RUNNING}
    until = utcnow() + timedelta(seconds=lease_seconds)
    if not is_postgres():  # one writer at a time: no row locks to wait for
        with in_write_transaction():
            return statements.update(Run, mine, lease_expires_at=until)
    with db.connection_context():
        ids = sorted(statements.column_of(Run, "id", **mine))
    renewed = 0
    for run_id in ids:
        with in_write_transaction():
            renewed += statements.update(Run, {"id": run_id, **mine}, lease_expires_at=until)
    return renewed


def expired_leases(*, now: datetime | None = None) -> list[Run]:
    """Running runs whose owner stopped renewing: their process died."""
    now = now or utcnow()
    with db.connection_context():
        return list(
            Run.select()
            .where((Run.status == RunStatus.RUNNING) & (Run.lease_expires_at < now))
            .order_by(Run.id)
        )


def finish(
    *,
    run_id: int,
    status: str,
    message: str,
    only_if: str | None = RunStatus.RUNNING,
    finished_at: datetime | None = None,
) -> bool:
    """Set a terminal status (finished now, or at `finished_at`); with `only_if`, only from that
    status (so two finishers cannot race)."""
    where: dict[str, Any] = {"id": run_id} if only_if is None else {"id": run_id, "status": only_if}
    fields = {"status": status, "message": message, "finished_at": finished_at or utcnow()}
    with in_write_transaction():
        return bool(statements.update(Run, where, **fields))


def failed_since(*, category: str, since: datetime) -> int:
    """Runs of the category's incidents that ended failed since `since` (not dry runs)."""
    with db.connection_context():
        return int(
            Run.select()
            .join(Incident, on=(Run.incident_id == Incident.incident_id))
            .where(
                (Incident.category == category)
                & (Run.status == RunStatus.FAILED)
                & (Run.finished_at >= since)
                & (Run.dry_run == False)  # noqa: E712 (SQL)
            )
            .count()
        )


def started_since(*, runbook_id: str, since: datetime, service: str | None = None) -> int:
    """Runs of the runbook queued since `since` (not dry runs, not cancelled before they started),
    for incidents of `service` when one is given."""
    query = Run.select().where(
        (Run.runbook_id == runbook_id)
        & (Run.queued_at >= since)
        & (Run.dry_run == False)  # noqa: E712 (SQL)
        & (Run.status != RunStatus.CANCELLED)
    )
    if service is not None:
        query = query.join(Incident, on=(Run.incident_id == Incident.incident_id)).where(
            Incident.service == service
        )
    return int(query.count())


def count_by_status() -> dict[str, int]:
    with db.connection_context():
        query = Run.select(Run.status, peewee.fn.COUNT(Run.id)).group_by(Run.status)
        return {str(row[0]): int(row[1]) for row in query.tuples().iterator()}


def start_step(*, run_id: int, position: int, name: str, kind: str, phase: str, action: str) -> StepResult:
    """Record that a step started; the row (a run's step is known by its position and phase, not
    its id, which is left unset) goes in with the transaction's other appended rows."""
    row = StepResult(
        run=run_id,
        position=position,
        name=name,
        kind=kind,
        phase=phase,
        action=action,
        status=RunStatus.RUNNING,
        started_at=utcnow(),
    )
    with in_write_transaction():
        deferred_writes.append(StepResult, **row.__data__)
    return row


def finish_step(*, step: StepResult, **fields: Any) -> StepResult:
    """Record how the step ended; returns the row as it now stands. The update may wait for the end
    of the transaction's appended rows (nothing reads a step back before it commits)."""
    now = utcnow()
    fields.setdefault("finished_at", now)
    fields.setdefault("duration_ms", int((now - step.started_at).total_seconds() * 1000))
    where = {"run": step.run_id, "position": step.position, "phase": step.phase}
    with in_write_transaction():
        deferred_writes.update_later(StepResult, where, **fields)
    for name, value in fields.items():
        setattr(step, name, value)
    return step


def steps_of(*, run_id: int) -> list[StepResult]:
    with db.connection_context():
        return statements.select_all(StepResult, run=run_id)


def in_flight(*, limit: int = 20) -> list[Run]:
    """Runs queued or running, oldest first."""
    with db.connection_context():
        return list(Run.select().where(Run.status.in_(ACTIVE_RUN_STATUSES)).order_by(Run.id).limit(limit))


def recently_finished(*, limit: int = 10) -> list[Run]:
    with db.connection_context():
        return list(
            Run.select().where(Run.status.in_(TERMINAL_RUN_STATUSES)).order_by(Run.id.desc()).limit(limit)
        )
