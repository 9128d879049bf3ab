"""Run-time configuration changes in the engine, whichever face asks (REST, Slack, CLI)."""

from __future__ import annotations

import pytest

from engine.audit_actions import AuditAction
from engine.errors import InvalidInput
from storage import audit, config_store
from storage.database import db_connection

RUNBOOKS = "runbooks: []\n"


def config_changes() -> int:
    with db_connection():
        return len(audit.query(action=AuditAction.CONFIG_UPDATED.value, limit=100))


@pytest.mark.parametrize(
    "changes",
    [
        {"max_concurrent_resolutions": None},
        {"default_confidence_threshold": None},
        {"notification_recipients": None},
    ],
)
def test_a_global_setting_cannot_become_null(engine, changes):
    runtime = engine(RUNBOOKS)
    with pytest.raises(InvalidInput) as refused:
        runtime.configuration.update_global(actor="U0ADMIN", changes=changes)
    assert refused.value.field == next(iter(changes))
    with db_connection():
        row = config_store.get_global()
    assert (row.max_concurrent_resolutions, row.default_confidence_threshold) == (10, 0.9)
    assert row.notification_recipients == []
    assert config_changes() == 0


@pytest.mark.parametrize("category", ["database", "payments"])
def test_a_category_setting_cannot_become_null_but_the_approval_floor_can(engine, category):
    runtime = engine(RUNBOOKS)
    with pytest.raises(InvalidInput) as refused:
        runtime.configuration.update_category(
            category=category, actor="U0ADMIN", changes={"dry_run": None}, create=True
        )
    assert refused.value.field == "dry_run"
    with db_connection():
        assert config_store.get_category(category="payments") is None
    runtime.configuration.update_category(
        category="database", actor="U0ADMIN", changes={"approval_floor": 0.7}
    )
    runtime.configuration.update_category(
        category="database", actor="U0ADMIN", changes={"approval_floor": None}
    )
    with db_connection():
        row = config_store.get_category(category="database")
    assert row is not None
    assert (row.approval_floor, row.dry_run) == (None, False)
    assert config_changes() == 2
