"""Migration 6: approvals, held deliveries and failure budgets."""

from __future__ import annotations

import peewee
from playhouse.migrate import SchemaMigrator, migrate

from storage.database import db
from storage.fields import UTCDateTimeField

VERSION = 6
NAME = "approvals, held deliveries and failure budgets"


def apply() -> None:
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
