"""Migration 9: the runbooks' generation, so that every replica follows a reload."""

from __future__ import annotations

import peewee
from playhouse.migrate import SchemaMigrator, migrate

from storage.database import db

VERSION = 9
NAME = "the runbooks' generation"


def apply() -> None:
    """Version 9: a counter a reload raises (engine/runbook_library.py); each process reloads its
    runbooks file when the counter passes the one it loaded at."""
    m = SchemaMigrator.from_database(db.obj)
    migrate(m.add_column("global_config", "runbooks_generation", peewee.IntegerField(default=0)))
