"""Migration 1: seed schema."""

from __future__ import annotations

import peewee

from storage.database import db
from storage.fields import JSONField, UTCDateTimeField, utcnow

VERSION = 1
NAME = "seed schema"

SEED_CATEGORIES = (
    "network",
    "database",
    "application",
    "security",
    "infrastructure",
    "user_access",
)


def apply() -> None:
    """Version 1: the seed's incidents, audit log, category and global configuration."""

    class Frozen(peewee.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class Incident(Frozen):
        incident_id = peewee.CharField(max_length=128, unique=True)
        title = peewee.CharField(max_length=500)
        description = peewee.TextField(default="")
        category = peewee.CharField(max_length=64, index=True)
        priority = peewee.CharField(max_length=16)
        status = peewee.CharField(max_length=32, default="open")
        confidence_score = peewee.DoubleField()
        created_by = peewee.CharField(max_length=320)
        created_at = UTCDateTimeField(default=utcnow)
        updated_at = UTCDateTimeField(default=utcnow)
        resolved_at = UTCDateTimeField(null=True)
        auto_resolved = peewee.BooleanField(default=False)
        tags = JSONField(default=list)

    class AuditLog(Frozen):
        audit_id = peewee.CharField(max_length=32, unique=True)
        timestamp = UTCDateTimeField(default=utcnow, index=True)
        action = peewee.CharField(max_length=64)
        incident_id = peewee.CharField(max_length=128, null=True)
        actor = peewee.CharField(max_length=320, default="system")
        confidence_score = peewee.DoubleField(null=True)
        details = JSONField(default=dict)
        success = peewee.BooleanField(default=True)
        error_message = peewee.TextField(null=True)

        class Meta:
            table_name = "audit_log"

    class CategoryConfig(Frozen):
        category = peewee.CharField(max_length=64, primary_key=True)
        auto_resolution_enabled = peewee.BooleanField(default=True)
        confidence_threshold = peewee.DoubleField(default=0.90)
        max_retry_attempts = peewee.IntegerField(default=3)
        notification_required = peewee.BooleanField(default=True)
        updated_at = UTCDateTimeField(default=utcnow)

        class Meta:
            table_name = "category_config"

    class GlobalConfig(Frozen):
        global_enabled = peewee.BooleanField(default=True)
        default_confidence_threshold = peewee.DoubleField(default=0.90)
        max_concurrent_resolutions = peewee.IntegerField(default=10)
        notification_recipients = JSONField(default=list)
        updated_at = UTCDateTimeField(default=utcnow)

        class Meta:
            table_name = "global_config"

    db.create_tables([Incident, AuditLog, CategoryConfig, GlobalConfig])
    CategoryConfig.insert_many([{"category": name} for name in SEED_CATEGORIES]).execute()
    GlobalConfig.create(id=1)
