"""Category settings and the global row (defaults, concurrency limit, kill switch)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import peewee

from storage import statements
from storage.database import db, in_write_transaction
from storage.fields import utcnow
from storage.models import CategorySetting, GlobalSetting

GLOBAL_ROW_ID = 1


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
