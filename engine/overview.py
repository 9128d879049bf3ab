"""One read of where automation stands: for `/autoresolve status` and the App Home, and for /metrics."""

from __future__ import annotations

from dataclasses import dataclass

from engine.configuration import KillSwitchState, kill_switch_state
from engine.failure_budget import BudgetUse, use_of
from engine.run_limits import LimitUse, limit_uses
from engine.runbooks import RunbookCatalog
from storage import config_store, incidents, outbox, runs
from storage.config_store import CategorySetting
from storage.database import db_connection
from storage.incidents import Incident
from storage.runs import Run


@dataclass(frozen=True)
class Overview:
    kill_switch: KillSwitchState
    max_concurrent: int
    categories: list[CategorySetting]
    in_flight: list[Run]
    awaiting_approval: list[Incident]
    recent: list[Run]
    runbook_count: int
    budgets: list[BudgetUse]
    limits: list[LimitUse]


@dataclass(frozen=True)
class Gauges:
    """What /metrics reads from the database at scrape time (the same for every replica)."""

    runs_by_status: dict[str, int]
    outbox_backlog: dict[str, int]
    kill_switch_active: bool
    awaiting_approval: int
    budgets: list[BudgetUse]
    limits: list[LimitUse]


def gauges(catalog: RunbookCatalog) -> Gauges:
    with db_connection():
        return Gauges(
            runs_by_status=runs.count_by_status(),
            outbox_backlog=outbox.backlog(),
            kill_switch_active=kill_switch_state().active,
            awaiting_approval=len(incidents.awaiting_approval(limit=1000)),
            budgets=[use_of(category) for category in config_store.list_categories()],
            limits=limit_uses(catalog),
        )


def overview(catalog: RunbookCatalog, *, recent: int = 10) -> Overview:
    with db_connection():
        categories = config_store.list_categories()
        return Overview(
            kill_switch=kill_switch_state(),
            max_concurrent=config_store.get_global().max_concurrent_resolutions,
            categories=categories,
            in_flight=runs.in_flight(),
            awaiting_approval=incidents.awaiting_approval(),
            recent=runs.recently_finished(limit=recent),
            runbook_count=len(catalog.runbooks),
            budgets=[use_of(category) for category in categories],
            limits=limit_uses(catalog),
        )
