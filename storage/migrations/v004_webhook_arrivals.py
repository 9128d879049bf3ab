"""Migration 4: incident arrival time and seen webhook signatures."""

from __future__ import annotations

import peewee
from playhouse.migrate import SchemaMigrator, migrate

from storage.database import db
from storage.fields import UTCDateTimeField

VERSION = 4
NAME = "incident arrival time and seen webhook signatures"


def apply() -> None:
    """Version 4: when incidents arrived (for fingerprint windows), and seen webhook signatures."""

    class SeenSignature(peewee.Model):
        signature = peewee.CharField(max_length=128, primary_key=True)
        expires_at = UTCDateTimeField(index=True)

        class Meta:
            database = db
            table_name = "seen_signature"

    db.create_tables([SeenSignature])
    m = SchemaMigrator.from_database(db.obj)
    migrate(m.add_column("incident", "received_at", UTCDateTimeField(null=True)))
    incident = peewee.Table("incident").bind(db)
    incident.update({incident.c.received_at: incident.c.created_at}).execute()
    migrate(
        m.add_not_null("incident", "received_at"),
        m.add_index("incident", ("fingerprint", "received_at"), False),
    )
