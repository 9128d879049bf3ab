"""Webhook signatures already accepted, so a captured request cannot be replayed."""

from __future__ import annotations

from datetime import datetime

import peewee

from storage.database import BaseModel, in_write_transaction
from storage.fields import UTCDateTimeField, utcnow


class SeenSignature(BaseModel):
    """Webhook signatures already accepted, kept while their timestamp is fresh: a replay is refused."""

    signature = peewee.CharField(max_length=128, primary_key=True)
    expires_at = UTCDateTimeField(index=True)


def remember(*, signature: str, expires_at: datetime) -> bool:
    """Record a signature; false if it was seen before (a replay: refused without a database error,
    so replays do not fill the server's log)."""
    with in_write_transaction():
        query = SeenSignature.insert(signature=signature, expires_at=expires_at).on_conflict_ignore()
        return bool(query.as_rowcount().execute())


def forget_expired() -> int:
    with in_write_transaction():
        return int(SeenSignature.delete().where(SeenSignature.expires_at < utcnow()).execute())
