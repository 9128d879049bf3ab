"""POST /webhooks/opsgenie: Opsgenie's (and Jira Service Management Operations') outgoing webhook.

Each delivery is one alert action. `Create` becomes the incident `og-<alertId>`; `Close` records the
resolution and cancels a queued run or waiting approval; every other action (Acknowledge, AddNote,
...) is answered 202 and ignored. The alert's details (sent when the integration's "Add Alert
Details" box is checked), with its entity, alias, source, priority and first team, are the labels the
mapping (OPSGENIE_* settings) reads; the creator is the alert's `username` unless its details name
one. Opsgenie signs nothing: the integration sends `Authorization: Bearer <OPSGENIE_WEBHOOK_TOKEN>`
as a custom header. With no token set the endpoint is off (404).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from handlers.deps import ServicesDep
from handlers.schemas import IntakeAnswer
from handlers.services import Services
from handlers.webhooks.auth import Delivery
from handlers.webhooks.intake import (
    REFUSALS,
    ignored,
    parse_json,
    record_gone,
    source_off,
    take_one,
    token_refusal,
)
from handlers.webhooks.mapping import PRIORITY, source_mapping, validated

router = APIRouter(tags=["Webhooks"])

NOT_CONFIGURED = (
    "The Opsgenie webhook is off: set OPSGENIE_WEBHOOK_TOKEN (sent as a custom Authorization header)"
)


class OpsgenieAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    alertId: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9\-]*$")
    message: str = ""
    description: str = ""
    username: str = ""
    alias: str = ""
    entity: str = ""
    source: str = ""
    priority: str = ""
    createdAt: int | None = None  # milliseconds since the epoch
    tags: list[str] = Field(default_factory=list)
    teams: list[str] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)


class OpsgeniePayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    action: str = Field(min_length=1, max_length=100)
    alert: OpsgenieAlert
    integrationName: str = ""


def alert_labels(payload: OpsgeniePayload) -> dict[str, str]:
    alert = payload.alert
    labels = {
        "entity": alert.entity,
        "alias": alert.alias,
        "source": alert.source,
        "priority": alert.priority,
        "team": alert.teams[0] if alert.teams else "",
        "integration": payload.integrationName,
        "created_by": alert.username,
        **{str(k): str(v) for k, v in alert.details.items() if isinstance(v, str | int | float)},
    }
    return {name[:100]: value[:1000] for name, value in labels.items() if value}


def incident_fields(
    payload: OpsgeniePayload, services: Services
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    alert = payload.alert
    labels = alert_labels(payload)
    mapped, problems = source_mapping(services.settings, "opsgenie", "og").read(
        labels, {}, service=labels.get("entity"), dedup_key=alert.alias or None
    )
    created = datetime.fromtimestamp(alert.createdAt / 1000, UTC) if alert.createdAt else None
    fields = {
        "incident_id": f"og-{alert.alertId}",
        "title": (alert.message or f"Opsgenie alert {alert.alertId}")[:500],
        "description": alert.description[:20_000],
        "priority": PRIORITY.get(alert.priority.upper(), "medium"),
        "created_at": created,
        "source": "opsgenie",
        "tags": [tag[:200] for tag in alert.tags[:50]],
        "labels": labels,
        **mapped,
    }
    return fields, [
        {"field": "alert." + p["field"].replace("labels.", "details."), "message": p["message"]}
        for p in problems
    ]


@router.post(
    "/webhooks/opsgenie",
    status_code=202,
    response_model=IntakeAnswer,
    responses={**REFUSALS, 404: {"description": "OPSGENIE_WEBHOOK_TOKEN is not set"}},
)
async def opsgenie_webhook(request: Request, services: ServicesDep) -> JSONResponse:
    """Take one Opsgenie (or JSM Operations) alert action: Create decides, Close records, others are
    ignored. Authenticated by the integration's custom header `Authorization: Bearer <token>`."""
    delivery = await Delivery.read(request)
    token = services.settings.opsgenie_webhook_token
    if token is None:
        return await source_off(services, delivery, "Opsgenie", NOT_CONFIGURED)
    refused = await token_refusal(services, delivery, token, "Opsgenie")
    if refused is not None:
        return refused
    payload = validated(OpsgeniePayload, parse_json(delivery.body), "")
    if payload.action == "Close":
        by = payload.alert.username or "Opsgenie"
        details = {"alert_id": payload.alert.alertId, "integration": payload.integrationName or None}
        return await anyio.to_thread.run_sync(
            record_gone,
            services,
            f"og-{payload.alert.alertId}",
            "opsgenie",
            f"Closed in Opsgenie by {by}",
            details,
        )
    if payload.action != "Create":
        return ignored(payload.action)
    fields, problems = incident_fields(payload, services)
    return await take_one(services, fields, problems, "alert.", "opsgenie")
