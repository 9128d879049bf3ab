"""Turning stored rows into the REST API's response bodies."""

from __future__ import annotations

from engine.configuration import KillSwitchState, category_as_dict
from handlers.schemas import (
    AuditLogEntry,
    CategoryConfig,
    IncidentDetail,
    KillSwitchView,
    ResolutionStep,
    RunView,
)
from storage.audit import AuditEntry
from storage.config_store import CategorySetting
from storage.incidents import Incident
from storage.runs import Run, StepResult
from storage.statuses import UNFINISHED_STEP_STATUSES, StepStatus


def step_view(step: StepResult) -> ResolutionStep:
    suffix = "-rollback" if step.phase == "rollback" else ""
    return ResolutionStep(
        step_id=f"{step.run_id}-{step.position}{suffix}",
        description=step.name,
        action=step.action,
        executed_at=step.started_at,
        success=None if step.status in UNFINISHED_STEP_STATUSES else step.status == StepStatus.SUCCEEDED,
        error_message=step.error,
        status=step.status,
        phase=step.phase,
        kind=step.kind,
        attempts=step.attempts,
        duration_ms=step.duration_ms,
        output=step.output,
    )


def run_view(run: Run, steps: list[StepResult]) -> RunView:
    return RunView(
        run_id=run.id,
        runbook=run.runbook_id,
        status=run.status,
        dry_run=run.dry_run,
        forced=run.forced,
        requested_by=run.requested_by,
        queued_at=run.queued_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        message=run.message,
        steps=[step_view(s) for s in steps],
    )


def incident_detail(incident: Incident, run: Run | None, steps: list[StepResult]) -> IncidentDetail:
    return IncidentDetail(
        incident_id=incident.incident_id,
        title=incident.title,
        description=incident.description,
        category=incident.category,
        priority=incident.priority,
        status=incident.status,
        confidence_score=incident.confidence_score,
        created_by=incident.created_by,
        created_at=incident.created_at,
        updated_at=incident.updated_at,
        resolved_at=incident.resolved_at,
        auto_resolved=incident.auto_resolved,
        tags=incident.tags or [],
        source=incident.source,
        fingerprint=incident.fingerprint,
        service=incident.service,
        labels=incident.labels or {},
        runbook=incident.runbook,
        callback_url=incident.callback_url,
        resolution_status=incident.resolution_status,
        resolution_reason=incident.resolution_reason,
        resolution_steps=[step_view(s) for s in steps],
        latest_run=run_view(run, steps) if run else None,
        held_deliveries=incident.held_deliveries or 0,
        approval_requested_at=incident.approval_requested_at if incident.approval_digest else None,
    )


def category_view(row: CategorySetting) -> CategoryConfig:
    return CategoryConfig.model_validate(category_as_dict(row))


def kill_switch_view(state: KillSwitchState) -> KillSwitchView:
    return KillSwitchView(
        active=state.active,
        actor=state.actor,
        reason=state.reason,
        since=state.since,
        until=state.until,
    )


def audit_view(row: AuditEntry) -> AuditLogEntry:
    return AuditLogEntry(
        audit_id=row.audit_id,
        incident_id=row.incident_id,
        action=row.action,
        timestamp=row.timestamp,
        actor=row.actor,
        confidence_score=row.confidence_score,
        details=row.details or {},
        success=row.success,
        error_message=row.error_message,
        run_id=row.run_id,
    )
