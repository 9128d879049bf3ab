"""GET /metrics for Prometheus: decisions and run outcomes counted as they happen (this process),
runs in flight, outbox backlog and the kill switch read from the database at scrape time (all replicas)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from engine.calibration import outcome_tally
from engine.events import (
    DecisionReport,
    Event,
    KillSwitchReport,
    PauseReport,
    RunReport,
    StepFinished,
)
from engine.overview import gauges
from engine.runbooks import RunbookCatalog
from handlers.auth import require_api_token
from handlers.deps import services_of
from handlers.errors import documented_errors
from storage.fields import utcnow
from storage.lanes import Transport
from storage.statuses import ACTIVE_RUN_STATUSES, RunStatus

disable_created_metrics()  # no *_created series: nobody graphs them
OUTCOME_WINDOW = timedelta(days=30)
STEP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class DatabaseGauges(Collector):
    def __init__(self, catalog: Callable[[], RunbookCatalog]) -> None:
        self.catalog = catalog

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = gauges(self.catalog())
        by_status, backlog, budgets, limits = now.runs_by_status, now.outbox_backlog, now.budgets, now.limits
        in_flight = GaugeMetricFamily(
            "autoresolve_runs_in_flight", "Runs queued or running", labels=["status"]
        )
        for status in sorted(ACTIVE_RUN_STATUSES):
            in_flight.add_metric([status], by_status.get(status, 0))
        yield in_flight
        pending = GaugeMetricFamily(
            "autoresolve_outbox_pending", "Messages waiting for delivery", labels=["transport"]
        )
        for transport in Transport:
            pending.add_metric([transport], backlog.get(transport, 0))
        yield pending
        yield GaugeMetricFamily(
            "autoresolve_kill_switch_active",
            "1 while the kill switch is on",
            value=int(now.kill_switch_active),
        )
        yield GaugeMetricFamily(
            "autoresolve_awaiting_approval", "Incidents waiting for an admin", value=now.awaiting_approval
        )
        paused = GaugeMetricFamily(
            "autoresolve_category_paused",
            "1 while the category's failure budget holds it paused",
            labels=["category"],
        )
        used = GaugeMetricFamily(
            "autoresolve_failure_budget_used",
            "Failed or reopened runs within the category's window",
            labels=["category"],
        )
        limit = GaugeMetricFamily(
            "autoresolve_failure_budget",
            "Failures within the window that pause the category",
            labels=["category"],
        )
        for use in budgets:
            paused.add_metric([use.category], int(use.paused_reason is not None))
            used.add_metric([use.category], use.failures)
            limit.add_metric([use.category], use.budget)
        yield paused
        yield used
        yield limit
        started = GaugeMetricFamily(
            "autoresolve_runbook_runs_in_window",
            "Runs of a limited runbook within its window",
            labels=["runbook"],
        )
        allowed = GaugeMetricFamily(
            "autoresolve_runbook_run_limit", "A runbook's run limit within its window", labels=["runbook"]
        )
        for runbook in limits:
            started.add_metric([runbook.runbook_id], runbook.started)
            allowed.add_metric([runbook.runbook_id], runbook.limit)
        yield started
        yield allowed


class OutcomeGauges(Collector):
    """What became of automated decisions over the last 30 days (docs/calibration.md)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        tally = outcome_tally(utcnow() - OUTCOME_WINDOW)
        counts = GaugeMetricFamily(
            "autoresolve_outcomes",
            "Outcomes of decisions on confidence in the last 30 days, by category and kind",
            labels=["category", "kind"],
        )
        for (category, kind), count in sorted(tally.by_kind.items()):
            counts.add_metric([category, kind], count)
        yield counts
        rate = GaugeMetricFamily(
            "autoresolve_false_resolution_rate",
            "Share of automated runs in the last 30 days whose incident was not fixed",
            labels=["category"],
        )
        for category, value in sorted(tally.false_resolution_rate.items()):
            rate.add_metric([category], value)
        yield rate


class Metrics:
    """Also a Notifier: it counts what the engine reports."""

    def __init__(self, catalog: Callable[[], RunbookCatalog] = lambda: RunbookCatalog([])) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter(
            "autoresolve_decisions",
            "Decisions by outcome and category",
            ["outcome", "category"],
            registry=self.registry,
        )
        self.runs = Counter(
            "autoresolve_runs_finished",
            "Runs by final status and category",
            ["status", "category"],
            registry=self.registry,
        )
        self.steps = Histogram(
            "autoresolve_step_duration_seconds",
            "How long steps took, by kind and result",
            ["kind", "status"],
            buckets=STEP_BUCKETS,
            registry=self.registry,
        )
        self.kill_switch_changes = Counter(
            "autoresolve_kill_switch_changes",
            "Kill switch turned on or off",
            ["state"],
            registry=self.registry,
        )
        self.pauses = Counter(
            "autoresolve_category_pauses",
            "Times a category's failure budget paused it",
            ["category"],
            registry=self.registry,
        )
        self.registry.register(DatabaseGauges(catalog))
        self.registry.register(OutcomeGauges())

    def tell(self, event: Event) -> None:
        """Counts decisions, finished runs, step durations, kill switch changes and pauses."""
        match event:
            case DecisionReport():
                self.decisions.labels(event.outcome, event.category).inc()
            case RunReport():
                if event.status != RunStatus.RUNNING:
                    self.runs.labels(event.status, event.category).inc()
            case StepFinished(step=step):
                if step.duration_ms is not None:
                    self.steps.labels(step.kind, step.status).observe(step.duration_ms / 1000)
            case KillSwitchReport():
                self.kill_switch_changes.labels("on" if event.active else "off").inc()
            case PauseReport():
                self.pauses.labels(event.category).inc()
            case _:
                pass  # a DM is counted with its run; config changes and checkpoints are in the trail


router = APIRouter(tags=["Health"])


@router.get(
    "/metrics",
    dependencies=[Depends(require_api_token)],
    response_class=PlainTextResponse,
    responses=documented_errors(401),
)
async def metrics(request: Request) -> Response:
    """Prometheus text format (scrape with the API token as bearer credentials when it is set)."""
    registry = services_of(request).metrics_registry
    body = await anyio.to_thread.run_sync(generate_latest, registry)
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)
