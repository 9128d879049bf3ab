"""Portable column types: timezone-aware UTC timestamps and JSON stored as text."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import peewee


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTimeField(peewee.DateTimeField):
    """Stores naive UTC, returns aware UTC, whatever the database's own type does."""

    def db_value(self, value: Any) -> Any:
        if isinstance(value, datetime):
            if value.tzinfo is not None:
                value = value.astimezone(UTC)
            value = value.replace(tzinfo=None)
        return super().db_value(value)

    def python_value(self, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)  # what SQLite holds; far faster than peewee's formats
            except ValueError:
                value = super().python_value(value)
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class JSONField(peewee.TextField):
    """A JSON document in a text column (the same on SQLite and PostgreSQL)."""

    def db_value(self, value: Any) -> Any:
        if value is None:
            return None
        return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)

    def python_value(self, value: Any) -> Any:
        if value is None:
            return None
        return json.loads(value)
