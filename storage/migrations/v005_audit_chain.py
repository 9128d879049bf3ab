"""Migration 5: audit hash chain."""

from __future__ import annotations

import peewee
from playhouse.migrate import SchemaMigrator, migrate

from storage.database import db

VERSION = 5
NAME = "audit hash chain"


def apply() -> None:
    """Version 5: the audit trail's hash chain (sequence in sealing order, and each row's hash)."""
    m = SchemaMigrator.from_database(db.obj)
    migrate(
        m.add_column("audit_log", "seq", peewee.BigIntegerField(null=True)),
        m.add_column("audit_log", "chain_hash", peewee.CharField(max_length=64, null=True)),
        m.add_index("audit_log", ("seq",), True),
    )
