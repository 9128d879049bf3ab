"""A category's failure budget: when too many of its runs fail (or are reopened by their creators)
within a window, the category pauses itself until an admin resumes it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.audit_actions import AuditAction
from engine.durations import format_duration
from engine.events import Notifier, PauseReport
from storage import audit, config_store, incidents, runs
from storage.config_store import CategorySetting
from storage.database import in_write_transaction
from storage.fields import utcnow


@dataclass(frozen=True)
class BudgetUse:
    category: str
    failures: int  # failed runs and reopened incidents within the window
    budget: int  # 0: no budget
    window_seconds: float
    paused_reason: str | None


def use_of(category: CategorySetting, now: datetime | None = None) -> BudgetUse:
    """How much of the category's failure budget its recent runs used."""
    since = (now or utcnow()) - timedelta(seconds=category.failure_window_seconds)
    failures = runs.failed_since(category=category.category, since=since) + incidents.reopened_since(
        category=category.category, since=since
    )
    return BudgetUse(
        category.category,
        failures,
        category.failure_budget,
        category.failure_window_seconds,
        category.paused_reason,
    )


def charge(category_name: str, notifier: Notifier) -> bool:
    """Called after a run of the category failed or its incident was reopened: pause the category
    if that used up its budget. True if this call paused it."""
    with in_write_transaction():
        category = config_store.get_category(category=category_name)
        if category is None or category.failure_budget <= 0 or category.paused_reason:
            return False
        use = use_of(category)
        if use.failures < use.budget:
            return False
        window = format_duration(use.window_seconds)
        reason = f"{use.failures} run(s) failed or were reopened within {window} (budget {use.budget})"
        config_store.save_category(
            category=category_name, actor="system", paused_reason=reason, paused_at=utcnow()
        )
        audit.record(
            action=AuditAction.CATEGORY_PAUSED,
            details={
                "category": category_name,
                "failures": use.failures,
                "budget": use.budget,
                "window_seconds": use.window_seconds,
            },
        )
        report = PauseReport(category_name, reason, use.failures, use.budget, use.window_seconds)
        notifier.tell(report)
    return True
