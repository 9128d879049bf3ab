"""Migration 12: an index that finds the lanes with work, and each one's head, without reading the rest."""

from __future__ import annotations

from playhouse.migrate import SchemaMigrator, migrate

from storage.database import db

VERSION = 12
NAME = "outbox lanes with work found by index"


def apply() -> None:
    """Version 12: (transport, status, lane, id). The deliverers ask each tick which lanes have
    messages pending or being sent, then read only the lanes that may send now; under a storm of
    tens of thousands of pending rows, the earlier read of every lane's first 500 rows took about
    half of the bot's CPU (bench/RESULTS.md, figure 7)."""
    m = SchemaMigrator.from_database(db.obj)
    migrate(m.add_index("outbox_message", ("transport", "status", "lane", "id"), False))
