"""Migration 7: the audit chain's key id."""

from __future__ import annotations

import peewee
from playhouse.migrate import SchemaMigrator, migrate

from storage.database import db

VERSION = 7
NAME = "the audit chain's key id"


def apply() -> None:
    """Version 7: which key seals the audit chain (its id; the key itself is never stored)."""
    m = SchemaMigrator.from_database(db.obj)
    migrate(m.add_column("global_config", "audit_key_id", peewee.CharField(max_length=32, null=True)))
