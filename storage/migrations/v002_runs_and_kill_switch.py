"""Migration 2: runs, steps, routing fields and kill switch."""

from __future__ import annotations

import peewee
from playhouse.migrate import SchemaMigrator, migrate

from storage.database import db
from storage.fields import JSONField, UTCDateTimeField, utcnow

VERSION = 2
NAME = "runs, steps, routing fields and kill switch"


def apply() -> None:
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
