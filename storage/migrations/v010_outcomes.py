"""Migration 10: the outcome of every automated decision (issue: trust the score)."""

from __future__ import annotations

import peewee

from storage.database import db
from storage.fields import UTCDateTimeField

VERSION = 10
NAME = "outcomes of automated decisions"


def apply() -> None:
    """Version 10: one row per incident the gates decided on its confidence, and how it ended."""

    class Outcome(peewee.Model):
        id = peewee.AutoField()
        incident_id = peewee.CharField(max_length=128, unique=True)
        category = peewee.CharField(max_length=64)
        confidence = peewee.DoubleField()
        threshold = peewee.DoubleField()
        decision = peewee.CharField(max_length=16)
        decided_at = UTCDateTimeField()
        fingerprint = peewee.CharField(max_length=200, null=True, index=True)
        kind = peewee.CharField(max_length=24, null=True)
        fixed = peewee.BooleanField(null=True)
        known_at = UTCDateTimeField(null=True, index=True)
        by = peewee.CharField(max_length=320, null=True)

        class Meta:
            database = db
            table_name = "outcome"
            indexes = ((("category", "decided_at"), False),)

    db.create_tables([Outcome])
