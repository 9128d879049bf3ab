"""POST /webhooks/pagerduty: PagerDuty's v3 webhooks, one event per delivery.

`incident.triggered` and `incident.reopened` become (or refresh) the incident `pd-<PagerDuty id>`;
`incident.resolved` records the resolution and cancels a queued run or waiting approval, as any
source's "it is gone" does; every other event type is answered 202 and ignored (nothing is recorded:
it changes nothing here). A PagerDuty incident has no labels, so the mapping (PAGERDUTY_* settings)
reads these: `service`, `team` (the first), `urgency`, `priority` (P1...), `escalation_policy`,
`agent` (who triggered it) and, with PAGERDUTY_API_TOKEN set, `created_by`: the e-mail of the user
who triggered it (looked up in PagerDuty's REST API; the creator's DM finds them in Slack by it).
Category and confidence usually come from the defaults.

Authenticated by PagerDuty's signature: `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>...]`, the hex
HMAC-SHA256 of the raw body under the subscription's secret, one per secret while PagerDuty rotates
them; any match is enough (compared in constant time). Nothing dates a delivery, so its
`X-Webhook-Id` is taken once: PagerDuty retries a delivery it got no 2xx for, and a copy sent again
is refused, never run twice. With no PAGERDUTY_WEBHOOK_SECRETS the endpoint is off (404).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from engine.replays import first_use
from handlers.deps import ServicesDep
from handlers.errors import error_response
from handlers.schemas import IntakeAnswer
from handlers.services import Services
from handlers.webhooks.auth import Delivery, WebhookRefused, audit_refusal
from handlers.webhooks.intake import (
    REFUSALS,
    ignored,
    parse_json,
    record_gone,
    source_off,
    take_one,
)
from handlers.webhooks.mapping import PRIORITY, source_mapping, validated
from settings import Settings

router = APIRouter(tags=["Webhooks"])

SIGNATURE_HEADER = "X-PagerDuty-Signature"
DELIVERY_HEADER = "X-Webhook-Id"
NOT_CONFIGURED = "The PagerDuty webhook is off: set PAGERDUTY_WEBHOOK_SECRETS (the subscription's secret)"
REMEMBER_DELIVERIES = timedelta(hours=72)  # PagerDuty retries for up to about 48 h
OPENING_EVENTS = frozenset({"incident.triggered", "incident.reopened"})


class Reference(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = ""
    type: str = ""
    summary: str = ""


class PagerDutyIncident(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9]+$")
    title: str = ""
    status: str = ""
    urgency: str = ""
    html_url: str = ""
    created_at: datetime | None = None
    service: Reference | None = None
    teams: list[Reference] = Field(default_factory=list)
    priority: Reference | None = None
    escalation_policy: Reference | None = None


class PagerDutyEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = ""
    event_type: str = Field(min_length=1, max_length=100)
    resource_type: str = ""
    occurred_at: datetime | None = None
    agent: Reference | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class PagerDutyPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    event: PagerDutyEvent


def pagerduty_signed(settings: Settings, delivery: Delivery) -> None:
    """WebhookRefused unless one of the delivery's v1 signatures is the HMAC of its body under one
    of our secrets, and its delivery id was not taken before."""
    given = [
        part.strip().removeprefix("v1=").lower()
        for part in delivery.headers.get(SIGNATURE_HEADER, "").split(",")
        if part.strip().startswith("v1=")
    ]
    if not given:
        raise WebhookRefused(f"missing {SIGNATURE_HEADER} (v1=...)")
    matched = False
    for secret in settings.pagerduty_webhook_secrets:  # every pair compared: no early answer to time
        expected = hmac.new(secret.get_secret_value().encode(), delivery.body, hashlib.sha256).hexdigest()
        for signature in given:
            matched |= hmac.compare_digest(expected.encode(), signature.encode())
    if not matched:
        raise WebhookRefused("bad signature")
    delivery_id = delivery.headers.get(DELIVERY_HEADER, "").strip()
    credential = delivery_id or hashlib.sha256(delivery.body).hexdigest()  # no id: the body itself
    if not first_use("pagerduty", credential, remember_for=REMEMBER_DELIVERIES):
        raise WebhookRefused(f"delivery {delivery_id[:64] or '(no id)'} was taken already")


def refusal(services: Services, delivery: Delivery) -> JSONResponse | None:
    try:
        pagerduty_signed(services.settings, delivery)
    except WebhookRefused as exc:
        audit_refusal(services.refusals, delivery, f"PagerDuty webhook: {exc}")
        return error_response(401, f"Webhook refused: {exc}")
    return None


def agent_email(services: Services, event: PagerDutyEvent) -> str | None:
    """The e-mail of the user who acted, when PagerDuty's REST API is configured and says it."""
    agent = event.agent
    if services.pagerduty_users is None or agent is None or agent.type != "user_reference":
        return None  # automation (a service, an integration) has no e-mail
    return services.pagerduty_users.email(agent.id)


def incident_labels(
    event: PagerDutyEvent, incident: PagerDutyIncident, agent_email: str | None = None
) -> dict[str, str]:
    """What the mapping may read of a PagerDuty incident, as labels."""
    labels = {
        "created_by": agent_email or "",
        "service": incident.service.summary if incident.service else "",
        "team": incident.teams[0].summary if incident.teams else "",
        "urgency": incident.urgency,
        "priority": incident.priority.summary if incident.priority else "",
        "escalation_policy": incident.escalation_policy.summary if incident.escalation_policy else "",
        "agent": event.agent.summary if event.agent else "",
    }
    return {name: value[:1000] for name, value in labels.items() if value}


def incident_fields(
    event: PagerDutyEvent, incident: PagerDutyIncident, settings: Settings, agent_email: str | None = None
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    labels = incident_labels(event, incident, agent_email)
    mapped, problems = source_mapping(settings, "pagerduty", "pd").read(labels, {})
    priority = PRIORITY.get(labels.get("priority", "").upper()) or (
        "high" if incident.urgency == "high" else "low" if incident.urgency == "low" else "medium"
    )
    fields = {
        "incident_id": f"pd-{incident.id}",
        "title": (incident.title or f"PagerDuty incident {incident.id}")[:500],
        "priority": priority,
        "created_at": incident.created_at,
        "source": "pagerduty",
        "labels": labels,
        **mapped,
    }
    return fields, [{"field": "event.data." + p["field"], "message": p["message"]} for p in problems]


@router.post(
    "/webhooks/pagerduty",
    status_code=202,
    response_model=IntakeAnswer,
    responses={**REFUSALS, 404: {"description": "PAGERDUTY_WEBHOOK_SECRETS is not set"}},
)
async def pagerduty_webhook(request: Request, services: ServicesDep) -> JSONResponse:
    """Take one PagerDuty v3 webhook event: a triggered or reopened incident is decided, a resolved
    one recorded, others ignored. Signed with the subscription's secret (PAGERDUTY_WEBHOOK_SECRETS)."""
    delivery = await Delivery.read(request)
    if not services.settings.pagerduty_webhook_secrets:  # off: nothing from anywhere is taken
        return await source_off(services, delivery, "PagerDuty", NOT_CONFIGURED)
    refused = await anyio.to_thread.run_sync(refusal, services, delivery)
    if refused is not None:
        return refused
    event = validated(PagerDutyPayload, parse_json(delivery.body), "").event
    if event.event_type not in OPENING_EVENTS | {"incident.resolved"}:
        return ignored(event.event_type)
    incident = validated(PagerDutyIncident, event.data, "event.data.")
    if event.event_type == "incident.resolved":
        by = event.agent.summary if event.agent and event.agent.summary else "PagerDuty"
        details = {
            "pagerduty_event": event.id,
            "resolved_at": event.occurred_at.isoformat() if event.occurred_at else None,
        }
        reason = f"Resolved in PagerDuty by {by}"
        return await anyio.to_thread.run_sync(
            record_gone, services, f"pd-{incident.id}", "pagerduty", reason, details
        )
    email = await anyio.to_thread.run_sync(agent_email, services, event)
    fields, problems = incident_fields(event, incident, services.settings, email)
    return await take_one(services, fields, problems, "event.data.", "pagerduty")
