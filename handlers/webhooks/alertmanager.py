"""POST /webhooks/alertmanager: Prometheus Alertmanager's webhook (version 4), one incident per alert.

A firing alert becomes an incident: id from the alert's fingerprint and start time (so Alertmanager's
repeats of one alert are one incident), title from annotations.summary or the alertname, category,
confidence and creator from labels or annotations (names configurable), priority from `severity`.
A resolved alert is recorded on its incident's audit trail. Alertmanager retries on 5xx and time-outs,
and cannot sign requests: give it `http_config.authorization` with WEBHOOK_TOKEN.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from engine.errors import InvalidInput
from engine.incident import IncidentIn
from engine.source_mapping import SourceMapping
from handlers.deps import ServicesDep
from handlers.schemas import IntakeAnswer
from handlers.services import Services
from handlers.webhooks.auth import Delivery
from handlers.webhooks.intake import (
    REFUSALS,
    Intake,
    authenticate,
    parse_json,
    submit_all,
    validate_incident,
    validation_errors,
)
from handlers.webhooks.mapping import source_mapping
from settings import Settings

router = APIRouter(tags=["Webhooks"])

SEVERITY_PRIORITY = {
    "critical": "critical",
    "page": "critical",
    "high": "high",
    "error": "high",
    "major": "high",
    "warning": "medium",
    "warn": "medium",
    "medium": "medium",
    "minor": "low",
    "info": "low",
    "low": "low",
    "none": "low",
}


class Alert(BaseModel):
    """One alert, with Alertmanager's own (camelCase) field names."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime
    endsAt: datetime | None = None
    generatorURL: str = ""
    fingerprint: str = Field(min_length=1, max_length=64)

    @field_validator("endsAt")
    @classmethod
    def _zero_time_is_unset(cls, value: datetime | None) -> datetime | None:
        """Alertmanager (Go) writes an end it has not set as the zero time, 0001-01-01T00:00:00Z."""
        return None if value is not None and value.year == 1 else value


class AlertmanagerPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: str = "4"
    groupKey: str = ""
    truncatedAlerts: int = 0
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[Alert] = Field(min_length=1, max_length=1000)


def alertmanager_mapping(settings: Settings) -> SourceMapping:
    return source_mapping(settings, "alertmanager", "am")


def alert_incident_id(alert: Alert, id_prefix: str = "am") -> str:
    """Stable per alert firing: a source's repeats map to one incident, a new firing to another."""
    fingerprint = re.sub(r"[^A-Za-z0-9]", "", alert.fingerprint)[:64] or "x"
    return f"{id_prefix}-{fingerprint}-{alert.startsAt:%Y%m%dT%H%M%SZ}"


def alert_to_incident_fields(
    alert: Alert, mapping: SourceMapping
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The incident fields an alert maps to, and the problems found (field names within the alert)."""
    mapped, problems = mapping.read(
        alert.labels, alert.annotations, service=alert.labels.get("job"), dedup_key=alert.fingerprint
    )
    fields = {
        "incident_id": alert_incident_id(alert, mapping.id_prefix),
        "title": (alert.annotations.get("summary") or alert.labels.get("alertname") or "Alert")[:500],
        "description": alert.annotations.get("description", ""),
        "priority": SEVERITY_PRIORITY.get(alert.labels.get("severity", "").lower(), "medium"),
        "created_at": alert.startsAt,
        "source": mapping.source,
        "labels": alert.labels,
        "runbook": alert.labels.get("autoresolve_runbook"),
        **mapped,
    }
    return fields, problems


def record_resolved(
    services: Services, alerts: list[tuple[int, Alert]], intake: Intake, mapping: SourceMapping
) -> None:
    """A resolved alert cancels its incident's queued run or waiting approval (a run under way
    finishes), and is recorded on its trail (the engine's rule, for an unknown incident too)."""
    for index, alert in alerts:
        incident_id = alert_incident_id(alert, mapping.id_prefix)
        ends = alert.endsAt.isoformat() if alert.endsAt else None
        decision = services.resolution.source_resolved(
            incident_id,
            actor=mapping.source,
            reason=f"Alert resolved (ends {ends or 'now'})",
            details={"ends_at": ends},
        )
        intake.accepted.append(
            {
                "index": index,
                "incident_id": incident_id,
                "decision": decision.outcome.value,
                "reason": decision.reason,
                "run_id": None,
                "new": False,
            }
        )


@router.post(
    "/webhooks/alertmanager",
    status_code=202,
    response_model=IntakeAnswer,
    responses=REFUSALS,
)
async def alertmanager_webhook(request: Request, services: ServicesDep) -> JSONResponse:
    """Take Alertmanager's webhook: each firing alert becomes an incident, resolved ones are recorded."""
    delivery = await Delivery.read(request)
    refused = await authenticate(services, delivery)
    if refused is not None:
        return refused
    return await take_alerts(services, delivery.body, alertmanager_mapping(services.settings))


async def take_alerts(services: Services, body: bytes, mapping: SourceMapping) -> JSONResponse:
    """An authenticated delivery of Alertmanager-shaped alerts (Alertmanager's, Grafana's): firing
    ones decided as incidents, resolved ones recorded; the answer item by item."""
    intake, firing, resolved = read_alerts(body, services, mapping)
    await submit_all(services, firing, mapping.source, intake)
    if resolved:
        await anyio.to_thread.run_sync(record_resolved, services, resolved, intake, mapping)
    intake.accepted.sort(key=lambda item: item["index"])
    return intake.answer()


def read_alerts(
    body: bytes, services: Services, mapping: SourceMapping
) -> tuple[Intake, list[tuple[int, IncidentIn, str]], list[tuple[int, Alert]]]:
    """The delivery's firing alerts as incidents (those that map and validate; the others rejected by
    name in the Intake) and its resolved ones."""
    try:
        payload = AlertmanagerPayload.model_validate(parse_json(body))
    except ValidationError as exc:
        first = validation_errors(exc, "")[0]
        raise InvalidInput(first["field"], first["message"]) from None
    intake = Intake()
    firing = []
    resolved = []
    for index, alert in enumerate(payload.alerts):
        prefix = f"alerts[{index}]."
        if alert.status == "resolved":
            resolved.append((index, alert))
            continue
        fields, problems = alert_to_incident_fields(alert, mapping)
        if problems:
            errors = [{"field": prefix + p["field"], "message": p["message"]} for p in problems]
            intake.reject(index, fields["incident_id"], errors)
            continue
        incident: IncidentIn | None = validate_incident(
            fields, index, prefix, intake, services.callback_policy
        )
        if incident is not None:
            firing.append((index, incident, prefix))
    return intake, firing, resolved
