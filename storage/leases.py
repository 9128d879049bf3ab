"""Job leases: at most one replica runs a given periodic job at a time; a dead owner's lease lapses."""

from __future__ import annotations

from datetime import timedelta

import peewee

from storage.database import BaseModel, in_write_transaction
from storage.fields import UTCDateTimeField, utcnow


class JobLease(BaseModel):
    """Who runs a periodic job right now: one replica at a time, taken over when the lease lapses."""

    name = peewee.CharField(max_length=64, primary_key=True)
    owner = peewee.CharField(max_length=128)
    expires_at = UTCDateTimeField()


def acquire(*, name: str, owner: str, ttl_seconds: float) -> bool:
    """Take or renew the lease on `name`; true if `owner` holds it afterwards."""
    now = utcnow()
    until = now + timedelta(seconds=ttl_seconds)
    with in_write_transaction():
        taken = (
            JobLease.update(owner=owner, expires_at=until)
            .where((JobLease.name == name) & ((JobLease.owner == owner) | (JobLease.expires_at < now)))
            .execute()
        )
        if taken:
            return True
        # Another replica may insert it first: that is a refusal, not an error (none in the server's log).
        inserted = (
            JobLease.insert(name=name, owner=owner, expires_at=until)
            .on_conflict_ignore()
            .as_rowcount()
            .execute()
        )
        return bool(inserted)
