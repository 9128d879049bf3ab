"""Migration 8: outbox lanes as long as a callback URL."""

from __future__ import annotations

from storage.database import db, is_postgres

VERSION = 8
NAME = "outbox lanes as long as a callback URL"


def apply() -> None:
    """A result callback's lane is `webhook:<its URL>`, and a URL may be 2,048 characters: the lane
    column held 400, so PostgreSQL refused a long one (SQLite does not enforce a length)."""
    if is_postgres():
        db.execute_sql("ALTER TABLE outbox_message ALTER COLUMN lane TYPE VARCHAR(2100)")
