"""Migration 3: outbox, posted Slack messages and job leases."""

from __future__ import annotations

import peewee

from storage.database import db
from storage.fields import JSONField, UTCDateTimeField, utcnow

VERSION = 3
NAME = "outbox, posted Slack messages and job leases"


def apply() -> None:
    """Version 3: the outbox (Slack messages, callbacks), where keyed messages were posted, job leases."""

    class Frozen(peewee.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class OutboxMessage(Frozen):
        lane = peewee.CharField(max_length=400)
        transport = peewee.CharField(max_length=16, default="slack")
        method = peewee.CharField(max_length=64)
        target = peewee.CharField(max_length=2048)
        message_key = peewee.CharField(max_length=200, null=True)
        thread_key = peewee.CharField(max_length=200, null=True)
        payload = JSONField(default=dict)
        purpose = peewee.CharField(max_length=32)
        incident_id = peewee.CharField(max_length=128, null=True)
        status = peewee.CharField(max_length=16, default="pending")
        attempts = peewee.IntegerField(default=0)
        next_attempt_at = UTCDateTimeField(default=utcnow)
        last_error = peewee.TextField(null=True)
        created_at = UTCDateTimeField(default=utcnow)
        sent_at = UTCDateTimeField(null=True)

        class Meta:
            indexes = (
                (("status", "next_attempt_at"), False),
                (("lane", "id"), False),
                (("message_key", "status"), False),
            )

    class SlackMessage(Frozen):
        message_key = peewee.CharField(max_length=200, primary_key=True)
        channel = peewee.CharField(max_length=64)
        ts = peewee.CharField(max_length=32)
        posted_at = UTCDateTimeField(default=utcnow)

    class JobLease(Frozen):
        name = peewee.CharField(max_length=64, primary_key=True)
        owner = peewee.CharField(max_length=128)
        expires_at = UTCDateTimeField()

    db.create_tables([OutboxMessage, SlackMessage, JobLease])
