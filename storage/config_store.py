"""Category settings and the global row (defaults, concurrency limit, kill switch)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import peewee

from storage import statements
from storage.database import BaseModel, db, in_write_transaction
from storage.fields import JSONField, UTCDateTimeField, utcnow

GLOBAL_ROW_ID = 1


class CategorySetting(BaseModel):
    category = peewee.CharField(max_length=64, primary_key=True)
    auto_resolution_enabled = peewee.BooleanField(default=True)
    confidence_threshold = peewee.DoubleField(default=0.90)
    max_retry_attempts = peewee.IntegerField(default=3)
    notification_required = peewee.BooleanField(default=True)
    dry_run = peewee.BooleanField(default=False)
    approval_floor = peewee.DoubleField(null=True)
    updated_at = UTCDateTimeField(default=utcnow)
    updated_by = peewee.CharField(max_length=320, default="system")
    # Added by migration 6.
    approval_timeout_seconds = peewee.DoubleField(default=3600.0)
    failure_budget = peewee.IntegerField(default=3)  # failed runs within the window that pause it
    failure_window_seconds = peewee.DoubleField(default=3600.0)
    paused_reason = peewee.TextField(null=True)  # set while the failure budget holds it paused
    paused_at = UTCDateTimeField(null=True)
    over_limit = peewee.CharField(max_length=16, default="approval")  # past a runbook's limit: approval|skip
    # Added by migration 11 (engine/autonomy.py).
    approval_all = peewee.BooleanField(default=False)  # every run waits for an admin's approval
    proposed_mode = peewee.CharField(max_length=16, null=True)  # what the evidence last proposed
    proposed_at = UTCDateTimeField(null=True)

    class Meta:
        table_name = "category_config"


class GlobalSetting(BaseModel):
    """A single row (id 1): global defaults and the kill switch."""

    id = peewee.AutoField()
    default_confidence_threshold = peewee.DoubleField(default=0.90)
    max_concurrent_resolutions = peewee.IntegerField(default=10)
    notification_recipients = JSONField(default=list)
    kill_switch_active = peewee.BooleanField(default=False)
    kill_switch_actor = peewee.CharField(max_length=320, null=True)
    kill_switch_reason = peewee.TextField(null=True)
    kill_switch_since = UTCDateTimeField(null=True)
    kill_switch_until = UTCDateTimeField(null=True)
    updated_at = UTCDateTimeField(default=utcnow)
    audit_key_id = peewee.CharField(max_length=32, null=True)  # migration 7: which key seals the chain
    runbooks_generation = peewee.IntegerField(default=0)  # migration 9: raised by each runbooks reload

    class Meta:
        table_name = "global_config"


def get_global() -> GlobalSetting:
    with db.connection_context():
        row = statements.select_first(GlobalSetting, id=GLOBAL_ROW_ID)
        if row is None:
            raise peewee.DoesNotExist(f"the global settings row ({GLOBAL_ROW_ID}) is missing")
        return row


def update_global(**fields: Any) -> GlobalSetting:
    """Write the given columns of the global row and return it."""
    with in_write_transaction():
        GlobalSetting.update(updated_at=utcnow(), **fields).where(GlobalSetting.id == GLOBAL_ROW_ID).execute()
        return get_global()


def set_kill_switch(
    *, active: bool, actor: str, reason: str | None, until: datetime | None = None
) -> GlobalSetting:
    now = utcnow()
    return update_global(
        kill_switch_active=active,
        kill_switch_actor=actor,
        kill_switch_reason=reason,
        kill_switch_since=now,
        kill_switch_until=until if active else None,
    )


def extend_kill_switch(*, reason: str | None, until: datetime | None) -> GlobalSetting:
    """A kill switch already on gets a new end and reason; who pulled it, and since when, stay."""
    return update_global(kill_switch_active=True, kill_switch_reason=reason, kill_switch_until=until)


def list_categories() -> list[CategorySetting]:
    with db.connection_context():
        return list(CategorySetting.select().order_by(CategorySetting.category))


def get_category(*, category: str) -> CategorySetting | None:
    with db.connection_context():
        return statements.select_first(CategorySetting, category=category)


def save_category(*, category: str, actor: str, **fields: Any) -> CategorySetting:
    """Create or update one category's settings."""
    with in_write_transaction():
        existing = CategorySetting.get_or_none(CategorySetting.category == category)
        if existing is None:
            CategorySetting.create(category=category, updated_by=actor, **fields)
        elif fields:
            CategorySetting.update(updated_at=utcnow(), updated_by=actor, **fields).where(
                CategorySetting.category == category
            ).execute()
        row: CategorySetting = CategorySetting.get_by_id(category)
        return row


def raise_runbooks_generation() -> int:
    """One more runbooks reload: every process follows (engine/runbook_library.py). The new count."""
    with in_write_transaction():
        GlobalSetting.update(runbooks_generation=GlobalSetting.runbooks_generation + 1).where(
            GlobalSetting.id == GLOBAL_ROW_ID
        ).execute()
        return runbooks_generation()


def runbooks_generation() -> int:
    with db.connection_context():
        value = (
            GlobalSetting.select(GlobalSetting.runbooks_generation)
            .where(GlobalSetting.id == GLOBAL_ROW_ID)
            .scalar()
        )
        return int(value or 0)


def set_proposal(*, category: str, mode: str | None) -> None:
    """The autonomy mode the evidence proposes for the category now (None: nothing); not a change of
    its settings, so `updated_by` stays whoever changed them."""
    with in_write_transaction():
        CategorySetting.update(proposed_mode=mode, proposed_at=utcnow()).where(
            CategorySetting.category == category
        ).execute()
