"""Migration 11: a category's autonomy (approval of every run) and the ladder's standing proposal."""

from __future__ import annotations

import peewee
from playhouse.migrate import SchemaMigrator, migrate

from storage.database import db
from storage.fields import UTCDateTimeField

VERSION = 11
NAME = "approval of every run, and autonomy proposals"


def apply() -> None:
    """Version 11: `approval_all` (every run waits for an admin: the ladder's `approval` mode), and the
    mode the evidence last proposed for the category, and when (engine/autonomy.py)."""
    m = SchemaMigrator.from_database(db.obj)
    migrate(
        m.add_column("category_config", "approval_all", peewee.BooleanField(default=False)),
        m.add_column("category_config", "proposed_mode", peewee.CharField(max_length=16, null=True)),
        m.add_column("category_config", "proposed_at", UTCDateTimeField(null=True)),
    )
