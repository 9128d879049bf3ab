"""Versioned schema migrations: each upgrades a database in place, in one transaction, keeping its rows.

One module per migration (vNNN_name.py: VERSION, NAME and apply()), each on frozen table definitions
of its own: the models beside their queries (storage/<table>.py) move on, a migration never does.
Migration 1 is the schema of the seed (the system this bot grew from, whose REST API it keeps), so a
seed database upgrades like any other. Add a migration as the next module (it is found by its
name); never edit a shipped one.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass

import peewee

from storage.database import BaseModel, db, in_write_transaction, is_postgres
from storage.fields import UTCDateTimeField, utcnow

log = logging.getLogger(__name__)

MIGRATION_LOCK_KEY = 0x4D494752


class SchemaVersion(BaseModel):
    version = peewee.IntegerField(primary_key=True)
    name = peewee.CharField(max_length=200)
    applied_at = UTCDateTimeField(default=utcnow)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[], None]


def _discovered() -> list[Migration]:
    """Every vNNN_*.py module here, in order; each one's VERSION must be its file's number, with no
    gaps (a misnamed or missing migration stops the bot at start-up, not halfway through a database)."""
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if re.fullmatch(r"v\d{3}_\w+", info.name):
            module = importlib.import_module(f"{__name__}.{info.name}")
            found.append(Migration(module.VERSION, module.NAME, module.apply))
            if int(info.name[1:4]) != module.VERSION or len(found) != module.VERSION:
                raise RuntimeError(f"migration {info.name} says it is version {module.VERSION}")
    return found


MIGRATIONS: list[Migration] = _discovered()

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
            with in_write_transaction():
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
