"""Versioned schema migrations: each upgrades a database in place, in one transaction, keeping its rows.

Each migration works on frozen table definitions of its own: the models in storage/models.py move on,
a migration never does. Migration 1 is the schema of the seed system this bot grew from, so a seed
database upgrades like any other. Add a migration by appending to MIGRATIONS; never edit a shipped one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import peewee
from playhouse.migrate import SchemaMigrator, migrate

from storage.database import db, is_postgres, write_transaction
from storage.fields import JSONField, UTCDateTimeField, utcnow
from storage.models import SchemaVersion

log = logging.getLogger(__name__)

SEED_CATEGORIES = (
    "network",
    "database",
    "application",
    "security",
    "infrastructure",
    "user_access",
)
MIGRATION_LOCK_KEY = 0x4D494752


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[], None]


def _seed_schema() -> None:
    """Version 1: the seed's incidents, audit log, category and global configuration."""

    class Frozen(peewee.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class Incident(Frozen):
        incident_id = peewee.CharField(max_length=128, unique=True)
        title = peewee.CharField(max_length=500)
        description = peewee.TextField(default="")
        category = peewee.CharField(max_length=64, index=True)
        priority = peewee.CharField(max_length=16)
        status = peewee.CharField(max_length=32, default="open")
        confidence_score = peewee.DoubleField()
        created_by = peewee.CharField(max_length=320)
        created_at = UTCDateTimeField(default=utcnow)
        updated_at = UTCDateTimeField(default=utcnow)
        resolved_at = UTCDateTimeField(null=True)
        auto_resolved = peewee.BooleanField(default=False)
        tags = JSONField(default=list)

    class AuditLog(Frozen):
        audit_id = peewee.CharField(max_length=32, unique=True)
        timestamp = UTCDateTimeField(default=utcnow, index=True)
        action = peewee.CharField(max_length=64)
        incident_id = peewee.CharField(max_length=128, null=True)
        actor = peewee.CharField(max_length=320, default="system")
        confidence_score = peewee.DoubleField(null=True)
        details = JSONField(default=dict)
        success = peewee.BooleanField(default=True)
        error_message = peewee.TextField(null=True)

        class Meta:
            table_name = "audit_log"

    class CategoryConfig(Frozen):
        category = peewee.CharField(max_length=64, primary_key=True)
        auto_resolution_enabled = peewee.BooleanField(default=True)
        confidence_threshold = peewee.DoubleField(default=0.90)
        max_retry_attempts = peewee.IntegerField(default=3)
        notification_required = peewee.BooleanField(default=True)
        updated_at = UTCDateTimeField(default=utcnow)

        class Meta:
            table_name = "category_config"

    class GlobalConfig(Frozen):
        global_enabled = peewee.BooleanField(default=True)
        default_confidence_threshold = peewee.DoubleField(default=0.90)
        max_concurrent_resolutions = peewee.IntegerField(default=10)
        notification_recipients = JSONField(default=list)
        updated_at = UTCDateTimeField(default=utcnow)

        class Meta:
            table_name = "global_config"

    db.create_tables([Incident, AuditLog, CategoryConfig, GlobalConfig])
    CategoryConfig.insert_many([{"category": name} for name in SEED_CATEGORIES]).execute()
    GlobalConfig.create(id=1)


def _autoresolve_schema() -> None:
    """Version 2: runs and their steps, incident routing fields, dry run, approval, the kill switch."""

    class Frozen(peewee.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class Run(Frozen):
        incident_id = peewee.CharField(max_length=128, index=True)
        runbook_id = peewee.CharField(max_length=128)
        status = peewee.CharField(max_length=32, default="queued", index=True)
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

    Run.add_index(
        Run.index(Run.incident_id, unique=True, name="run_one_active_per_incident").where(
            Run.status.in_(("queued", "running"))
        )
    )

    class StepResult(Frozen):
        run = peewee.ForeignKeyField(Run, backref="steps", on_delete="CASCADE")
        position = peewee.IntegerField()
        name = peewee.CharField(max_length=200)
        kind = peewee.CharField(max_length=16)
        phase = peewee.CharField(max_length=16, default="step")
        status = peewee.CharField(max_length=16, default="running")
        attempts = peewee.IntegerField(default=0)
        started_at = UTCDateTimeField(default=utcnow)
        finished_at = UTCDateTimeField(null=True)
        duration_ms = peewee.IntegerField(null=True)
        action = peewee.TextField(default="")
        output = peewee.TextField(default="")
        error = peewee.TextField(null=True)

    db.create_tables([Run, StepResult])

    m = SchemaMigrator.from_database(db.obj)
    migrate(
        m.add_column("incident", "source", peewee.CharField(max_length=200, null=True)),
        m.add_column("incident", "fingerprint", peewee.CharField(max_length=200, null=True)),
        m.add_column("incident", "service", peewee.CharField(max_length=200, null=True)),
        m.add_column("incident", "labels", JSONField(default=dict)),
        m.add_column("incident", "runbook", peewee.CharField(max_length=128, null=True)),
        m.add_column("incident", "callback_url", peewee.CharField(max_length=2048, null=True)),
        m.add_column("incident", "resolution_status", peewee.CharField(max_length=32, default="received")),
        m.add_column("incident", "resolution_reason", peewee.TextField(null=True)),
        m.add_index("incident", ("fingerprint",), False),
        m.add_column("audit_log", "run_id", peewee.IntegerField(null=True)),
        m.add_index("audit_log", ("incident_id", "id"), False),
        m.add_index("audit_log", ("action", "id"), False),
        m.add_index("audit_log", ("actor", "id"), False),
        m.add_column("category_config", "dry_run", peewee.BooleanField(default=False)),
        m.add_column("category_config", "approval_floor", peewee.DoubleField(null=True)),
        m.add_column("category_config", "updated_by", peewee.CharField(max_length=320, default="system")),
        m.add_column("global_config", "kill_switch_active", peewee.BooleanField(default=False)),
        m.add_column("global_config", "kill_switch_actor", peewee.CharField(320, null=True)),
        m.add_column("global_config", "kill_switch_reason", peewee.TextField(null=True)),
        m.add_column("global_config", "kill_switch_since", UTCDateTimeField(null=True)),
        m.add_column("global_config", "kill_switch_until", UTCDateTimeField(null=True)),
    )
    # The seed's global_enabled=false was its kill switch: carry it over, then drop the column.
    seed_global = peewee.Table("global_config").bind(db)
    seed_global.update(
        {
            seed_global.c.kill_switch_active: True,
            seed_global.c.kill_switch_actor: "seed-migration",
            seed_global.c.kill_switch_reason: "Carried over from the seed's global_enabled=false",
        }
    ).where(seed_global.c.global_enabled == False).execute()  # noqa: E712 (SQL, not Python truthiness)
    migrate(m.drop_column("global_config", "global_enabled"))
    db.execute_sql("UPDATE incident SET labels = '{}' WHERE labels IS NULL")


def _outbox_schema() -> None:
    """Version 3: the outbox (Slack messages, callbacks), where keyed messages were posted, job leases."""

    class Frozen(peewee.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class OutboxMessage(Frozen):
        lane = peewee.CharField(max_length=400)
        transport = peewee.CharField(max_length=16, default="slack")
        method = peewee.CharField(max_length=64)
        target = peewee.CharField(max_length=2048)
        message_key = peewee.CharField(max_length=200, null=True)
        thread_key = peewee.CharField(max_length=200, null=True)
        payload = JSONField(default=dict)
        purpose = peewee.CharField(max_length=32)
        incident_id = peewee.CharField(max_length=128, null=True)
        status = peewee.CharField(max_length=16, default="pending")
        attempts = peewee.IntegerField(default=0)
        next_attempt_at = UTCDateTimeField(default=utcnow)
        last_error = peewee.TextField(null=True)
        created_at = UTCDateTimeField(default=utcnow)
        sent_at = UTCDateTimeField(null=True)

        class Meta:
            indexes = (
                (("status", "next_attempt_at"), False),
                (("lane", "id"), False),
                (("message_key", "status"), False),
            )

    class SlackMessage(Frozen):
        message_key = peewee.CharField(max_length=200, primary_key=True)
        channel = peewee.CharField(max_length=64)
        ts = peewee.CharField(max_length=32)
        posted_at = UTCDateTimeField(default=utcnow)

    class JobLease(Frozen):
        name = peewee.CharField(max_length=64, primary_key=True)
        owner = peewee.CharField(max_length=128)
        expires_at = UTCDateTimeField()

    db.create_tables([OutboxMessage, SlackMessage, JobLease])


def _webhook_schema() -> None:
    """Version 4: when incidents arrived (for fingerprint windows), and seen webhook signatures."""

    class SeenSignature(peewee.Model):
        signature = peewee.CharField(max_length=128, primary_key=True)
        expires_at = UTCDateTimeField(index=True)

        class Meta:
            database = db
            table_name = "seen_signature"

    db.create_tables([SeenSignature])
    m = SchemaMigrator.from_database(db.obj)
    migrate(m.add_column("incident", "received_at", UTCDateTimeField(null=True)))
    incident = peewee.Table("incident").bind(db)
    incident.update({incident.c.received_at: incident.c.created_at}).execute()
    migrate(
        m.add_not_null("incident", "received_at"),
        m.add_index("incident", ("fingerprint", "received_at"), False),
    )


def _audit_chain_schema() -> None:
    """Version 5: the audit trail's hash chain (sequence in sealing order, and each row's hash)."""
    m = SchemaMigrator.from_database(db.obj)
    migrate(
        m.add_column("audit_log", "seq", peewee.BigIntegerField(null=True)),
        m.add_column("audit_log", "chain_hash", peewee.CharField(max_length=64, null=True)),
        m.add_index("audit_log", ("seq",), True),
    )


def _automation_safety_schema() -> None:
    """Version 6: what keeps automation from running when it must not: the approval asked for (its
    digest and when), deliveries held back, and per category an approval expiry, a failure budget
    and its pause."""
    m = SchemaMigrator.from_database(db.obj)
    migrate(
        m.add_column("incident", "approval_digest", peewee.CharField(max_length=64, null=True)),
        m.add_column("incident", "approval_requested_at", UTCDateTimeField(null=True)),
        m.add_column("incident", "held_deliveries", peewee.IntegerField(default=0)),
        m.add_column("category_config", "approval_timeout_seconds", peewee.DoubleField(default=3600.0)),
        m.add_column("category_config", "failure_budget", peewee.IntegerField(default=3)),
        m.add_column("category_config", "failure_window_seconds", peewee.DoubleField(default=3600.0)),
        m.add_column("category_config", "paused_reason", peewee.TextField(null=True)),
        m.add_column("category_config", "paused_at", UTCDateTimeField(null=True)),
        m.add_column("category_config", "over_limit", peewee.CharField(max_length=16, default="approval")),
        m.add_index("incident", ("resolution_status", "approval_requested_at"), False),
    )
    # Requests already waiting expire from when they were last decided on.
    incident = peewee.Table("incident").bind(db)
    incident.update({incident.c.approval_requested_at: incident.c.updated_at}).where(
        incident.c.resolution_status == "awaiting_approval"
    ).execute()


def _audit_key_schema() -> None:
    """Version 7: which key seals the audit chain (its id; the key itself is never stored)."""
    m = SchemaMigrator.from_database(db.obj)
    migrate(m.add_column("global_config", "audit_key_id", peewee.CharField(max_length=32, null=True)))


MIGRATIONS: list[Migration] = [
    Migration(1, "seed schema", _seed_schema),
    Migration(2, "runs, steps, routing fields and kill switch", _autoresolve_schema),
    Migration(3, "outbox, posted Slack messages and job leases", _outbox_schema),
    Migration(4, "incident arrival time and seen webhook signatures", _webhook_schema),
    Migration(5, "audit hash chain", _audit_chain_schema),
    Migration(6, "approvals, held deliveries and failure budgets", _automation_safety_schema),
    Migration(7, "the audit chain's key id", _audit_key_schema),
]

LATEST_VERSION = MIGRATIONS[-1].version


def current_version() -> int:
    """The highest applied migration, 0 for an empty database."""
    with db.connection_context():
        if not SchemaVersion.table_exists():
            return 0
        newest = SchemaVersion.select(peewee.fn.MAX(SchemaVersion.version)).scalar()
        return int(newest or 0)


def upgrade(target: int | None = None) -> list[int]:
    """Apply every pending migration up to `target` (default: all); returns the versions applied."""
    target = LATEST_VERSION if target is None else target
    applied: list[int] = []
    with db.connection_context():
        if not SchemaVersion.table_exists():
            db.create_tables([SchemaVersion], safe=True)
        for migration in MIGRATIONS:
            if migration.version > target:
                break
            with write_transaction():
                if is_postgres():  # one replica migrates; the others wait, then see it done
                    db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
                done = SchemaVersion.get_or_none(SchemaVersion.version == migration.version)
                if done is not None:
                    continue
                log.info("applying migration %d: %s", migration.version, migration.name)
                migration.apply()
                SchemaVersion.create(version=migration.version, name=migration.name)
                applied.append(migration.version)
    return applied
